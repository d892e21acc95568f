// AtMan scores of the engine against golden scores of an independent float64
// implementation on stories260K.

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/engine/explainer.h"
#include "server/engine/model_repository.h"
#include "tests/engine/test_paths.h"

namespace atman::engine {
namespace {

nlohmann::json Golden() {
  std::ifstream file(testing::SharedDir() + "/golden/atman_stories260K.json");
  return nlohmann::json::parse(file);
}

Granularity ParseGranularity(const std::string& name) {
  if (name == "word") return Granularity::kWord;
  if (name == "sentence") return Granularity::kSentence;
  if (name == "paragraph") return Granularity::kParagraph;
  return Granularity::kToken;
}

ExplainInput InputFor(const nlohmann::json& golden_case) {
  const auto& settings = golden_case["settings"];
  ExplainInput input;
  input.prompt_text = golden_case["prompt"];
  input.target = golden_case["target"];
  input.settings.granularity = ParseGranularity(settings["granularity"]);
  input.settings.control_mode = settings["mode"] == "log_additive" ? ControlMode::kLogAdditive
                                                                   : ControlMode::kMultiplicative;
  input.settings.control_factor = settings["factor"];
  if (!settings["similarity_threshold"].is_null()) {
    input.settings.similarity_threshold = settings["similarity_threshold"].get<float>();
  }
  input.settings.scale_by_similarity = settings["scale_by_similarity"];
  return input;
}

// The same stories260K weights in the llama2.c layout and in the Hugging Face
// Llama layout; every golden score must hold for both.
const std::vector<std::string>& ModelDirectories() {
  static const std::vector<std::string> directories = {"stories260K", "stories260K-hf"};
  return directories;
}

const LoadedModel& Stories(const std::string& directory, const EngineOptions& engine = {}) {
  static std::map<std::tuple<std::string, bool, bool>, std::unique_ptr<LoadedModel>> models;
  auto& model = models[{directory, engine.reuse_prefix, engine.project_targets_only}];
  if (model == nullptr) {
    LoadOptions options;
    options.engine = engine;
    auto loaded = LoadModelDirectory(testing::SharedDir() + "/models/" + directory, options);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    model = std::move(loaded).value();
  }
  return *model;
}

double Tolerance(const nlohmann::json& golden, double expected) {
  const double absolute = golden["tolerance"]["absolute"];
  const double relative = golden["tolerance"]["relative"];
  return std::max(absolute, relative * std::abs(expected));
}

// Largest |actual - expected| over every score checked, per model
// directory, for the report.
double& MaxDifference(const std::string& directory) {
  static std::map<std::string, double> values;
  return values[directory];
}

void ExpectMatchesGolden(const nlohmann::json& golden, const nlohmann::json& golden_case,
                         const ExplainResult& result, const std::string& directory) {
  const auto& expected_chunks = golden_case["chunks"];
  const auto& expected_scores = golden_case["scores"];
  const auto& per_token = golden_case["scores_per_target_token"];
  ASSERT_EQ(result.explanations.size(), 1u);
  const auto& spans = result.explanations[0].spans;
  ASSERT_EQ(spans.size(), expected_chunks.size());

  for (size_t k = 0; k < spans.size(); ++k) {
    const auto& chunk = expected_chunks[k];
    EXPECT_EQ(spans[k].unit.text, chunk["text"].get<std::string>()) << "unit " << k;
    EXPECT_EQ(spans[k].unit.start, chunk["start"].get<int>()) << "unit " << k;
    EXPECT_EQ(spans[k].unit.start + spans[k].unit.length, chunk["end"].get<int>()) << "unit " << k;
    EXPECT_EQ(spans[k].unit.token_positions, chunk["token_positions"].get<std::vector<int32_t>>())
        << "unit " << k;

    const double expected = expected_scores[k];
    const double difference = std::abs(spans[k].score - expected);
    MaxDifference(directory) = std::max(MaxDifference(directory), difference);
    EXPECT_LE(difference, Tolerance(golden, expected))
        << "unit " << k << " '" << spans[k].unit.text << "': " << spans[k].score << " vs "
        << expected;
    ASSERT_EQ(per_token[k].size(), result.target_tokens.size());
  }
}

class GoldenTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  const std::string& Directory() const { return std::get<0>(GetParam()); }
  const std::string& CaseName() const { return std::get<1>(GetParam()); }
  const ModelReplica& Replica(const EngineOptions& engine = {}) const {
    return *Stories(Directory(), engine).replicas[0];
  }

  nlohmann::json FindCase() const {
    for (const auto& golden_case : golden_["cases"]) {
      if (golden_case["name"] == CaseName()) return golden_case;
    }
    ADD_FAILURE() << "no golden case " << CaseName();
    return {};
  }

  nlohmann::json golden_ = Golden();
};

TEST_P(GoldenTest, ScoresMatch) {
  const nlohmann::json golden_case = FindCase();
  const auto result = ExplainOnReplica(Replica(), InputFor(golden_case), 7);
  ASSERT_TRUE(result.ok()) << result.status();

  std::vector<int32_t> prompt_ids;
  for (const auto& token : result->prompt_tokens) prompt_ids.push_back(token.id);
  EXPECT_EQ(prompt_ids, golden_case["prompt_ids"].get<std::vector<int32_t>>());
  std::vector<int32_t> target_ids;
  for (const auto& token : result->target_tokens) target_ids.push_back(token.id);
  EXPECT_EQ(target_ids, golden_case["target_ids"].get<std::vector<int32_t>>());

  const auto baseline = golden_case["baseline_cross_entropy"].get<std::vector<double>>();
  ASSERT_EQ(result->baseline_cross_entropy.size(), baseline.size());
  for (size_t t = 0; t < baseline.size(); ++t) {
    EXPECT_NEAR(result->baseline_cross_entropy[t], baseline[t], Tolerance(golden_, baseline[t]));
  }
  ExpectMatchesGolden(golden_, golden_case, *result, Directory());
  std::cout << Directory() << ": largest |score - golden| so far: "
            << MaxDifference(Directory()) << "\n";
}

TEST_P(GoldenTest, PerTokenScoresMatch) {
  const nlohmann::json golden_case = FindCase();
  ExplainInput input = InputFor(golden_case);
  input.settings.target_granularity = TargetGranularity::kPerToken;
  const auto result = ExplainOnReplica(Replica(), input, 16);
  ASSERT_TRUE(result.ok()) << result.status();

  const auto& per_token = golden_case["scores_per_target_token"];
  ASSERT_EQ(result->explanations.size(), result->target_tokens.size());
  for (size_t t = 0; t < result->explanations.size(); ++t) {
    const auto& set = result->explanations[t];
    EXPECT_EQ(set.target_token_index, static_cast<int32_t>(t));
    ASSERT_EQ(set.spans.size(), per_token.size());
    for (size_t k = 0; k < set.spans.size(); ++k) {
      const double expected = per_token[k][t];
      EXPECT_NEAR(set.spans[k].score, expected, Tolerance(golden_, expected))
          << "unit " << k << " target token " << t;
    }
  }
}

TEST_P(GoldenTest, SpeedUpsOffGiveSameScores) {
  const nlohmann::json golden_case = FindCase();
  const ExplainInput input = InputFor(golden_case);
  const auto fast = ExplainOnReplica(Replica(), input, 8);
  ASSERT_TRUE(fast.ok()) << fast.status();

  for (const EngineOptions options : {EngineOptions{false, true}, EngineOptions{true, false},
                                      EngineOptions{false, false}}) {
    const auto slow = ExplainOnReplica(Replica(options), input, 8);
    ASSERT_TRUE(slow.ok()) << slow.status();
    ASSERT_EQ(slow->explanations[0].spans.size(), fast->explanations[0].spans.size());
    for (size_t k = 0; k < fast->explanations[0].spans.size(); ++k) {
      // The paths differ only in float32 rounding: 1e-5 absolute plus 1e-5
      // relative covers it for scores of any size.
      const double expected = fast->explanations[0].spans[k].score;
      EXPECT_NEAR(slow->explanations[0].spans[k].score, expected, 1e-5 + 1e-5 * std::abs(expected))
          << "unit " << k << " reuse_prefix=" << options.reuse_prefix
          << " project_targets_only=" << options.project_targets_only;
    }
    ExpectMatchesGolden(golden_, golden_case, *slow, Directory());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Stories260k, GoldenTest,
    ::testing::Combine(::testing::ValuesIn(ModelDirectories()),
                       ::testing::Values("kick_ball_token", "kick_ball_log_additive", "lily_word",
                                         "park_sentence_similarity")),
    [](const auto& info) {
      std::string name = std::get<0>(info.param) + "_" + std::get<1>(info.param);
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(GoldenFileTest, EveryCaseHasATest) {
  const std::set<std::string> tested = {"kick_ball_token", "kick_ball_log_additive", "lily_word",
                                        "park_sentence_similarity"};
  for (const auto& golden_case : Golden()["cases"]) {
    EXPECT_TRUE(tested.count(golden_case["name"].get<std::string>()))
        << "golden case " << golden_case["name"] << " has no test";
  }
}

}  // namespace
}  // namespace atman::engine
