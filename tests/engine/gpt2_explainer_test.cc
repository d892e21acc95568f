// AtMan explanations on the GPT-2 architecture (random weights, so only
// invariances are checked, not the scores' meaning).

#include <string>

#include <gtest/gtest.h>

#include "server/engine/explainer.h"
#include "server/engine/model_repository.h"
#include "server/engine/utf8.h"
#include "tests/engine/test_paths.h"

namespace atman::engine {
namespace {

const LoadedModel& Gpt2() {
  static std::unique_ptr<LoadedModel> model = [] {
    auto loaded =
        LoadModelDirectory(testing::SharedDir() + "/models/gpt2-tiny-random", LoadOptions{});
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return std::move(loaded).value();
  }();
  return *model;
}

ExplainInput Input(ControlMode mode, float factor) {
  ExplainInput input;
  input.prompt_text = "The quick brown fox jumps over the lazy dog.  Then it rests\n";
  input.target = " under a tree";
  input.settings.granularity = Granularity::kWord;
  input.settings.control_mode = mode;
  input.settings.control_factor = factor;
  return input;
}

TEST(Gpt2ExplainerTest, ModelInfoDescribesCheckpoint) {
  const ModelInfo& info = Gpt2().info;
  EXPECT_EQ(info.architecture, "GPT2LMHeadModel");
  EXPECT_EQ(info.format, "hf-gpt2");
  EXPECT_EQ(info.context_length, 128);
  EXPECT_EQ(info.vocab_size, 50257);
  EXPECT_GT(info.parameters, 0);
}

TEST(Gpt2ExplainerTest, BatchSizeDoesNotChangeScores) {
  for (const ControlMode mode : {ControlMode::kMultiplicative, ControlMode::kLogAdditive}) {
    const auto reference = ExplainOnReplica(*Gpt2().replicas[0], Input(mode, 0.1f), 1);
    ASSERT_TRUE(reference.ok()) << reference.status();
    for (int batch_size : {3, 64}) {
      const auto result = ExplainOnReplica(*Gpt2().replicas[0], Input(mode, 0.1f), batch_size);
      ASSERT_TRUE(result.ok()) << result.status();
      const auto& expected = reference->explanations[0].spans;
      const auto& actual = result->explanations[0].spans;
      ASSERT_EQ(actual.size(), expected.size());
      for (size_t k = 0; k < actual.size(); ++k) {
        EXPECT_NEAR(actual[k].score, expected[k].score, 1e-5)
            << ControlModeName(mode) << " batch " << batch_size << " unit " << k;
      }
    }
  }
}

TEST(Gpt2ExplainerTest, FactorOneGivesZeroScores) {
  for (const ControlMode mode : {ControlMode::kMultiplicative, ControlMode::kLogAdditive}) {
    const auto result = ExplainOnReplica(*Gpt2().replicas[0], Input(mode, 1.0f), 4);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_FALSE(result->explanations[0].spans.empty());
    for (const auto& span : result->explanations[0].spans) {
      EXPECT_NEAR(span.score, 0.0, 1e-5) << ControlModeName(mode) << " '" << span.unit.text << "'";
    }
  }
}

TEST(Gpt2ExplainerTest, SuppressionChangesScores) {
  const auto result =
      ExplainOnReplica(*Gpt2().replicas[0], Input(ControlMode::kMultiplicative, 0.0f), 8);
  ASSERT_TRUE(result.ok()) << result.status();
  double largest = 0.0;
  for (const auto& span : result->explanations[0].spans) {
    largest = std::max(largest, std::abs(span.score));
  }
  EXPECT_GT(largest, 1e-4);
}

TEST(Gpt2ExplainerTest, SpansAreExactSubstrings) {
  const ExplainInput input = Input(ControlMode::kMultiplicative, 0.1f);
  const auto result = ExplainOnReplica(*Gpt2().replicas[0], input, 8);
  ASSERT_TRUE(result.ok()) << result.status();
  const CodePointIndex index(input.prompt_text);
  for (const auto& span : result->explanations[0].spans) {
    const size_t begin = index.ByteOffset(span.unit.start);
    const size_t end = index.ByteOffset(span.unit.start + span.unit.length);
    EXPECT_EQ(span.unit.text, input.prompt_text.substr(begin, end - begin));
  }
  EXPECT_EQ(result->prompt_tokens.front().id, 50256) << "BOS is <|endoftext|>";
}

}  // namespace
}  // namespace atman::engine
