#ifndef ATMAN_SERVER_ENGINE_GPT2_H_
#define ATMAN_SERVER_ENGINE_GPT2_H_

// GPT-2 (Hugging Face GPT2LMHeadModel): learned position embeddings,
// pre-LayerNorm blocks, fused QKV projection, GELU MLP, output projection
// tied to the token embedding. Attention goes through ModifiedAttention, so
// AtMan modifiers act exactly as in the Llama model.

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/causal_lm.h"
#include "server/engine/hf_config.h"
#include "server/engine/safetensors.h"

namespace atman::engine {

enum class Gpt2Activation {
  // GELU with the tanh approximation (gelu_new, gelu_pytorch_tanh).
  kGeluTanh,
  // Exact GELU with erf (gelu).
  kGeluExact,
};

struct Gpt2Config {
  int64_t dim = 0;
  int64_t hidden_dim = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t vocab_size = 0;
  // Number of learned positions; longer inputs are rejected.
  int64_t context_length = 0;
  double norm_eps = 1e-5;
  Gpt2Activation activation = Gpt2Activation::kGeluTanh;
};

// Matrices are [out, in] like torch.nn.Linear.weight, so Conv1D weights of a
// checkpoint ([in, out]) are transposed when loaded.
struct Gpt2LayerWeights {
  torch::Tensor norm1_weight;
  torch::Tensor norm1_bias;
  torch::Tensor qkv_weight;  // [3 * dim, dim]: queries, keys, values
  torch::Tensor qkv_bias;
  torch::Tensor attention_out_weight;
  torch::Tensor attention_out_bias;
  torch::Tensor norm2_weight;
  torch::Tensor norm2_bias;
  torch::Tensor fc_weight;  // [hidden_dim, dim]
  torch::Tensor fc_bias;
  torch::Tensor fc_out_weight;  // [dim, hidden_dim]
  torch::Tensor fc_out_bias;
};

struct Gpt2Weights {
  torch::Tensor token_embedding;     // [vocab, dim]
  torch::Tensor position_embedding;  // [context_length, dim]
  std::vector<Gpt2LayerWeights> layers;
  torch::Tensor final_norm_weight;
  torch::Tensor final_norm_bias;
  // [vocab, dim]; the same tensor as token_embedding when tied.
  torch::Tensor output;
};

// Builds a GPT-2 model from weights, cast to `dtype` on the CPU. Checks every
// weight's shape against `config`.
absl::StatusOr<std::unique_ptr<CausalLm>> MakeGpt2(const Gpt2Config& config, Gpt2Weights weights,
                                                   ModelInfo info, torch::Dtype dtype);

// Reads the GPT-2 shape from config.json (n_embd, n_layer, n_head,
// n_positions, vocab_size, n_inner, layer_norm_epsilon,
// activation_function). Settings that change attention scaling return
// UNIMPLEMENTED.
absl::StatusOr<Gpt2Config> ParseHfGpt2Config(const HfConfig& config);

// Loads a GPT2LMHeadModel checkpoint in `dtype` on the CPU. Tensor names may
// carry a "transformer." prefix or not. Fills every ModelInfo field except
// name and version.
absl::StatusOr<std::unique_ptr<CausalLm>> LoadHfGpt2(const HfConfig& config,
                                                     const SafetensorsCheckpoint& checkpoint,
                                                     torch::Dtype dtype);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_GPT2_H_
