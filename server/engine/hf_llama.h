#ifndef ATMAN_SERVER_ENGINE_HF_LLAMA_H_
#define ATMAN_SERVER_ENGINE_HF_LLAMA_H_

// Hugging Face LlamaForCausalLM checkpoints, run by the shared Llama model
// with rotate-half RoPE.

#include <torch/torch.h>

#include <memory>

#include "absl/status/statusor.h"
#include "server/engine/causal_lm.h"
#include "server/engine/hf_config.h"
#include "server/engine/llama.h"
#include "server/engine/safetensors.h"

namespace atman::engine {

// Reads the Llama shape from config.json. Configurations this engine cannot
// run exactly (rope_scaling, a head_dim other than hidden_size /
// num_attention_heads, attention or MLP biases, an activation other than
// silu) return UNIMPLEMENTED.
absl::StatusOr<LlamaConfig> ParseHfLlamaConfig(const HfConfig& config);

// Loads the weights (model.embed_tokens, model.layers.N.*, model.norm,
// lm_head) in `dtype` on the CPU. The output projection is lm_head.weight,
// or the embedding when tie_word_embeddings is true (NOT_FOUND when neither
// applies). Fills every ModelInfo field except name and version.
absl::StatusOr<std::unique_ptr<CausalLm>> LoadHfLlama(const HfConfig& config,
                                                      const SafetensorsCheckpoint& checkpoint,
                                                      torch::Dtype dtype);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_HF_LLAMA_H_
