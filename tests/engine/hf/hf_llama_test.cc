// The Hugging Face Llama layout of stories260K against the reference logits
// of the same weights.

#include "server/engine/hf_llama.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include <gtest/gtest.h>

#include "server/engine/hf_loader.h"
#include "tests/engine/hf/test_checkpoints.h"
#include "tests/engine/test_paths.h"

namespace atman::engine {
namespace {

using ::atman::testing::ReadJsonFile;
using ::atman::testing::Stories260kHfDir;

std::string Stories260kDir() { return atman::testing::SharedDir() + "/models/stories260K"; }

TEST(HfLlamaTest, DirectoryIsRecognized) {
  EXPECT_TRUE(IsHuggingFaceDirectory(Stories260kHfDir()));
  EXPECT_FALSE(IsHuggingFaceDirectory(Stories260kDir()));
}

TEST(HfLlamaTest, LogitsMatchReference) {
  auto parts = LoadHuggingFaceModel(Stories260kHfDir(), torch::kFloat32);
  ASSERT_TRUE(parts.ok()) << parts.status();
  const auto reference = ReadJsonFile(Stories260kDir() + "/reference.json");
  const auto ids = reference["prompt_ids_with_bos"].get<std::vector<int64_t>>();
  ASSERT_EQ(ids.size(), 16u);

  const auto expected = atman::testing::ReadFloat32Matrix(
      Stories260kDir() + "/reference_logits_f32.bin", 16, 512);
  const auto logits = atman::testing::FullLogits(*parts->model, ids);
  ASSERT_EQ(logits.sizes(), expected.sizes());
  const double max_difference = (logits - expected).abs().max().item<double>();
  std::cout << "HF Llama stories260K: max |logit - reference| = " << max_difference << "\n";
  EXPECT_LT(max_difference, 1e-3);
}

TEST(HfLlamaTest, TokenizerEncodesReferencePrompt) {
  auto parts = LoadHuggingFaceModel(Stories260kHfDir(), torch::kFloat32);
  ASSERT_TRUE(parts.ok()) << parts.status();
  const auto reference = ReadJsonFile(Stories260kDir() + "/reference.json");
  auto tokens = parts->tokenizer->Encode(reference["prompt"].get<std::string>());
  ASSERT_TRUE(tokens.ok()) << tokens.status();

  std::vector<int64_t> ids = {parts->tokenizer->bos_id()};
  for (const EncodedToken& token : *tokens) ids.push_back(token.id);
  EXPECT_EQ(ids, reference["prompt_ids_with_bos"].get<std::vector<int64_t>>());
}

TEST(HfLlamaTest, ModelInfo) {
  auto parts = LoadHuggingFaceModel(Stories260kHfDir(), torch::kFloat32);
  ASSERT_TRUE(parts.ok()) << parts.status();
  const ModelInfo& info = parts->model->info();
  EXPECT_EQ(info.architecture, "LlamaForCausalLM");
  EXPECT_EQ(info.format, "hf-llama");
  EXPECT_EQ(info.dtype, "float32");
  EXPECT_EQ(info.context_length, 512);
  EXPECT_EQ(info.vocab_size, 512);
  EXPECT_EQ(info.dim, 64);
  EXPECT_EQ(info.layers, 5);
  EXPECT_EQ(info.heads, 8);
  EXPECT_EQ(info.kv_heads, 4);
  EXPECT_EQ(info.hidden_dim, 172);
  // Embedding and the untied lm_head, final norm, and per layer two norms,
  // q and o [64, 64], k and v [32, 64], gate, up and down [172, 64].
  const int64_t per_layer = 2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 172 * 64;
  EXPECT_EQ(info.parameters, 2 * 512 * 64 + 64 + 5 * per_layer);
}

TEST(HfLlamaTest, Bfloat16LoadStaysClose) {
  auto parts = LoadHuggingFaceModel(Stories260kHfDir(), torch::kBFloat16);
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->model->dtype(), torch::kBFloat16);
  EXPECT_EQ(parts->model->info().dtype, "bfloat16");
  const auto reference = ReadJsonFile(Stories260kDir() + "/reference.json");
  const auto ids = reference["prompt_ids_with_bos"].get<std::vector<int64_t>>();
  const auto logits = atman::testing::FullLogits(*parts->model, ids);
  const auto expected = atman::testing::ReadFloat32Matrix(
      Stories260kDir() + "/reference_logits_f32.bin", 16, 512);
  // bfloat16 keeps 8 significant bits, so only the prediction must agree.
  EXPECT_TRUE(torch::equal(logits.argmax(-1), expected.argmax(-1)));
}

TEST(HfLlamaTest, LoaderRejectsOtherArchitectures) {
  const std::string folder = atman::testing::MakeTempDir("mistral");
  std::ofstream(folder + "/config.json")
      << R"({"architectures": ["MistralForCausalLM"], "model_type": "mistral"})";
  std::filesystem::copy_file(Stories260kHfDir() + "/model.safetensors",
                             folder + "/model.safetensors");
  EXPECT_TRUE(IsHuggingFaceDirectory(folder));
  auto parts = LoadHuggingFaceModel(folder, torch::kFloat32);
  EXPECT_EQ(parts.status().code(), absl::StatusCode::kUnimplemented) << parts.status();
  EXPECT_NE(std::string(parts.status().message()).find("MistralForCausalLM"), std::string::npos)
      << parts.status();
}

TEST(HfLlamaTest, MissingLmHeadWithoutTyingIsNotFound) {
  const std::string folder = atman::testing::MakeTempDir("no_lm_head");
  std::filesystem::copy_file(Stories260kHfDir() + "/config.json", folder + "/config.json");
  std::filesystem::copy_file(Stories260kHfDir() + "/tokenizer.model",
                             folder + "/tokenizer.model");
  auto original = SafetensorsCheckpoint::OpenDirectory(Stories260kHfDir());
  ASSERT_TRUE(original.ok()) << original.status();
  std::map<std::string, torch::Tensor> tensors;
  for (const std::string& name : original->TensorNames()) {
    if (name == "lm_head.weight") continue;
    auto tensor = original->Load(name, torch::kFloat32);
    ASSERT_TRUE(tensor.ok()) << tensor.status();
    tensors[name] = *tensor;
  }
  atman::testing::WriteFloat32Safetensors(folder + "/model.safetensors", tensors);

  auto parts = LoadHuggingFaceModel(folder, torch::kFloat32);
  EXPECT_EQ(parts.status().code(), absl::StatusCode::kNotFound) << parts.status();
  EXPECT_NE(std::string(parts.status().message()).find("lm_head.weight"), std::string::npos)
      << parts.status();
}

TEST(HfLlamaTest, UnsupportedRopeScalingIsRejected) {
  const nlohmann::json json = nlohmann::json::parse(R"({
    "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 1,
    "num_attention_heads": 8, "vocab_size": 512,
    "rope_scaling": {"type": "linear", "factor": 2.0}})");
  auto config = ParseHfLlamaConfig(HfConfig{json, "config.json"});
  EXPECT_EQ(config.status().code(), absl::StatusCode::kUnimplemented) << config.status();
}

TEST(HfLlamaTest, MissingConfigFieldNamesIt) {
  const nlohmann::json json = nlohmann::json::parse(R"({"hidden_size": 64})");
  auto config = ParseHfLlamaConfig(HfConfig{json, "config.json"});
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  EXPECT_NE(std::string(config.status().message()).find("intermediate_size"), std::string::npos)
      << config.status();
}

}  // namespace
}  // namespace atman::engine
