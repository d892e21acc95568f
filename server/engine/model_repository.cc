#include "server/engine/model_repository.h"

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <utility>

#include <glog/logging.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/engine/causal_lm.h"
#include "server/engine/hf_loader.h"
#include "server/engine/llama2c_loader.h"
#include "server/engine/status_macros.h"

namespace atman::engine {
namespace {

namespace fs = std::filesystem;

constexpr char kConfigFile[] = "atman-model.json";

// Files and identity of a model directory, from its config file or detected
// from the files it contains.
struct DirectoryLayout {
  std::string name;
  std::string version;
  std::string format;  // "llama2c" or "hf"
  std::string weights;
  std::string tokenizer;
};

// FNV-1a of the file's bytes: a cheap, stable model version.
absl::StatusOr<std::string> FileFingerprint(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  uint64_t hash = 1469598103934665603ULL;
  std::vector<char> buffer(1 << 20);
  while (file) {
    file.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    for (std::streamsize i = 0; i < file.gcount(); ++i) {
      hash = (hash ^ static_cast<unsigned char>(buffer[i])) * 1099511628211ULL;
    }
  }
  return absl::StrFormat("%012x", hash & 0xFFFFFFFFFFFFULL);
}

absl::StatusOr<DirectoryLayout> ReadConfig(const fs::path& directory) {
  const fs::path path = directory / kConfigFile;
  std::ifstream file(path);
  nlohmann::json config = nlohmann::json::parse(file, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config '", path.string(), "' is not a JSON object"));
  }
  DirectoryLayout layout;
  layout.name = config.value("name", directory.filename().string());
  layout.version = config.value("version", "");
  layout.format = config.value("format", "");
  layout.weights = config.value("weights", "");
  layout.tokenizer = config.value("tokenizer", "");
  if (layout.format != "llama2c" && layout.format != "hf") {
    return absl::InvalidArgumentError(absl::StrCat(
        "model config '", path.string(), "' has format '", layout.format,
        "'; expected \"llama2c\" or \"hf\""));
  }
  if (layout.format == "llama2c" && (layout.weights.empty() || layout.tokenizer.empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model config '", path.string(), "' must name \"weights\" and \"tokenizer\" files"));
  }
  return layout;
}

// Recognises a directory without a config file by its files.
absl::StatusOr<DirectoryLayout> DetectLayout(const fs::path& directory) {
  DirectoryLayout layout;
  layout.name = directory.filename().string();
  if (IsHuggingFaceDirectory(directory.string())) {
    layout.format = "hf";
    return layout;
  }
  for (const auto& entry : fs::directory_iterator(directory)) {
    const fs::path& file = entry.path();
    if (file.extension() == ".bin" && LooksLikeLlama2cCheckpoint(file.string())) {
      layout.weights = file.filename().string();
    } else if (file.extension() == ".model") {
      layout.tokenizer = file.filename().string();
    }
  }
  if (layout.weights.empty() || layout.tokenizer.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "'", directory.string(), "' is not a model directory: expected ", kConfigFile,
        ", a Hugging Face config.json with safetensors, or a llama2.c .bin with a ",
        "SentencePiece .model"));
  }
  layout.format = "llama2c";
  return layout;
}

absl::StatusOr<ModelParts> LoadParts(const fs::path& directory, const DirectoryLayout& layout,
                                     torch::Dtype dtype) {
  if (layout.format == "hf") return LoadHuggingFaceModel(directory.string(), dtype);

  const std::string tokenizer_path = (directory / layout.tokenizer).string();
  if (!fs::exists(tokenizer_path)) {
    return absl::NotFoundError(absl::StrCat("tokenizer file '", tokenizer_path, "' is missing"));
  }
  ModelParts parts;
  ASSIGN_OR_RETURN(parts.tokenizer, LoadSentencePieceTokenizer(tokenizer_path));
  ASSIGN_OR_RETURN(parts.model, LoadLlama2cCheckpoint((directory / layout.weights).string(), dtype));
  return parts;
}

absl::StatusOr<torch::Device> ParseDevice(const std::string& name) {
  if (name == "cpu" || name.rfind("cpu:", 0) == 0) return torch::Device(torch::kCPU);
  try {
    torch::Device device(name);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device '", name, "' requested but CUDA is not available in this build or machine; ",
          "use --devices=cpu"));
    }
    return device;
  } catch (const c10::Error&) {
    return absl::InvalidArgumentError(absl::StrCat(
        "device '", name, "' is invalid; use cpu, cpu:N or cuda:N"));
  }
}

absl::StatusOr<torch::Dtype> ParseDtype(const std::string& name, const torch::Device& device) {
  if (name == "auto") return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float16") return torch::kFloat16;
  return absl::InvalidArgumentError(
      absl::StrCat("dtype '", name, "' is invalid; use auto, float32, bfloat16 or float16"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LoadedModel>> LoadModelDirectory(const std::string& directory,
                                                                const LoadOptions& options) {
  const fs::path path = fs::absolute(directory);
  if (!fs::is_directory(path)) {
    return absl::NotFoundError(absl::StrCat("model directory '", directory, "' does not exist"));
  }
  if (options.devices.empty()) return absl::InvalidArgumentError("no device given");

  absl::StatusOr<DirectoryLayout> layout =
      fs::exists(path / kConfigFile) ? ReadConfig(path) : DetectLayout(path);
  if (!layout.ok()) return layout.status();

  ASSIGN_OR_RETURN(const torch::Device first_device, ParseDevice(options.devices.front()));
  ASSIGN_OR_RETURN(const torch::Dtype dtype, ParseDtype(options.dtype, first_device));
  ASSIGN_OR_RETURN(ModelParts parts, LoadParts(path, *layout, dtype));

  auto model = std::make_unique<LoadedModel>();
  model->directory = path.string();
  model->tokenizer = parts.tokenizer;
  model->info = parts.model->info();
  model->info.name = layout->name;
  model->info.version = layout->version;
  if (model->info.version.empty()) {
    const std::string weights = layout->weights.empty() ? "config.json" : layout->weights;
    ASSIGN_OR_RETURN(model->info.version, FileFingerprint((path / weights).string()));
  }

  for (const std::string& name : options.devices) {
    ASSIGN_OR_RETURN(const torch::Device device, ParseDevice(name));
    ASSIGN_OR_RETURN(const torch::Dtype device_dtype, ParseDtype(options.dtype, device));
    ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> copy, parts.model->CopyTo(device, device_dtype));
    model->devices.push_back(name);
    model->replicas.push_back(std::make_unique<ModelReplica>(
        name, std::move(copy), parts.tokenizer, options.engine, model->info));
  }
  return model;
}

absl::StatusOr<std::map<std::string, std::unique_ptr<LoadedModel>>> LoadModelRepository(
    const std::string& repository, const LoadOptions& options) {
  if (!fs::is_directory(repository)) {
    return absl::NotFoundError(absl::StrCat("model repository '", repository,
                                            "' is not a directory; pass --model_repository"));
  }
  std::vector<fs::path> directories;
  for (const auto& entry : fs::directory_iterator(repository)) {
    if (entry.is_directory()) directories.push_back(entry.path());
  }
  std::sort(directories.begin(), directories.end());

  std::map<std::string, std::unique_ptr<LoadedModel>> models;
  for (const fs::path& directory : directories) {
    auto model = LoadModelDirectory(directory.string(), options);
    if (!model.ok()) {
      LOG(WARNING) << "Skipping model directory " << directory << ": " << model.status();
      continue;
    }
    const std::string name = (*model)->info.name;
    LOG(INFO) << "Loaded model " << name << " version " << (*model)->info.version << " from "
              << directory << " on " << absl::StrJoin((*model)->devices, ",");
    models[name] = std::move(*model);
  }
  return models;
}

}  // namespace atman::engine
