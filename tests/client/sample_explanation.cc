#include "tests/client/sample_explanation.h"

#include <string>

namespace atman::client::testing {
namespace {

void AddSpan(atman::v1::TokenExplanation* explanation, int start, const std::string& text,
             double score) {
  atman::v1::Span* span = explanation->add_spans();
  span->set_start(start);
  span->set_length(static_cast<int>(text.size()));
  span->set_text(text);
  span->add_token_positions(explanation->spans_size());
  span->set_score(score);
}

void AddWordSpans(atman::v1::TokenExplanation* explanation, double scale) {
  AddSpan(explanation, 0, "The", 0.5 * scale);
  AddSpan(explanation, 4, "cat", -0.25 * scale);
  AddSpan(explanation, 8, "sat", 0.0);
  AddSpan(explanation, 12, "<script>", 1.0 * scale);
}

atman::v1::Explanation MakeBase(atman::v1::TargetGranularity target_granularity) {
  atman::v1::Explanation explanation;
  explanation.set_model("tiny-llama");
  explanation.set_model_version("1");
  explanation.mutable_settings()->set_granularity(atman::v1::WORD);
  explanation.mutable_settings()->set_control_mode(atman::v1::MULTIPLICATIVE);
  explanation.mutable_settings()->set_control_factor(0.1f);
  explanation.mutable_settings()->set_target_granularity(target_granularity);
  explanation.set_target(" down");

  atman::v1::Token* first = explanation.add_target_tokens();
  first->set_text(" do");
  atman::v1::Token* second = explanation.add_target_tokens();
  second->set_text("wn");
  explanation.add_baseline_cross_entropy(2.5);
  explanation.add_baseline_cross_entropy(0.75);
  explanation.mutable_timing()->set_compute_ms(12.5);
  explanation.mutable_timing()->set_forward_passes(5);
  return explanation;
}

}  // namespace

atman::v1::Explanation MakeCompleteExplanation() {
  atman::v1::Explanation explanation = MakeBase(atman::v1::COMPLETE);
  atman::v1::TokenExplanation* complete = explanation.add_explanations();
  complete->set_target_token_index(-1);
  AddWordSpans(complete, 1.0);
  return explanation;
}

atman::v1::Explanation MakePerTokenExplanation() {
  atman::v1::Explanation explanation = MakeBase(atman::v1::PER_TOKEN);
  for (int index = 0; index < 2; ++index) {
    atman::v1::TokenExplanation* per_token = explanation.add_explanations();
    per_token->set_target_token_index(index);
    AddWordSpans(per_token, index + 1.0);
  }
  return explanation;
}

}  // namespace atman::client::testing
