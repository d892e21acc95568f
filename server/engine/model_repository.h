#ifndef ATMAN_SERVER_ENGINE_MODEL_REPOSITORY_H_
#define ATMAN_SERVER_ENGINE_MODEL_REPOSITORY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/explainer.h"
#include "server/engine/tokenizer.h"
#include "server/engine/types.h"

namespace atman::engine {

// A model loaded from one directory, with one replica per device.
struct LoadedModel {
  ModelInfo info;
  std::string directory;
  std::shared_ptr<const Tokenizer> tokenizer;
  // replicas[i] runs on devices[i].
  std::vector<std::string> devices;
  std::vector<std::unique_ptr<ModelReplica>> replicas;
};

struct LoadOptions {
  // Device strings as LibTorch spells them: "cpu", "cpu:1", "cuda:0".
  std::vector<std::string> devices = {"cpu"};
  // "float32", "bfloat16" or "float16"; "auto" = bfloat16 on CUDA, float32 on CPU.
  std::string dtype = "auto";
  EngineOptions engine;
};

// Loads the model in `directory`. The format is recognised from its files:
// an `atman-model.json` config, or a llama2.c checkpoint (`*.bin`) with a
// SentencePiece `*.model`, or a Hugging Face checkpoint (`config.json` with
// `*.safetensors`). The model name defaults to the directory's base name.
absl::StatusOr<std::unique_ptr<LoadedModel>> LoadModelDirectory(const std::string& directory,
                                                                const LoadOptions& options);

// Loads every model directory directly below `repository`, skipping (with one
// WARNING each) the ones that cannot be loaded. Keys are model names.
absl::StatusOr<std::map<std::string, std::unique_ptr<LoadedModel>>> LoadModelRepository(
    const std::string& repository, const LoadOptions& options);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_MODEL_REPOSITORY_H_
