#include "server/engine/hf_loader.h"

#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"
#include "server/engine/gpt2.h"
#include "server/engine/gpt2_bpe_tokenizer.h"
#include "server/engine/hf_config.h"
#include "server/engine/hf_llama.h"
#include "server/engine/safetensors.h"
#include "server/engine/status_macros.h"

namespace atman::engine {
namespace {

namespace fs = std::filesystem;

enum class HfArchitecture { kLlama, kGpt2 };

absl::StatusOr<nlohmann::json> ReadConfigJson(const std::string& path) {
  std::ifstream stream(path);
  if (!stream) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  nlohmann::json config = nlohmann::json::parse(stream, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a valid JSON object"));
  }
  return config;
}

// Picks the architecture from "architectures" or, when that is absent,
// from "model_type".
absl::StatusOr<HfArchitecture> DetectArchitecture(const HfConfig& config) {
  std::string architecture;
  if (config.json.contains("architectures") && config.json["architectures"].is_array() &&
      !config.json["architectures"].empty() && config.json["architectures"][0].is_string()) {
    architecture = config.json["architectures"][0].get<std::string>();
  }
  ASSIGN_OR_RETURN(const std::string model_type, OptionalString(config, "model_type", ""));

  if (architecture == "LlamaForCausalLM" || (architecture.empty() && model_type == "llama")) {
    return HfArchitecture::kLlama;
  }
  if (architecture == "GPT2LMHeadModel" || (architecture.empty() && model_type == "gpt2")) {
    return HfArchitecture::kGpt2;
  }
  return absl::UnimplementedError(absl::StrCat(
      config.path, " describes architecture '", architecture, "' (model_type '", model_type,
      "'); supported are LlamaForCausalLM and GPT2LMHeadModel"));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(HfArchitecture architecture,
                                                         const fs::path& directory) {
  if (architecture == HfArchitecture::kLlama) {
    const fs::path model = directory / "tokenizer.model";
    if (!fs::exists(model)) {
      return absl::NotFoundError(absl::StrCat(
          "no tokenizer.model in ", directory.string(),
          "; Llama checkpoints need their SentencePiece model (tokenizer.json alone is not read)"));
    }
    return LoadSentencePieceTokenizer(model.string());
  }
  return LoadGpt2BpeTokenizer((directory / "vocab.json").string(),
                              (directory / "merges.txt").string());
}

}  // namespace

bool IsHuggingFaceDirectory(const std::string& directory) {
  std::error_code error;
  return fs::exists(fs::path(directory) / "config.json", error) &&
         SafetensorsCheckpoint::ExistsIn(directory);
}

absl::StatusOr<ModelParts> LoadHuggingFaceModel(const std::string& directory,
                                                torch::Dtype dtype) {
  const std::string config_path = (fs::path(directory) / "config.json").string();
  ASSIGN_OR_RETURN(const nlohmann::json json, ReadConfigJson(config_path));
  const HfConfig config{json, config_path};
  ASSIGN_OR_RETURN(const HfArchitecture architecture, DetectArchitecture(config));
  ASSIGN_OR_RETURN(const SafetensorsCheckpoint checkpoint,
                   SafetensorsCheckpoint::OpenDirectory(directory));

  ModelParts parts;
  if (architecture == HfArchitecture::kLlama) {
    ASSIGN_OR_RETURN(parts.model, LoadHfLlama(config, checkpoint, dtype));
  } else {
    ASSIGN_OR_RETURN(parts.model, LoadHfGpt2(config, checkpoint, dtype));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(architecture, directory));
  if (tokenizer->vocab_size() > parts.model->info().vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the tokenizer in ", directory, " has ", tokenizer->vocab_size(),
        " tokens, more than the model's vocab_size ", parts.model->info().vocab_size,
        "; the tokenizer does not belong to this checkpoint"));
  }
  parts.tokenizer = std::move(tokenizer);

  const ModelInfo& info = parts.model->info();
  LOG(INFO) << "Loaded " << info.architecture << " checkpoint " << directory << ": "
            << info.parameters << " parameters, " << info.layers << " layers, dtype "
            << info.dtype;
  return parts;
}

}  // namespace atman::engine
