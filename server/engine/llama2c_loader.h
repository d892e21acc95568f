#ifndef ATMAN_SERVER_ENGINE_LLAMA2C_LOADER_H_
#define ATMAN_SERVER_ENGINE_LLAMA2C_LOADER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/engine/causal_lm.h"

namespace atman::engine {

// Size of the llama2.c legacy (version 0) header: seven int32 values.
inline constexpr size_t kLlama2cHeaderBytes = 28;

// True when the first 28 bytes of `path` are a plausible llama2.c legacy
// header (positive, consistent sizes).
bool LooksLikeLlama2cCheckpoint(const std::string& path);

// Loads a llama2.c legacy checkpoint: a header of dim, hidden_dim, n_layers,
// n_heads, n_kv_heads, vocab_size (negative = separate output matrix) and
// seq_len, then float32 weights. A truncated file or a bad header returns
// INVALID_ARGUMENT naming the file and what is wrong.
absl::StatusOr<std::unique_ptr<CausalLm>> LoadLlama2cCheckpoint(const std::string& path,
                                                                torch::Dtype dtype);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_LLAMA2C_LOADER_H_
