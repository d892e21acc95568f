// The llama2.c Llama model against reference outputs of stories260K.

#include <torch/torch.h>

#include <fstream>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/engine/causal_lm.h"
#include "server/engine/explainer.h"
#include "server/engine/llama2c_loader.h"
#include "server/engine/tokenizer.h"
#include "tests/engine/test_paths.h"

namespace atman::engine {
namespace {

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream file(path);
  return nlohmann::json::parse(file);
}

std::unique_ptr<CausalLm> LoadStories() {
  auto model = LoadLlama2cCheckpoint(testing::Stories260kDir() + "/stories260K.bin",
                                     torch::kFloat32);
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(model).value();
}

torch::Tensor FullLogits(const CausalLm& model, const std::vector<int64_t>& ids) {
  const auto length = static_cast<int64_t>(ids.size());
  ForwardBatch batch;
  batch.input_ids = torch::tensor(ids, torch::kLong).unsqueeze(0);
  batch.lengths = {length};
  batch.modifiers = torch::ones({1, length});
  batch.logit_positions = torch::arange(length, torch::kLong).unsqueeze(0);
  auto logits = model.Forward(batch);
  EXPECT_TRUE(logits.ok()) << logits.status();
  return logits.value()[0];
}

TEST(LlamaTest, LogitsMatchReference) {
  const auto model = LoadStories();
  const auto reference = ReadJson(testing::Stories260kDir() + "/reference.json");
  const auto ids = reference["prompt_ids_with_bos"].get<std::vector<int64_t>>();

  std::vector<float> expected(16 * 512);
  std::ifstream file(testing::Stories260kDir() + "/reference_logits_f32.bin", std::ios::binary);
  file.read(reinterpret_cast<char*>(expected.data()), expected.size() * sizeof(float));
  ASSERT_EQ(file.gcount(), static_cast<std::streamsize>(expected.size() * sizeof(float)));

  const auto logits = FullLogits(*model, ids);
  const auto reference_logits = torch::from_blob(expected.data(), {16, 512}, torch::kFloat32);
  const double max_difference = (logits - reference_logits).abs().max().item<double>();
  std::cout << "max |logit - reference| = " << max_difference << "\n";
  EXPECT_LT(max_difference, 1e-3);
}

TEST(LlamaTest, GreedyFromBosMatchesReference) {
  auto model = LoadStories();
  auto tokenizer = LoadSentencePieceTokenizer(testing::Stories260kDir() + "/tok512.model");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const auto reference = ReadJson(testing::Stories260kDir() + "/reference.json");
  const auto expected = reference["greedy_from_bos_200_steps"].get<std::vector<int32_t>>();

  ModelReplica replica("cpu", std::move(model), std::move(tokenizer).value(), EngineOptions{});
  auto generated = replica.Generate({1}, static_cast<int64_t>(expected.size()) - 1);
  ASSERT_TRUE(generated.ok()) << generated.status();

  std::vector<int32_t> sequence = {1};
  sequence.insert(sequence.end(), generated->begin(), generated->end());
  ASSERT_EQ(sequence.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(sequence[i], expected[i]) << "token " << i;
  }
}

TEST(LlamaTest, PrefixReuseMatchesFullForward) {
  const auto model = LoadStories();
  const std::vector<int64_t> ids = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};
  const auto length = static_cast<int64_t>(ids.size());

  KvCache cache;
  ForwardBatch full;
  full.input_ids = torch::tensor(ids, torch::kLong).unsqueeze(0);
  full.lengths = {length};
  full.modifiers = torch::ones({1, length});
  full.logit_positions = torch::arange(4, length, torch::kLong).unsqueeze(0);
  full.cache_out = &cache;
  const auto expected = model->Forward(full);
  ASSERT_TRUE(expected.ok()) << expected.status();

  ForwardBatch partial = full;
  partial.cache_out = nullptr;
  partial.start = 4;
  partial.prefix = {&cache};
  const auto actual = model->Forward(partial);
  ASSERT_TRUE(actual.ok()) << actual.status();
  EXPECT_LT((*actual - *expected).abs().max().item<double>(), 1e-5);
}

TEST(Llama2cLoaderTest, TruncatedFileNamesFile) {
  const std::string source = testing::Stories260kDir() + "/stories260K.bin";
  const std::string path = ::testing::TempDir() + "/truncated.bin";
  std::ifstream in(source, std::ios::binary);
  std::vector<char> bytes(1000);
  in.read(bytes.data(), bytes.size());
  std::ofstream(path, std::ios::binary).write(bytes.data(), bytes.size());

  const auto model = LoadLlama2cCheckpoint(path, torch::kFloat32);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find(path), std::string::npos);
  EXPECT_NE(model.status().message().find("truncated"), std::string::npos);
}

TEST(Llama2cLoaderTest, WrongHeaderNamesFile) {
  const std::string path = ::testing::TempDir() + "/bad_header.bin";
  const std::vector<int32_t> header = {64, 172, 5, 7, 4, 512, 512};  // 64 % 7 != 0
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(header.data()), header.size() * 4);

  const auto model = LoadLlama2cCheckpoint(path, torch::kFloat32);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find(path), std::string::npos);
  EXPECT_NE(model.status().message().find("wrong header"), std::string::npos);
}

TEST(Llama2cLoaderTest, ShortHeaderIsTruncated) {
  const std::string path = ::testing::TempDir() + "/short.bin";
  std::ofstream(path, std::ios::binary).write("abc", 3);
  const auto model = LoadLlama2cCheckpoint(path, torch::kFloat32);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("truncated"), std::string::npos);
}

TEST(Llama2cLoaderTest, MissingFileIsNotFound) {
  const auto model = LoadLlama2cCheckpoint("/nonexistent/model.bin", torch::kFloat32);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kNotFound);
}

TEST(SentencePieceTest, MissingTokenizerNamesFile) {
  const auto tokenizer = LoadSentencePieceTokenizer("/nonexistent/tok.model");
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_NE(tokenizer.status().message().find("/nonexistent/tok.model"), std::string::npos);
}

}  // namespace
}  // namespace atman::engine
