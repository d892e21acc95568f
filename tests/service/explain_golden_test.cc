// Explain through the real gRPC server on loopback against the golden scores
// of an independent float64 implementation on stories260K.

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/engine/test_paths.h"
#include "tests/service/service_test_support.h"

namespace atman::service_test {
namespace {

nlohmann::json LoadGolden() {
  std::ifstream file(atman::testing::SharedDir() + "/golden/atman_stories260K.json");
  return nlohmann::json::parse(file, nullptr, /*allow_exceptions=*/false);
}

v1::Granularity GranularityFromName(const std::string& name) {
  if (name == "word") return v1::WORD;
  if (name == "sentence") return v1::SENTENCE;
  if (name == "paragraph") return v1::PARAGRAPH;
  if (name == "custom") return v1::CUSTOM;
  return v1::TOKEN;
}

v1::ControlMode ControlModeFromName(const std::string& name) {
  return name == "log_additive" ? v1::LOG_ADDITIVE : v1::MULTIPLICATIVE;
}

v1::ExplainRequest RequestFor(const nlohmann::json& golden_case) {
  const nlohmann::json& settings = golden_case["settings"];
  v1::ExplainRequest request = TextRequest(golden_case["prompt"], golden_case["target"]);
  request.set_granularity(GranularityFromName(settings["granularity"]));
  request.set_control_mode(ControlModeFromName(settings["mode"]));
  request.set_control_factor(settings["factor"].get<float>());
  if (!settings["similarity_threshold"].is_null()) {
    request.set_similarity_threshold(settings["similarity_threshold"].get<float>());
  }
  request.set_scale_by_similarity(settings["scale_by_similarity"].get<bool>());
  return request;
}

std::vector<int32_t> Ids(const google::protobuf::RepeatedPtrField<v1::Token>& tokens) {
  std::vector<int32_t> ids;
  for (const v1::Token& token : tokens) ids.push_back(token.id());
  return ids;
}

class ExplainGoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = StartTestServer();
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = new TestServer(*std::move(started));
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "the server did not start";
    ASSERT_FALSE(golden_.is_discarded()) << "cannot read the golden file";
    ASSERT_FALSE(golden_["cases"].empty()) << "the golden file has no case";
    stub_ = LoopbackStub(server_->server->port());
  }

  // Larger of the file's absolute tolerance and its relative tolerance
  // times |expected|.
  double Tolerance(double expected) const {
    const double absolute = golden_["tolerance"]["absolute"];
    const double relative = golden_["tolerance"]["relative"];
    return std::max(absolute, relative * std::abs(expected));
  }

  static TestServer* server_;
  nlohmann::json golden_ = LoadGolden();
  std::unique_ptr<v1::Explainer::Stub> stub_;
};

TestServer* ExplainGoldenTest::server_ = nullptr;

// Every message but the last is progress with units_done rising to
// units_total; the last is the explanation.
void ExpectProgressThenExplanation(const ExplainCall& call) {
  ASSERT_FALSE(call.messages.empty());
  ASSERT_TRUE(call.messages.back().has_explanation()) << "the last message is not an explanation";
  uint32_t previous_done = 0;
  for (size_t i = 0; i + 1 < call.messages.size(); ++i) {
    const v1::ExplainResponse& message = call.messages[i];
    ASSERT_TRUE(message.has_progress()) << "message " << i << " of " << call.messages.size()
                                        << " is neither progress nor the last";
    EXPECT_GE(message.progress().units_done(), previous_done) << "message " << i;
    EXPECT_LE(message.progress().units_done(), message.progress().units_total())
        << "message " << i;
    previous_done = message.progress().units_done();
  }
}

void ExpectEffectiveSettings(const v1::ExplainRequest& request, const v1::Explanation& result) {
  const v1::EffectiveSettings& settings = result.settings();
  EXPECT_EQ(settings.granularity(), request.granularity());
  EXPECT_EQ(settings.control_mode(), request.control_mode());
  EXPECT_FLOAT_EQ(settings.control_factor(), request.control_factor());
  EXPECT_EQ(settings.has_similarity_threshold(), request.has_similarity_threshold());
  if (request.has_similarity_threshold()) {
    EXPECT_FLOAT_EQ(settings.similarity_threshold(), request.similarity_threshold());
  }
  EXPECT_EQ(settings.scale_by_similarity(), request.scale_by_similarity());
  EXPECT_EQ(settings.target_granularity(), v1::COMPLETE) << "unspecified must become COMPLETE";
  EXPECT_EQ(settings.postprocessing(), v1::NONE) << "unspecified must become NONE";
  EXPECT_FALSE(settings.normalize());
  EXPECT_EQ(settings.max_new_tokens(), 0u);
}

void ExpectTiming(const v1::Explanation& result) {
  ASSERT_TRUE(result.has_timing());
  EXPECT_GE(result.timing().queue_ms(), 0.0);
  EXPECT_GT(result.timing().compute_ms(), 0.0);
  EXPECT_GT(result.timing().forward_passes(), 0);
}

TEST_F(ExplainGoldenTest, EveryCaseMatchesGolden) {
  for (const nlohmann::json& golden_case : golden_["cases"]) {
    SCOPED_TRACE("golden case " + golden_case["name"].get<std::string>());
    const v1::ExplainRequest request = RequestFor(golden_case);
    const ExplainCall call = CallExplain(*stub_, request);
    ASSERT_TRUE(call.status.ok()) << call.status.error_code() << ": "
                                  << call.status.error_message();
    ExpectProgressThenExplanation(call);
    const v1::Explanation& result = *call.explanation();

    EXPECT_EQ(result.model(), kModelName);
    EXPECT_FALSE(result.model_version().empty());
    EXPECT_EQ(result.target(), golden_case["target"].get<std::string>());
    EXPECT_FALSE(result.generated());
    EXPECT_EQ(Ids(result.prompt_tokens()), golden_case["prompt_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(Ids(result.target_tokens()), golden_case["target_ids"].get<std::vector<int32_t>>());
    ExpectEffectiveSettings(request, result);
    ExpectTiming(result);

    const auto baseline = golden_case["baseline_cross_entropy"].get<std::vector<double>>();
    ASSERT_EQ(result.baseline_cross_entropy_size(), static_cast<int>(baseline.size()));
    for (size_t t = 0; t < baseline.size(); ++t) {
      EXPECT_NEAR(result.baseline_cross_entropy(static_cast<int>(t)), baseline[t],
                  Tolerance(baseline[t]))
          << "target token " << t;
    }

    ASSERT_EQ(result.explanations_size(), 1);
    EXPECT_EQ(result.explanations(0).target_token_index(), -1);
    const auto& spans = result.explanations(0).spans();
    const nlohmann::json& chunks = golden_case["chunks"];
    const nlohmann::json& scores = golden_case["scores"];
    ASSERT_EQ(spans.size(), static_cast<int>(chunks.size()));
    for (int k = 0; k < spans.size(); ++k) {
      const nlohmann::json& chunk = chunks[k];
      EXPECT_EQ(spans[k].text(), chunk["text"].get<std::string>()) << "unit " << k;
      EXPECT_EQ(spans[k].start(), chunk["start"].get<int>()) << "unit " << k;
      EXPECT_EQ(spans[k].start() + spans[k].length(), chunk["end"].get<int>()) << "unit " << k;
      EXPECT_THAT(spans[k].token_positions(),
                  ::testing::ElementsAreArray(chunk["token_positions"].get<std::vector<int32_t>>()))
          << "unit " << k;
      const double expected = scores[k];
      EXPECT_NEAR(spans[k].score(), expected, Tolerance(expected))
          << "unit " << k << " '" << spans[k].text() << "'";
    }
  }
}

TEST_F(ExplainGoldenTest, PerTokenScoresMatchGolden) {
  const nlohmann::json& golden_case = golden_["cases"][0];
  SCOPED_TRACE("golden case " + golden_case["name"].get<std::string>());
  v1::ExplainRequest request = RequestFor(golden_case);
  request.set_target_granularity(v1::PER_TOKEN);
  const ExplainCall call = CallExplain(*stub_, request);
  ASSERT_TRUE(call.status.ok()) << call.status.error_code() << ": "
                                << call.status.error_message();
  ExpectProgressThenExplanation(call);
  const v1::Explanation& result = *call.explanation();
  EXPECT_EQ(result.settings().target_granularity(), v1::PER_TOKEN);

  const nlohmann::json& per_token = golden_case["scores_per_target_token"];
  const int target_tokens = static_cast<int>(golden_case["target_ids"].size());
  ASSERT_EQ(result.explanations_size(), target_tokens);
  for (int t = 0; t < target_tokens; ++t) {
    const v1::TokenExplanation& explanation = result.explanations(t);
    EXPECT_EQ(explanation.target_token_index(), t);
    ASSERT_EQ(explanation.spans_size(), static_cast<int>(per_token.size()));
    for (int k = 0; k < explanation.spans_size(); ++k) {
      const double expected = per_token[k][t];
      EXPECT_NEAR(explanation.spans(k).score(), expected, Tolerance(expected))
          << "unit " << k << " target token " << t;
    }
  }
}

}  // namespace
}  // namespace atman::service_test
