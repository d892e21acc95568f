// The GPT-2 model on a tiny random-weight checkpoint: reference logits,
// attention modifiers, prefix reuse, padding and checkpoint layouts.

#include "server/engine/gpt2.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include <gtest/gtest.h>

#include "server/engine/hf_loader.h"
#include "server/engine/safetensors.h"
#include "tests/engine/hf/test_checkpoints.h"

namespace atman::engine {
namespace {

using ::atman::testing::FullLogits;
using ::atman::testing::Gpt2TinyDir;
using ::atman::testing::ReadJsonFile;

constexpr int64_t kVocab = 50257;

class Gpt2Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto parts = LoadHuggingFaceModel(Gpt2TinyDir(), torch::kFloat32);
    ASSERT_TRUE(parts.ok()) << parts.status();
    model_ = std::move(parts->model).release();
    ids_ = ReadJsonFile(Gpt2TinyDir() + "/reference.json")["ids"].get<std::vector<int64_t>>();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }

  static CausalLm* model_;
  static std::vector<int64_t> ids_;
};

CausalLm* Gpt2Test::model_ = nullptr;
std::vector<int64_t> Gpt2Test::ids_;

// A one-row batch over `ids` with `modifiers` ([T]) and logits at
// positions [start, T).
ForwardBatch OneRow(const std::vector<int64_t>& ids, const torch::Tensor& modifiers,
                    ControlMode mode, int64_t start = 0) {
  const auto length = static_cast<int64_t>(ids.size());
  ForwardBatch batch;
  batch.input_ids = torch::tensor(ids, torch::kLong).unsqueeze(0);
  batch.lengths = {length};
  batch.start = start;
  batch.modifiers = modifiers.view({1, length}).to(torch::kFloat32);
  batch.mode = mode;
  batch.logit_positions = torch::arange(start, length, torch::kLong).unsqueeze(0);
  return batch;
}

torch::Tensor RunForward(const CausalLm& model, const ForwardBatch& batch) {
  auto logits = model.Forward(batch);
  EXPECT_TRUE(logits.ok()) << logits.status();
  return logits.ok() ? *logits : torch::zeros({1, 1, kVocab});
}

double MaxDifference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

TEST_F(Gpt2Test, LogitsMatchReference) {
  const auto expected =
      atman::testing::ReadFloat32Matrix(Gpt2TinyDir() + "/reference_logits_f32.bin", 12, kVocab);
  const auto logits = FullLogits(*model_, ids_);
  ASSERT_EQ(logits.sizes(), expected.sizes());
  const double max_difference = MaxDifference(logits, expected);
  std::cout << "GPT-2 tiny random: max |logit - reference| = " << max_difference << "\n";
  EXPECT_LT(max_difference, 1e-4);

  const auto expected_argmax = ReadJsonFile(Gpt2TinyDir() + "/reference.json")["argmax"];
  const auto argmax = logits.argmax(-1).contiguous();
  EXPECT_EQ(std::vector<int64_t>(argmax.data_ptr<int64_t>(), argmax.data_ptr<int64_t>() + 12),
            expected_argmax.get<std::vector<int64_t>>());
}

TEST_F(Gpt2Test, ModelInfo) {
  const ModelInfo& info = model_->info();
  EXPECT_EQ(info.architecture, "GPT2LMHeadModel");
  EXPECT_EQ(info.format, "hf-gpt2");
  EXPECT_EQ(info.dtype, "float32");
  EXPECT_EQ(info.context_length, 128);
  EXPECT_EQ(info.vocab_size, kVocab);
  EXPECT_EQ(info.dim, 64);
  EXPECT_EQ(info.layers, 2);
  EXPECT_EQ(info.heads, 4);
  EXPECT_EQ(info.kv_heads, 4);
  EXPECT_EQ(info.hidden_dim, 256);
  // wte, wpe, ln_f, and per layer two LayerNorms, c_attn, attn.c_proj, c_fc
  // and mlp.c_proj with biases; the output projection is tied to wte.
  const int64_t per_layer = 4 * 64 + (64 * 192 + 192) + (64 * 64 + 64) + (64 * 256 + 256) +
                            (256 * 64 + 64);
  EXPECT_EQ(info.parameters, kVocab * 64 + 128 * 64 + 2 * 64 + 2 * per_layer);
}

TEST_F(Gpt2Test, ControlFactorOneLeavesLogitsUnchanged) {
  const auto plain = FullLogits(*model_, ids_);
  const auto ones = torch::ones({static_cast<int64_t>(ids_.size())});
  for (ControlMode mode : {ControlMode::kMultiplicative, ControlMode::kLogAdditive}) {
    const auto logits = RunForward(*model_, OneRow(ids_, ones, mode))[0];
    EXPECT_LT(MaxDifference(logits, plain), 1e-5) << ControlModeName(mode);
  }

  // Control: factor 0.1 on one prompt token does change later predictions.
  auto suppressed = ones.clone();
  suppressed[3] = 0.1f;
  const auto changed = RunForward(*model_, OneRow(ids_, suppressed, ControlMode::kMultiplicative))[0];
  EXPECT_LT(MaxDifference(changed.narrow(0, 0, 3), plain.narrow(0, 0, 3)), 1e-5);
  EXPECT_GT(MaxDifference(changed.narrow(0, 3, 9), plain.narrow(0, 3, 9)), 1e-3);
}

TEST_F(Gpt2Test, PrefixCacheMatchesFullForward) {
  const auto length = static_cast<int64_t>(ids_.size());
  KvCache cache;
  ForwardBatch baseline = OneRow(ids_, torch::ones({length}), ControlMode::kMultiplicative);
  baseline.cache_out = &cache;
  RunForward(*model_, baseline);
  ASSERT_EQ(cache.length, length);
  ASSERT_EQ(cache.keys.size(), 2u);
  EXPECT_EQ(cache.keys[0].sizes(), (std::vector<int64_t>{4, length, 16}));

  constexpr int64_t kStart = 5;
  auto modifiers = torch::ones({length});
  modifiers[kStart] = 0.1f;
  modifiers[kStart + 2] = 0.3f;
  for (ControlMode mode : {ControlMode::kMultiplicative, ControlMode::kLogAdditive}) {
    const auto full = RunForward(*model_, OneRow(ids_, modifiers, mode))[0];
    ForwardBatch reuse = OneRow(ids_, modifiers, mode, kStart);
    reuse.prefix = {&cache};
    const auto partial = RunForward(*model_, reuse)[0];
    ASSERT_EQ(partial.size(0), length - kStart);
    EXPECT_LT(MaxDifference(partial, full.narrow(0, kStart, length - kStart)), 1e-5)
        << ControlModeName(mode);
  }
}

TEST_F(Gpt2Test, PaddedRowsMatchSingleRows) {
  const std::vector<std::vector<int64_t>> rows = {
      ids_, {ids_.begin(), ids_.begin() + 7}, {ids_.rbegin(), ids_.rbegin() + 9}};
  const int64_t width = 12;
  const int64_t count = 4;
  ForwardBatch batch;
  batch.input_ids = torch::full({3, width}, 50256, torch::kLong);
  batch.modifiers = torch::ones({3, width});
  batch.logit_positions = torch::zeros({3, count}, torch::kLong);
  batch.mode = ControlMode::kMultiplicative;
  std::vector<torch::Tensor> row_modifiers;
  for (int64_t b = 0; b < 3; ++b) {
    const auto length = static_cast<int64_t>(rows[b].size());
    batch.lengths.push_back(length);
    batch.input_ids[b].narrow(0, 0, length).copy_(torch::tensor(rows[b], torch::kLong));
    auto modifiers = torch::ones({length});
    modifiers[1 + b] = 0.2f;
    row_modifiers.push_back(modifiers);
    batch.modifiers[b].narrow(0, 0, length).copy_(modifiers);
    // The last `count` positions of the row, which ends at different places.
    batch.logit_positions[b].copy_(torch::arange(length - count, length, torch::kLong));
  }
  const auto batched = RunForward(*model_, batch);
  ASSERT_EQ(batched.sizes(), (std::vector<int64_t>{3, count, kVocab}));

  for (int64_t b = 0; b < 3; ++b) {
    const auto single =
        RunForward(*model_, OneRow(rows[b], row_modifiers[b], ControlMode::kMultiplicative))[0];
    const int64_t length = static_cast<int64_t>(rows[b].size());
    EXPECT_LT(MaxDifference(batched[b], single.narrow(0, length - count, count)), 1e-5)
        << "row " << b;
  }
}

TEST_F(Gpt2Test, InputEmbeddingsAreTokenRows) {
  const auto ids = torch::tensor({15496, 995}, torch::kLong);
  const auto embeddings = model_->InputEmbeddings(ids);
  EXPECT_EQ(embeddings.sizes(), (std::vector<int64_t>{2, 64}));
  auto checkpoint = SafetensorsCheckpoint::OpenDirectory(Gpt2TinyDir());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto wte = checkpoint->Load("wte.weight", torch::kFloat32);
  ASSERT_TRUE(wte.ok()) << wte.status();
  EXPECT_TRUE(torch::equal(embeddings, wte->index_select(0, ids)));
}

TEST_F(Gpt2Test, InputLongerThanPositionsIsRejected) {
  const std::vector<int64_t> ids(129, 220);
  auto logits = model_->Forward(OneRow(ids, torch::ones({129}), ControlMode::kMultiplicative));
  EXPECT_EQ(logits.status().code(), absl::StatusCode::kInvalidArgument) << logits.status();
}

TEST_F(Gpt2Test, CopyToKeepsLogits) {
  auto copy = model_->CopyTo(torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_TRUE(torch::equal(FullLogits(**copy, ids_), FullLogits(*model_, ids_)));

  auto bf16 = model_->CopyTo(torch::kCPU, torch::kBFloat16);
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  EXPECT_EQ((*bf16)->dtype(), torch::kBFloat16);
  EXPECT_EQ((*bf16)->info().dtype, "bfloat16");
  EXPECT_TRUE(torch::isfinite(FullLogits(**bf16, ids_)).all().item<bool>());
}

// Rewrites the checkpoint as two shards with "transformer."-prefixed names,
// as GPT2LMHeadModel saves them, and checks that the logits do not change.
TEST_F(Gpt2Test, ShardedPrefixedCheckpointLoadsSameModel) {
  const std::string folder = atman::testing::MakeTempDir("gpt2_sharded");
  for (const char* name : {"config.json", "vocab.json", "merges.txt"}) {
    std::filesystem::copy_file(Gpt2TinyDir() + "/" + name, folder + "/" + name);
  }
  auto original = SafetensorsCheckpoint::OpenDirectory(Gpt2TinyDir());
  ASSERT_TRUE(original.ok()) << original.status();

  std::map<std::string, torch::Tensor> shards[2];
  nlohmann::json weight_map = nlohmann::json::object();
  for (const std::string& name : original->TensorNames()) {
    auto tensor = original->Load(name, torch::kFloat32);
    ASSERT_TRUE(tensor.ok()) << tensor.status();
    const int shard = name.rfind("h.1.", 0) == 0 ? 1 : 0;
    shards[shard]["transformer." + name] = *tensor;
    weight_map["transformer." + name] = "model-0000" + std::to_string(shard + 1) + ".safetensors";
  }
  atman::testing::WriteFloat32Safetensors(folder + "/model-00001.safetensors", shards[0]);
  atman::testing::WriteFloat32Safetensors(folder + "/model-00002.safetensors", shards[1]);
  std::ofstream(folder + "/model.safetensors.index.json")
      << nlohmann::json{{"weight_map", weight_map}}.dump();

  ASSERT_TRUE(IsHuggingFaceDirectory(folder));
  auto parts = LoadHuggingFaceModel(folder, torch::kFloat32);
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_TRUE(torch::equal(FullLogits(*parts->model, ids_), FullLogits(*model_, ids_)));
}

}  // namespace
}  // namespace atman::engine
