// Unit cutting, offsets and invariances of the explainer on stories260K.

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "server/engine/explainer.h"
#include "server/engine/model_repository.h"
#include "server/engine/units.h"
#include "server/engine/utf8.h"
#include "tests/engine/test_paths.h"

namespace atman::engine {
namespace {

const LoadedModel& Stories() {
  static std::unique_ptr<LoadedModel> model = [] {
    auto loaded = LoadModelDirectory(testing::Stories260kDir(), LoadOptions{});
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return std::move(loaded).value();
  }();
  return *model;
}

const ModelReplica& Replica() { return *Stories().replicas[0]; }

ExplainInput TextInput(const std::string& prompt, const std::string& target,
                       Granularity granularity = Granularity::kToken) {
  ExplainInput input;
  input.prompt_text = prompt;
  input.target = target;
  input.settings.granularity = granularity;
  return input;
}

// The substring of `text` at code points [start, start + length).
std::string CodePointSubstring(const std::string& text, int32_t start, int32_t length) {
  const CodePointIndex index(text);
  const size_t begin = index.ByteOffset(start);
  return text.substr(begin, index.ByteOffset(start + length) - begin);
}

void ExpectSpansAreExactSubstrings(const std::string& prompt, const std::string& target,
                                   const ExplainResult& result) {
  const std::string joined = prompt + target;
  for (const auto& span : result.explanations[0].spans) {
    EXPECT_EQ(span.unit.text, CodePointSubstring(prompt, span.unit.start, span.unit.length));
    EXPECT_TRUE(IsValidUtf8(span.unit.text)) << span.unit.text;
  }
  for (const auto* tokens : {&result.prompt_tokens, &result.target_tokens}) {
    for (const TokenInfo& token : *tokens) {
      EXPECT_TRUE(IsValidUtf8(token.text)) << "token " << token.id;
      EXPECT_EQ(token.text, CodePointSubstring(joined, token.start, token.length))
          << "token " << token.id;
    }
  }
}

class OffsetsTest : public ::testing::TestWithParam<Granularity> {};

TEST_P(OffsetsTest, SpaceBeforePeriodAndTab) {
  const std::string prompt = "Hello . This is  a\ttest";
  const auto result = ExplainOnReplica(Replica(), TextInput(prompt, " ok", GetParam()), 16);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectSpansAreExactSubstrings(prompt, " ok", *result);
}

TEST_P(OffsetsTest, EmojiAreWholeCodePoints) {
  const std::string prompt = "I \u2764\uFE0F \U0001F984 \U0001F468\u200D\U0001F469\u200D\U0001F467 ok";
  const std::string target = " \U0001F602";
  const auto result = ExplainOnReplica(Replica(), TextInput(prompt, target, GetParam()), 16);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectSpansAreExactSubstrings(prompt, target, *result);
  EXPECT_FALSE(result->target_tokens.empty());
}

TEST_P(OffsetsTest, CombiningMarkCrLfZeroWidth) {
  const std::string prompt = "cafe\u0301\r\nzero\u200Bwidth";
  const auto result = ExplainOnReplica(Replica(), TextInput(prompt, " here", GetParam()), 16);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectSpansAreExactSubstrings(prompt, " here", *result);

  const auto& spans = result->explanations[0].spans;
  const ScoreSet& set = result->explanations[0];
  const int32_t code_points = CodePointIndex(prompt).size();
  ASSERT_EQ(code_points, 17);
  EXPECT_LE(spans.back().unit.start + spans.back().unit.length, code_points);
  EXPECT_EQ(set.target_token_index, -1);
}

INSTANTIATE_TEST_SUITE_P(AllGranularities, OffsetsTest,
                         ::testing::Values(Granularity::kToken, Granularity::kWord,
                                           Granularity::kSentence, Granularity::kParagraph),
                         [](const auto& info) { return std::string(GranularityName(info.param)); });

TEST(OffsetsTest, WordUnitsOfCombiningMarkText) {
  const std::string prompt = "cafe\u0301\r\nzero\u200Bwidth";
  const auto result =
      ExplainOnReplica(Replica(), TextInput(prompt, " here", Granularity::kWord), 16);
  ASSERT_TRUE(result.ok()) << result.status();
  const auto& spans = result->explanations[0].spans;
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].unit.text, "cafe\u0301");
  EXPECT_EQ(spans[0].unit.start, 0);
  EXPECT_EQ(spans[0].unit.length, 5);
  EXPECT_EQ(spans[1].unit.text, "zero\u200Bwidth");
  EXPECT_EQ(spans[1].unit.start, 7);
  EXPECT_EQ(spans[1].unit.length, 10);
}

TEST(TokenizationTest, LiteralBosTextIsPlainText) {
  const auto result = ExplainOnReplica(Replica(), TextInput("Tom said <s> to Lily.", " She"), 16);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_FALSE(result->prompt_tokens.empty());
  EXPECT_EQ(result->prompt_tokens[0].id, 1);
  for (size_t i = 1; i < result->prompt_tokens.size(); ++i) {
    EXPECT_NE(result->prompt_tokens[i].id, 1) << "BOS at position " << i;
  }
  std::string units;
  for (const auto& span : result->explanations[0].spans) units += span.unit.text;
  EXPECT_NE(units.find("<s>"), std::string::npos);
}

// Prompt and target ids are the joint tokenization, split where a token's
// span ends after the prompt.
void ExpectJointTokenization(const std::string& prompt, const std::string& target,
                             const ExplainResult& result) {
  auto joint = Stories().tokenizer->Encode(prompt + target);
  ASSERT_TRUE(joint.ok());
  std::vector<int32_t> expected;
  for (const auto& token : *joint) expected.push_back(token.id);
  std::vector<int32_t> actual;
  for (size_t i = 1; i < result.prompt_tokens.size(); ++i) {
    actual.push_back(result.prompt_tokens[i].id);
  }
  for (const auto& token : result.target_tokens) actual.push_back(token.id);
  EXPECT_EQ(actual, expected);

  const auto prompt_length = static_cast<int32_t>(CodePointIndex(prompt).size());
  const TokenInfo& first_target = result.target_tokens.front();
  EXPECT_GT(first_target.start + first_target.length, prompt_length);
  const TokenInfo& last_prompt = result.prompt_tokens.back();
  EXPECT_LE(last_prompt.start + last_prompt.length, prompt_length);
}

TEST(TokenizationTest, TargetAfterWordWithoutSpace) {
  const std::string prompt = "He went for a walk";
  const auto result = ExplainOnReplica(Replica(), TextInput(prompt, "ing"), 16);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectJointTokenization(prompt, "ing", *result);
}

TEST(TokenizationTest, StraddlingTokenBelongsToTarget) {
  // With this vocabulary "She was happy" ends in the token " happy", which
  // starts inside the prompt and ends in the target.
  const std::string prompt = "She was hap";
  const auto result = ExplainOnReplica(Replica(), TextInput(prompt, "py"), 16);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectJointTokenization(prompt, "py", *result);
  EXPECT_LT(result->target_tokens.front().start, 11) << "no token straddles the boundary";
}

TEST(UnitsTest, SentenceCutsAfterClosingQuote) {
  const auto segments =
      CutSegments("He said \"Stop!\" Then he left.\nNew", Granularity::kSentence, "");
  ASSERT_EQ(segments.size(), 4u);
  EXPECT_EQ(segments[0], std::make_pair(0, 15));
  EXPECT_EQ(segments[1], std::make_pair(15, 29));
  EXPECT_EQ(segments[2], std::make_pair(29, 30));
  EXPECT_EQ(segments[3], std::make_pair(30, 33));
}

TEST(UnitsTest, EllipsisWithoutSpaceDoesNotCut) {
  const auto segments = CutSegments("Wait...what? Yes.", Granularity::kSentence, "");
  ASSERT_EQ(segments.size(), 2u);
  EXPECT_EQ(segments[0], std::make_pair(0, 12));
}

TEST(UnitsTest, ParagraphCutsAtBlankLines) {
  const auto segments = CutSegments("One.\n \nTwo.\n\n\nThree.", Granularity::kParagraph, "");
  ASSERT_EQ(segments.size(), 3u);
  EXPECT_EQ(segments[0], std::make_pair(0, 7));
  EXPECT_EQ(segments[1], std::make_pair(7, 14));
  EXPECT_EQ(segments[2], std::make_pair(14, 20));
}

TEST(UnitsTest, CustomCutsAfterDelimiter) {
  const auto segments = CutSegments("a;b;;c", Granularity::kCustom, ";");
  ASSERT_EQ(segments.size(), 4u);
  EXPECT_EQ(segments[0], std::make_pair(0, 2));
  EXPECT_EQ(segments[3], std::make_pair(5, 6));
}

TEST(UnitsTest, WhitespaceOnlyUnitsAreDropped) {
  const std::vector<TokenSpan> tokens = {{1, 0, 2}, {2, 2, 4}, {3, 4, 6}};
  const auto units = CutUnits("ab  cd", tokens, Granularity::kToken, "");
  ASSERT_TRUE(units.ok()) << units.status();
  ASSERT_EQ(units->size(), 2u);
  EXPECT_EQ((*units)[0].text, "ab");
  EXPECT_EQ((*units)[1].text, "cd");
  EXPECT_EQ((*units)[1].token_positions, std::vector<int32_t>({3}));
}

TEST(UnitsTest, TokenWithoutTextJoinsPreviousUnit) {
  const std::vector<TokenSpan> tokens = {{1, 0, 2}, {2, 2, 3}, {3, 3, 3}, {4, 3, 3}};
  const auto units = CutUnits("ab\u00e9", tokens, Granularity::kToken, "");
  ASSERT_TRUE(units.ok()) << units.status();
  ASSERT_EQ(units->size(), 2u);
  EXPECT_EQ((*units)[1].text, "\u00e9");
  EXPECT_EQ((*units)[1].token_positions, std::vector<int32_t>({2, 3, 4}));
}

TEST(UnitsTest, CustomSegmentOwnsTokenByFirstVisibleCharacter) {
  const std::vector<TokenSpan> tokens = {{1, 0, 3}, {2, 3, 5}, {3, 5, 8}};
  const auto units = CutUnits("ab;  ;cd", tokens, Granularity::kCustom, ";");
  ASSERT_TRUE(units.ok()) << units.status();
  ASSERT_EQ(units->size(), 2u);
  EXPECT_EQ((*units)[0].text, "ab;");
  EXPECT_EQ((*units)[1].text, "  ;");
  EXPECT_EQ((*units)[1].token_positions, std::vector<int32_t>({3}));
}

TEST(UnitsTest, DelimiterWithNoUnitIsInvalid) {
  const std::vector<TokenSpan> tokens = {{1, 0, 2}};
  const auto units = CutUnits("  ", tokens, Granularity::kCustom, "x");
  ASSERT_FALSE(units.ok());
  EXPECT_EQ(units.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(units.status().message().find("delimiter"), std::string::npos);
}

TEST(InvarianceTest, BatchSizeDoesNotChangeScores) {
  ExplainInput input = TextInput(
      "Lily and her mom went to the park. They saw a big dog. The dog was", " very scary");
  input.settings.similarity_threshold = 0.7f;
  const auto reference = ExplainOnReplica(Replica(), input, 1);
  ASSERT_TRUE(reference.ok()) << reference.status();

  for (int batch_size : {2, 3, 7, 64}) {
    const auto result = ExplainOnReplica(Replica(), input, batch_size);
    ASSERT_TRUE(result.ok()) << result.status();
    const auto& expected = reference->explanations[0].spans;
    const auto& actual = result->explanations[0].spans;
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t k = 0; k < actual.size(); ++k) {
      EXPECT_NEAR(actual[k].score, expected[k].score, 1e-5)
          << "batch size " << batch_size << " unit " << k;
    }
  }
}

TEST(InvarianceTest, FactorOneGivesZeroScores) {
  for (const ControlMode mode : {ControlMode::kMultiplicative, ControlMode::kLogAdditive}) {
    ExplainInput input = TextInput("Tom had a big red ball. He liked to kick the ball.", " One day");
    input.settings.control_factor = 1.0f;
    input.settings.control_mode = mode;
    const auto result = ExplainOnReplica(Replica(), input, 5);
    ASSERT_TRUE(result.ok()) << result.status();
    for (const auto& span : result->explanations[0].spans) {
      EXPECT_NEAR(span.score, 0.0, 1e-5) << ControlModeName(mode) << " '" << span.unit.text << "'";
    }
  }
}

TEST(InvarianceTest, NormalizeOfFactorOneIsAllZero) {
  ExplainInput input = TextInput("Tom had a big red ball.", " He");
  input.settings.control_factor = 1.0f;
  input.settings.normalize = true;
  const auto result = ExplainOnReplica(Replica(), input, 4);
  ASSERT_TRUE(result.ok()) << result.status();
  for (const auto& span : result->explanations[0].spans) EXPECT_EQ(span.score, 0.0);
}

TEST(PostprocessingTest, SquareThenNormalize) {
  ExplainInput input = TextInput("Tom had a big red ball. He liked to kick the", " ball");
  input.settings.postprocessing = Postprocessing::kSquare;
  input.settings.normalize = true;
  const auto result = ExplainOnReplica(Replica(), input, 8);
  ASSERT_TRUE(result.ok()) << result.status();
  double min = 1.0;
  double max = 0.0;
  for (const auto& span : result->explanations[0].spans) {
    min = std::min(min, span.score);
    max = std::max(max, span.score);
  }
  EXPECT_DOUBLE_EQ(min, 0.0);
  EXPECT_DOUBLE_EQ(max, 1.0);
}

TEST(GenerationTest, EmptyTargetIsGenerated) {
  ExplainInput input = TextInput("Once upon a time", "");
  input.max_new_tokens = 5;
  const auto result = ExplainOnReplica(Replica(), input, 8);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->generated);
  EXPECT_FALSE(result->target.empty());
  EXPECT_LE(result->target_tokens.size(), 5u);
  EXPECT_GE(result->forward_passes,
            static_cast<int64_t>(result->explanations[0].spans.size()) + 1);
}

TEST(TokenIdsTest, IdPromptKeepsIds) {
  ExplainInput input;
  input.prompt_is_text = false;
  input.prompt_token_ids = {403, 407, 261, 378};
  input.target = " there";
  const auto result = ExplainOnReplica(Replica(), input, 8);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->prompt_tokens.size(), 5u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(result->prompt_tokens[i + 1].id, input.prompt_token_ids[i]);
  }
  EXPECT_EQ(result->explanations[0].spans.size(), 4u);
}

TEST(ValidationTest, RejectsBadSettings) {
  const auto& info = Replica().info();
  const auto& tokenizer = *Stories().tokenizer;
  struct Case {
    std::function<void(ExplainInput&)> change;
    absl::StatusCode code;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](ExplainInput& i) { i.prompt_text = ""; }, absl::StatusCode::kInvalidArgument, "prompt"},
      {[](ExplainInput& i) { i.target = ""; }, absl::StatusCode::kInvalidArgument, "target"},
      {[](ExplainInput& i) { i.settings.control_factor = std::nanf(""); },
       absl::StatusCode::kInvalidArgument, "control_factor"},
      {[](ExplainInput& i) { i.settings.control_factor = -0.5f; },
       absl::StatusCode::kInvalidArgument, "control_factor"},
      {[](ExplainInput& i) {
         i.settings.control_factor = 0.0f;
         i.settings.control_mode = ControlMode::kLogAdditive;
       },
       absl::StatusCode::kInvalidArgument, "control_factor"},
      {[](ExplainInput& i) { i.settings.granularity = Granularity::kCustom; },
       absl::StatusCode::kInvalidArgument, "delimiter"},
      {[](ExplainInput& i) { i.prompt_text = "ab\xff"; }, absl::StatusCode::kInvalidArgument,
       "prompt.text"},
      {[](ExplainInput& i) { i.max_new_tokens = 1000000000; }, absl::StatusCode::kOutOfRange,
       "max_new_tokens"},
      {[](ExplainInput& i) {
         i.prompt_text.clear();
         for (int w = 0; w < 2000; ++w) i.prompt_text += "word ";
       },
       absl::StatusCode::kOutOfRange, "context length 512"},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    ExplainInput input = TextInput("Tom had a ball.", " He");
    cases[c].change(input);
    const absl::Status status = ValidateInput(input, info, tokenizer);
    EXPECT_EQ(status.code(), cases[c].code) << "case " << c << ": " << status;
    EXPECT_NE(status.message().find(cases[c].field), std::string::npos)
        << "case " << c << ": " << status;
  }
}

}  // namespace
}  // namespace atman::engine

namespace atman::engine {
namespace {

TEST(PackingTest, MixedModesInOneBatchMatchSeparateRuns) {
  ExplainInput multiplicative = TextInput("Tom had a big red ball.", " He liked");
  ExplainInput additive = multiplicative;
  additive.settings.control_mode = ControlMode::kLogAdditive;
  auto first = Replica().Prepare(multiplicative);
  auto second = Replica().Prepare(additive);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();

  const std::vector<PerturbationRef> mixed = {{first->get(), 0}, {second->get(), 0},
                                              {first->get(), 1}, {second->get(), 2}};
  const auto packed = Replica().RunPerturbations(mixed);
  ASSERT_TRUE(packed.ok()) << packed.status();
  ASSERT_EQ(packed->size(), mixed.size());
  for (size_t i = 0; i < mixed.size(); ++i) {
    const auto alone = Replica().RunPerturbations({mixed[i]});
    ASSERT_TRUE(alone.ok()) << alone.status();
    ASSERT_EQ((*packed)[i].size(), (*alone)[0].size());
    for (size_t t = 0; t < (*alone)[0].size(); ++t) {
      EXPECT_NEAR((*packed)[i][t], (*alone)[0][t], 1e-5) << "row " << i << " token " << t;
    }
  }
}

TEST(PackingTest, RequestsOfDifferentLengthsShareBatch) {
  auto short_request = Replica().Prepare(TextInput("Tom had a ball.", " He"));
  auto long_request =
      Replica().Prepare(TextInput("Lily and her mom went to the park. They saw a big dog.", " The dog"));
  ASSERT_TRUE(short_request.ok()) << short_request.status();
  ASSERT_TRUE(long_request.ok()) << long_request.status();

  const std::vector<PerturbationRef> packed_refs = {
      {long_request->get(), 3}, {short_request->get(), 1}, {long_request->get(), 0}};
  const auto packed = Replica().RunPerturbations(packed_refs);
  ASSERT_TRUE(packed.ok()) << packed.status();
  for (size_t i = 0; i < packed_refs.size(); ++i) {
    const auto alone = Replica().RunPerturbations({packed_refs[i]});
    ASSERT_TRUE(alone.ok()) << alone.status();
    ASSERT_EQ((*packed)[i].size(), (*alone)[0].size());
    for (size_t t = 0; t < (*alone)[0].size(); ++t) {
      EXPECT_NEAR((*packed)[i][t], (*alone)[0][t], 1e-5) << "row " << i << " token " << t;
    }
  }
}

}  // namespace
}  // namespace atman::engine
