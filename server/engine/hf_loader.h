#ifndef ATMAN_SERVER_ENGINE_HF_LOADER_H_
#define ATMAN_SERVER_ENGINE_HF_LOADER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/engine/causal_lm.h"
#include "server/engine/tokenizer.h"

namespace atman::engine {

// A model and its tokenizer, as read from one directory.
struct ModelParts {
  std::unique_ptr<CausalLm> model;
  std::shared_ptr<const Tokenizer> tokenizer;
};

// True when `directory` has a Hugging Face `config.json` and safetensors
// weights (one file or an index of shards).
bool IsHuggingFaceDirectory(const std::string& directory);

// Loads a LlamaForCausalLM or GPT2LMHeadModel checkpoint from `directory` on
// the CPU in `dtype`. `info.name` is left empty for the caller to fill.
absl::StatusOr<ModelParts> LoadHuggingFaceModel(const std::string& directory,
                                                torch::Dtype dtype);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_HF_LOADER_H_
