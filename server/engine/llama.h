#ifndef ATMAN_SERVER_ENGINE_LLAMA_H_
#define ATMAN_SERVER_ENGINE_LLAMA_H_

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "server/engine/causal_lm.h"

namespace atman::engine {

// Pairing of a head's dimensions in RoPE. llama2.c rotates adjacent pairs
// (2i, 2i+1), and Hugging Face checkpoints rotate the two halves (i, i + D/2).
enum class RopeStyle { kAdjacentPairs, kRotateHalf };

struct LlamaConfig {
  int64_t dim = 0;
  int64_t hidden_dim = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t vocab_size = 0;
  int64_t context_length = 0;
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeStyle rope_style = RopeStyle::kAdjacentPairs;
};

// Weight matrices are [out, in], like torch.nn.Linear.weight.
struct LlamaLayerWeights {
  torch::Tensor attention_norm;
  torch::Tensor wq;
  torch::Tensor wk;
  torch::Tensor wv;
  torch::Tensor wo;
  torch::Tensor ffn_norm;
  torch::Tensor w1;  // gate
  torch::Tensor w2;  // down
  torch::Tensor w3;  // up
};

struct LlamaWeights {
  torch::Tensor token_embedding;  // [vocab, dim]
  std::vector<LlamaLayerWeights> layers;
  torch::Tensor final_norm;
  // [vocab, dim]; the same tensor as token_embedding when tied.
  torch::Tensor output;
};

// Builds a Llama model from weights on the CPU, cast to `dtype`.
absl::StatusOr<std::unique_ptr<CausalLm>> MakeLlama(const LlamaConfig& config,
                                                    LlamaWeights weights, ModelInfo info,
                                                    torch::Dtype dtype);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_LLAMA_H_
