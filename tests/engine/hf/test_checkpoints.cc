#include "tests/engine/hf/test_checkpoints.h"

#include <atomic>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/engine/test_paths.h"

namespace atman::testing {

std::string Gpt2TinyDir() { return SharedDir() + "/models/gpt2-tiny-random"; }
std::string Stories260kHfDir() { return SharedDir() + "/models/stories260K-hf"; }

std::string MakeTempDir(const std::string& label) {
  static std::atomic<int> counter{0};
  const std::filesystem::path path =
      std::filesystem::path(::testing::TempDir()) /
      ("atman_hf_" + label + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path.string();
}

nlohmann::json ReadJsonFile(const std::string& path) {
  std::ifstream file(path);
  EXPECT_TRUE(file.good()) << "cannot open " << path;
  return nlohmann::json::parse(file);
}

torch::Tensor ReadFloat32Matrix(const std::string& path, int64_t rows, int64_t columns) {
  auto values = torch::empty({rows, columns}, torch::kFloat32);
  std::ifstream file(path, std::ios::binary);
  const auto bytes = static_cast<std::streamsize>(values.numel() * sizeof(float));
  file.read(static_cast<char*>(values.data_ptr()), bytes);
  EXPECT_EQ(file.gcount(), bytes) << "short read of " << path;
  return values;
}

void WriteRawSafetensors(const std::string& path, uint64_t header_length,
                         const std::string& header, const std::string& data) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  for (int i = 0; i < 8; ++i) file.put(static_cast<char>((header_length >> (8 * i)) & 0xFF));
  file << header << data;
}

void WriteFloat32Safetensors(const std::string& path,
                             const std::map<std::string, torch::Tensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, tensor] : tensors) {
    const auto values = tensor.to(torch::kFloat32).contiguous();
    const size_t begin = data.size();
    data.append(static_cast<const char*>(values.data_ptr()), values.numel() * sizeof(float));
    header[name] = {{"dtype", "F32"},
                    {"shape", values.sizes().vec()},
                    {"data_offsets", {begin, data.size()}}};
  }
  const std::string text = header.dump();
  WriteRawSafetensors(path, text.size(), text, data);
}

torch::Tensor FullLogits(const engine::CausalLm& model, const std::vector<int64_t>& ids) {
  const auto length = static_cast<int64_t>(ids.size());
  engine::ForwardBatch batch;
  batch.input_ids = torch::tensor(ids, torch::kLong).unsqueeze(0);
  batch.lengths = {length};
  batch.modifiers = torch::ones({1, length});
  batch.logit_positions = torch::arange(length, torch::kLong).unsqueeze(0);
  auto logits = model.Forward(batch);
  EXPECT_TRUE(logits.ok()) << logits.status();
  return logits.ok() ? logits.value()[0] : torch::Tensor();
}

}  // namespace atman::testing
