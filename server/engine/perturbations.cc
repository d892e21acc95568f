#include "server/engine/perturbations.h"

#include <algorithm>
#include <map>

namespace atman::engine {
namespace {

// Cosine similarities [T, T] in float64.
torch::Tensor CosineSimilarities(const torch::Tensor& embeddings) {
  const auto e = embeddings.to(torch::kCPU, torch::kFloat64);
  const auto normalized = e / e.norm(2, /*dim=*/1, /*keepdim=*/true).clamp_min(1e-300);
  return torch::matmul(normalized, normalized.t()).contiguous();
}

void AddCorrelated(const Unit& unit, const ExplainSettings& settings,
                   const torch::Tensor& similarities, std::map<int32_t, float>& modifiers) {
  const double threshold = *settings.similarity_threshold;
  const double factor = settings.control_factor;
  const int64_t length = similarities.size(0);
  const auto sim = similarities.accessor<double, 2>();

  for (int32_t i : unit.token_positions) {
    for (int64_t j = 1; j < length; ++j) {
      const auto position = static_cast<int32_t>(j);
      if (std::find(unit.token_positions.begin(), unit.token_positions.end(), position) !=
          unit.token_positions.end()) {
        continue;
      }
      if (sim[i][j] < threshold) continue;

      const double value =
          settings.scale_by_similarity ? 1.0 - (1.0 - factor) * sim[i][j] : factor;
      const auto it = modifiers.find(position);
      if (it == modifiers.end() || value < it->second) {
        modifiers[position] = static_cast<float>(value);
      }
    }
  }
}

}  // namespace

std::vector<Perturbation> BuildPerturbations(const std::vector<Unit>& units,
                                             const ExplainSettings& settings,
                                             const torch::Tensor& embeddings) {
  torch::Tensor similarities;
  if (settings.similarity_threshold.has_value()) {
    similarities = CosineSimilarities(embeddings);
  }

  std::vector<Perturbation> perturbations;
  perturbations.reserve(units.size());
  for (size_t k = 0; k < units.size(); ++k) {
    std::map<int32_t, float> modifiers;
    for (int32_t position : units[k].token_positions) {
      modifiers[position] = settings.control_factor;
    }
    if (similarities.defined()) AddCorrelated(units[k], settings, similarities, modifiers);

    Perturbation perturbation;
    perturbation.unit_index = static_cast<int32_t>(k);
    perturbation.modifiers.assign(modifiers.begin(), modifiers.end());
    perturbation.first_position = perturbation.modifiers.front().first;
    perturbations.push_back(std::move(perturbation));
  }
  return perturbations;
}

}  // namespace atman::engine
