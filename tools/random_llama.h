#ifndef ATMAN_TOOLS_RANDOM_LLAMA_H_
#define ATMAN_TOOLS_RANDOM_LLAMA_H_

// Writes randomly initialised Llama-shaped models in the llama2.c legacy
// (version 0) checkpoint format, for benchmarks of models larger than the
// real checkpoints at hand. Depends only on the C++ standard library, Abseil
// and nlohmann_json, not on LibTorch.

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace atman::tools {

struct RandomLlamaOptions {
  int32_t dim = 768;
  int32_t hidden_dim = 2048;
  int32_t layers = 12;
  int32_t heads = 12;
  int32_t kv_heads = 4;
  int32_t vocab_size = 32000;
  // Context length written to the header. The engine rejects longer inputs.
  int32_t seq_len = 512;
  uint64_t seed = 1;
  // Standard deviation of the normal distribution of every weight matrix.
  // RMSNorm weights are 1.
  double init_std = 0.02;
  // Writes a separate output matrix (negative vocab_size in the header)
  // instead of tying the output projection to the token embedding.
  bool separate_output = false;
  // SentencePiece model copied into the directory as tokenizer.model.
  std::string tokenizer_path;
  // Model name written to atman-model.json.
  std::string name = "random-llama";
  // Directory to write, created when missing.
  std::string output_dir;
};

// File names inside the output directory.
inline constexpr char kRandomLlamaWeightsFile[] = "model.bin";
inline constexpr char kRandomLlamaTokenizerFile[] = "tokenizer.model";

// Returns INVALID_ARGUMENT naming the first option that the engine's
// llama2.c loader would reject or that makes no model.
absl::Status ValidateRandomLlamaOptions(const RandomLlamaOptions& options);

// Writes model.bin, tokenizer.model and atman-model.json into
// options.output_dir. The weights are a pure function of the shape, the seed
// and init_std: std::mt19937_64, whose output the C++ standard fixes, feeds a
// Box-Muller transform, so only libm's log, sqrt and cos can make two
// platforms differ in the last bit. Floats are written in the host byte
// order, little-endian on the x86-64 and AArch64 machines llama2.c targets.
absl::Status WriteRandomLlama(const RandomLlamaOptions& options);

// Bytes of float32 weights that WriteRandomLlama puts after the header,
// RoPE tables included.
int64_t RandomLlamaWeightBytes(const RandomLlamaOptions& options);

}  // namespace atman::tools

#endif  // ATMAN_TOOLS_RANDOM_LLAMA_H_
