// Inputs that explanation tools have been seen to get wrong, sent through the
// real gRPC server on loopback. Each gets the documented status code and a
// message that names the field, or an explanation whose spans and tokens
// match the text exactly.

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "server/engine/tokenizer.h"
#include "tests/engine/test_paths.h"
#include "tests/service/service_test_support.h"

namespace atman::service_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class BadInputsTest : public ::testing::Test {
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
    stub_ = LoopbackStub(server_->server->port());
  }

  ExplainCall Call(const v1::ExplainRequest& request) { return CallExplain(*stub_, request); }

  // A small request that succeeds, to show the server still serves.
  void ExpectServerStillServes() {
    const ExplainCall call = Call(TextRequest("Tom had a big red ball.", " He"));
    EXPECT_TRUE(call.status.ok()) << call.status.error_code() << ": "
                                  << call.status.error_message();
    EXPECT_NE(call.explanation(), nullptr);
  }

  static std::unique_ptr<engine::Tokenizer> LoadTokenizer() {
    auto tokenizer =
        engine::LoadSentencePieceTokenizer(atman::testing::Stories260kDir() + "/tok512.model");
    EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
    return tokenizer.ok() ? *std::move(tokenizer) : nullptr;
  }

  static TestServer* server_;
  std::unique_ptr<v1::Explainer::Stub> stub_;
};

TestServer* BadInputsTest::server_ = nullptr;

std::vector<int32_t> TokenIds(const google::protobuf::RepeatedPtrField<v1::Token>& tokens) {
  std::vector<int32_t> ids;
  for (const v1::Token& token : tokens) ids.push_back(token.id());
  return ids;
}

// Checks that spans and tokens of an explanation of `target` after `prompt`
// agree with the text. Every span and token text is valid UTF-8 and equals
// the substring at its code-point offsets. Spans lie inside the prompt in
// order, and the last target token ends at the last code point of the text.
void ExpectSpansMatchText(const std::string& prompt, const std::string& target,
                          const v1::Explanation& explanation) {
  const std::string joined = prompt + target;
  const int32_t prompt_code_points = CodePointCount(prompt);

  ASSERT_EQ(explanation.explanations_size(), 1);
  int32_t previous_start = 0;
  for (const v1::Span& span : explanation.explanations(0).spans()) {
    SCOPED_TRACE(absl::StrCat("span at ", span.start(), "+", span.length()));
    EXPECT_TRUE(IsValidUtf8(span.text())) << "span text splits a code point";
    EXPECT_EQ(span.text(), CodePointSubstr(prompt, span.start(), span.length()));
    EXPECT_GE(span.start(), previous_start) << "spans are not in prompt order";
    EXPECT_LE(span.start() + span.length(), prompt_code_points);
    EXPECT_FALSE(span.token_positions().empty());
    previous_start = span.start();
  }

  ASSERT_FALSE(explanation.prompt_tokens().empty());
  EXPECT_EQ(explanation.prompt_tokens(0).length(), 0) << "BOS covers no text";
  for (const auto* tokens : {&explanation.prompt_tokens(), &explanation.target_tokens()}) {
    for (const v1::Token& token : *tokens) {
      SCOPED_TRACE(absl::StrCat("token ", token.id(), " at ", token.start(), "+", token.length()));
      EXPECT_TRUE(IsValidUtf8(token.text())) << "token text splits a code point";
      EXPECT_EQ(token.text(), CodePointSubstr(joined, token.start(), token.length()));
    }
  }
  ASSERT_FALSE(explanation.target_tokens().empty());
  const v1::Token& last = *explanation.target_tokens().rbegin();
  EXPECT_EQ(last.start() + last.length(), CodePointCount(joined))
      << "offsets must count code points, not bytes (" << joined.size() << " bytes)";
}

// The concatenated token texts after BOS, for texts whose tokens do not
// overlap (no byte-fallback tokens).
std::string ConcatenatedTokenText(const v1::Explanation& explanation) {
  std::string text;
  for (int i = 1; i < explanation.prompt_tokens_size(); ++i) {
    text += explanation.prompt_tokens(i).text();
  }
  for (const v1::Token& token : explanation.target_tokens()) text += token.text();
  return text;
}

TEST_F(BadInputsTest, EmptyPromptIsInvalid) {
  const ExplainCall call = Call(TextRequest("", " ball"));
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(call.status.error_message(), HasSubstr("prompt"));
  EXPECT_TRUE(call.messages.empty());
}

TEST_F(BadInputsTest, MissingPromptIsInvalid) {
  v1::ExplainRequest request = TextRequest("unused", " ball");
  request.clear_prompt();
  const ExplainCall call = Call(request);
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(call.status.error_message(), HasSubstr("prompt"));
}

TEST_F(BadInputsTest, EmptyTargetWithoutGenerationIsInvalid) {
  v1::ExplainRequest request = TextRequest("Tom had a big red ball.", "");
  request.set_max_new_tokens(0);
  const ExplainCall call = Call(request);
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(call.status.error_message(), HasSubstr("target"));
  EXPECT_THAT(call.status.error_message(), HasSubstr("max_new_tokens"));
}

TEST_F(BadInputsTest, PromptLongerThanContextIsOutOfRange) {
  grpc::ClientContext context;
  v1::ListModelsResponse models;
  ASSERT_TRUE(stub_->ListModels(&context, v1::ListModelsRequest(), &models).ok());
  ASSERT_EQ(models.models_size(), 1);
  const int64_t context_length = models.models(0).context_length();
  ASSERT_EQ(context_length, 512);

  // About 2,000 words: 334 sentences of 6 words.
  std::string prompt;
  for (int i = 0; i < 334; ++i) prompt += "Tom had a big red ball. ";
  prompt.pop_back();
  const std::string target = " He";
  const std::unique_ptr<engine::Tokenizer> tokenizer = LoadTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  const auto encoded = tokenizer->Encode(prompt);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  const std::string prompt_tokens_with_bos = absl::StrCat(encoded->size() + 1);

  const ExplainCall call = Call(TextRequest(prompt, target));
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  const std::string& message = call.status.error_message();
  EXPECT_TRUE(std::regex_search(message, std::regex("\\b" + prompt_tokens_with_bos + "\\b")))
      << "the message does not state the prompt's " << prompt_tokens_with_bos
      << " tokens: " << message;
  EXPECT_TRUE(std::regex_search(message, std::regex("\\b512\\b")))
      << "the message does not state the context length 512: " << message;
}

TEST_F(BadInputsTest, NonFiniteOrNegativeControlFactorIsInvalid) {
  const std::vector<std::pair<float, std::string>> factors = {
      {std::numeric_limits<float>::quiet_NaN(), "nan"},
      {std::numeric_limits<float>::infinity(), "inf"},
      {-0.5f, "-0.5"},
  };
  for (const auto& [factor, written] : factors) {
    SCOPED_TRACE("control_factor " + written);
    v1::ExplainRequest request = TextRequest("Tom had a big red ball.", " He");
    request.set_control_factor(factor);
    const ExplainCall call = Call(request);
    EXPECT_EQ(call.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(call.status.error_message(), HasSubstr("control_factor"));
    EXPECT_THAT(call.status.error_message(), HasSubstr(written));
  }
}

TEST_F(BadInputsTest, ZeroControlFactorWithLogAdditiveIsInvalid) {
  v1::ExplainRequest request = TextRequest("Tom had a big red ball.", " He");
  request.set_control_mode(v1::LOG_ADDITIVE);
  request.set_control_factor(0.0f);
  const ExplainCall call = Call(request);
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(call.status.error_message(), HasSubstr("control_factor 0 "));
  EXPECT_THAT(call.status.error_message(), HasSubstr("LOG_ADDITIVE"));
}

TEST_F(BadInputsTest, UnknownModelIsNotFound) {
  v1::ExplainRequest request = TextRequest("Tom had a big red ball.", " He");
  request.set_model("no-such-model");
  const ExplainCall call = Call(request);
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(call.status.error_message(), HasSubstr("no-such-model"));
  EXPECT_THAT(call.status.error_message(), HasSubstr(kModelName)) << "loaded models are listed";
}

TEST_F(BadInputsTest, InvalidUtf8IsInvalidAndServerKeepsServing) {
  const std::vector<std::string> invalid = {
      std::string("Tom \xff\xfe ball"),    // bytes that never occur in UTF-8
      std::string("Tom \xc3\x28 ball"),    // lead byte without its continuation
      std::string("Tom \xf0\x9f\x98"),     // truncated 4-byte sequence at the end
      std::string("Tom \xc0\xaf ball"),    // overlong encoding of '/'
      std::string("Tom \xed\xa0\x80 ball"),  // UTF-16 surrogate
  };
  for (const std::string& prompt : invalid) {
    SCOPED_TRACE("prompt bytes of size " + std::to_string(prompt.size()));
    const ExplainCall call = Call(TextRequest(prompt, " He"));
    EXPECT_EQ(call.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(call.status.error_message(), HasSubstr("prompt"));
    EXPECT_THAT(call.status.error_message(), HasSubstr("UTF-8"));
  }

  const ExplainCall target_call = Call(TextRequest("Tom had a big red ball.", " \xff"));
  EXPECT_EQ(target_call.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(target_call.status.error_message(), HasSubstr("target"));

  ExpectServerStillServes();
}

TEST_F(BadInputsTest, CustomGranularityWithEmptyDelimiterIsInvalid) {
  v1::ExplainRequest request = TextRequest("Tom had a big red ball; he liked it.", " He");
  request.set_granularity(v1::CUSTOM);
  request.set_delimiter("");
  const ExplainCall call = Call(request);
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(call.status.error_message(), HasSubstr("delimiter"));
}

TEST_F(BadInputsTest, IrregularWhitespaceSpansMatchText) {
  const std::string prompt = "Hello . This is  a\ttest";
  const std::string target = " of";
  for (const v1::Granularity granularity : {v1::TOKEN, v1::WORD}) {
    SCOPED_TRACE(v1::Granularity_Name(granularity));
    v1::ExplainRequest request = TextRequest(prompt, target);
    request.set_granularity(granularity);
    const ExplainCall call = Call(request);
    ASSERT_TRUE(call.status.ok()) << call.status.error_code() << ": "
                                  << call.status.error_message();
    ExpectSpansMatchText(prompt, target, *call.explanation());
    EXPECT_EQ(ConcatenatedTokenText(*call.explanation()), prompt + target);
  }
}

TEST_F(BadInputsTest, EmojiSpansAreWholeCodePoints) {
  // Red heart with variation selector, unicorn, and a family joined by
  // zero-width joiners. The target is another emoji.
  const std::string prompt = "I \u2764\ufe0f \U0001F984 \U0001F468\u200d\U0001F469\u200d\U0001F467 ok";
  const std::string target = " \U0001F602";
  for (const v1::Granularity granularity : {v1::TOKEN, v1::WORD}) {
    SCOPED_TRACE(v1::Granularity_Name(granularity));
    v1::ExplainRequest request = TextRequest(prompt, target);
    request.set_granularity(granularity);
    const ExplainCall call = Call(request);
    ASSERT_TRUE(call.status.ok()) << call.status.error_code() << ": "
                                  << call.status.error_message();
    ExpectSpansMatchText(prompt, target, *call.explanation());
  }
}

TEST_F(BadInputsTest, CombiningMarksAndCrlfCountCodePoints) {
  // A combining acute accent, CRLF, and a zero-width space: 2, 1+1 and 3
  // bytes that each count as one code point.
  const std::string prompt = "cafe\u0301\r\nzero\u200bwidth";
  const std::string target = " ok";
  ASSERT_EQ(CodePointCount(prompt), 17);
  for (const v1::Granularity granularity : {v1::TOKEN, v1::WORD}) {
    SCOPED_TRACE(v1::Granularity_Name(granularity));
    v1::ExplainRequest request = TextRequest(prompt, target);
    request.set_granularity(granularity);
    const ExplainCall call = Call(request);
    ASSERT_TRUE(call.status.ok()) << call.status.error_code() << ": "
                                  << call.status.error_message();
    ExpectSpansMatchText(prompt, target, *call.explanation());
  }
}

TEST_F(BadInputsTest, LiteralBosTextIsPlainText) {
  const std::string prompt = "Tom said <s> to the dog.";
  const std::string target = " The";
  const std::unique_ptr<engine::Tokenizer> tokenizer = LoadTokenizer();
  ASSERT_NE(tokenizer, nullptr);

  const ExplainCall call = Call(TextRequest(prompt, target));
  ASSERT_TRUE(call.status.ok()) << call.status.error_code() << ": "
                                << call.status.error_message();
  const v1::Explanation& explanation = *call.explanation();
  ExpectSpansMatchText(prompt, target, explanation);
  EXPECT_EQ(ConcatenatedTokenText(explanation), prompt + target);

  const std::vector<int32_t> prompt_ids = TokenIds(explanation.prompt_tokens());
  const std::vector<int32_t> target_ids = TokenIds(explanation.target_tokens());
  ASSERT_FALSE(prompt_ids.empty());
  EXPECT_EQ(prompt_ids[0], tokenizer->bos_id());
  EXPECT_EQ(std::count(prompt_ids.begin(), prompt_ids.end(), tokenizer->bos_id()), 1)
      << "BOS must be added once and \"<s>\" encoded as text";
  EXPECT_EQ(std::count(target_ids.begin(), target_ids.end(), tokenizer->bos_id()), 0);
}

TEST_F(BadInputsTest, TargetMergingWithPromptUsesJointTokens) {
  const std::unique_ptr<engine::Tokenizer> tokenizer = LoadTokenizer();
  ASSERT_NE(tokenizer, nullptr);
  // With this vocabulary "walk" + "ing" stays split at the boundary, while
  // "ba" + "ll" becomes " b" + "all", so the first target token starts inside
  // the prompt.
  struct MergeCase {
    std::string prompt;
    std::string target;
    bool merges;
  };
  for (const MergeCase& merge_case : {MergeCase{"He went for a walk", "ing", false},
                                      MergeCase{"Tom had a big red ba", "ll", true}}) {
    SCOPED_TRACE(merge_case.prompt + " | " + merge_case.target);
    const auto joint = tokenizer->Encode(merge_case.prompt + merge_case.target);
    ASSERT_TRUE(joint.ok()) << joint.status();
    std::vector<int32_t> joint_ids;
    for (const engine::EncodedToken& token : *joint) joint_ids.push_back(token.id);

    const ExplainCall call = Call(TextRequest(merge_case.prompt, merge_case.target));
    ASSERT_TRUE(call.status.ok()) << call.status.error_code() << ": "
                                  << call.status.error_message();
    const v1::Explanation& explanation = *call.explanation();
    ExpectSpansMatchText(merge_case.prompt, merge_case.target, explanation);
    EXPECT_EQ(explanation.target(), merge_case.target);
    EXPECT_EQ(ConcatenatedTokenText(explanation), merge_case.prompt + merge_case.target);

    std::vector<int32_t> reported = TokenIds(explanation.prompt_tokens());
    ASSERT_FALSE(reported.empty());
    EXPECT_EQ(reported[0], tokenizer->bos_id());
    reported.erase(reported.begin());
    for (const v1::Token& token : explanation.target_tokens()) reported.push_back(token.id());
    EXPECT_EQ(reported, joint_ids) << "prompt and target tokens must be the joint tokenization";

    ASSERT_FALSE(explanation.target_tokens().empty());
    const int32_t prompt_code_points = CodePointCount(merge_case.prompt);
    if (merge_case.merges) {
      EXPECT_LT(explanation.target_tokens(0).start(), prompt_code_points)
          << "the merged token must be reported as a target token that starts in the prompt";
    } else {
      EXPECT_EQ(explanation.target_tokens(0).start(), prompt_code_points);
    }
  }
}

TEST_F(BadInputsTest, UndefinedEnumValueIsInvalid) {
  struct EnumCase {
    std::string field;
    std::function<void(v1::ExplainRequest*)> set_undefined;
  };
  const std::vector<EnumCase> cases = {
      {"granularity",
       [](v1::ExplainRequest* r) { r->set_granularity(static_cast<v1::Granularity>(99)); }},
      {"control_mode",
       [](v1::ExplainRequest* r) { r->set_control_mode(static_cast<v1::ControlMode>(99)); }},
      {"target_granularity",
       [](v1::ExplainRequest* r) {
         r->set_target_granularity(static_cast<v1::TargetGranularity>(99));
       }},
      {"postprocessing",
       [](v1::ExplainRequest* r) {
         r->set_postprocessing(static_cast<v1::Postprocessing>(99));
       }},
  };
  for (const EnumCase& enum_case : cases) {
    SCOPED_TRACE(enum_case.field);
    v1::ExplainRequest request = TextRequest("Tom had a big red ball.", " He");
    enum_case.set_undefined(&request);
    const ExplainCall call = Call(request);
    EXPECT_EQ(call.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    const std::string& message = call.status.error_message();
    EXPECT_THAT(message, HasSubstr(enum_case.field + " = 99"));
    if (enum_case.field == "granularity") EXPECT_THAT(message, Not(HasSubstr("target_")));
  }
}

TEST_F(BadInputsTest, HugeMaxNewTokensIsRejectedBeforeWork) {
  const std::string before = ScrapeMetrics(*server_->server);
  v1::ExplainRequest request = TextRequest("Tom had a big red ball.", "");
  request.set_max_new_tokens(1000000000);
  const ExplainCall call = Call(request);
  EXPECT_THAT(call.status.error_code(),
              ::testing::AnyOf(grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::OUT_OF_RANGE));
  EXPECT_THAT(call.status.error_message(), HasSubstr("max_new_tokens"));
  EXPECT_TRUE(call.messages.empty());

  const std::string after = ScrapeMetrics(*server_->server);
  EXPECT_EQ(MetricValue(after, "atman_forward_passes_total"),
            MetricValue(before, "atman_forward_passes_total"))
      << "no forward pass may run for a rejected request";
}

TEST_F(BadInputsTest, OversizedMessageIsResourceExhausted) {
  // 8 MiB of prompt against the server's 4 MiB message limit.
  ASSERT_EQ(service::ServerOptions().max_message_bytes, 4 << 20);
  const std::string prompt(8 << 20, 'a');
  const ExplainCall call = Call(TextRequest(prompt, " He"));
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << call.status.error_message();
  EXPECT_TRUE(call.messages.empty());

  ExpectServerStillServes();
}

}  // namespace
}  // namespace atman::service_test
