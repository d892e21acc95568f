#ifndef ATMAN_SERVER_ENGINE_PERTURBATIONS_H_
#define ATMAN_SERVER_ENGINE_PERTURBATIONS_H_

#include <torch/torch.h>

#include <vector>

#include "server/engine/explainer.h"

namespace atman::engine {

// Builds one perturbation per unit: every token of the unit gets the control
// factor. With a similarity threshold, every other position j (BOS
// excluded) whose input embedding has cosine similarity >= threshold with
// some token i of the unit gets 1 - (1 - factor) * sim[i][j] (or the factor
// itself without scaling); the smallest modifier wins.
//
// embeddings: [T, dim] input embeddings of every input position; only read
// when a similarity threshold is set.
std::vector<Perturbation> BuildPerturbations(const std::vector<Unit>& units,
                                             const ExplainSettings& settings,
                                             const torch::Tensor& embeddings);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_PERTURBATIONS_H_
