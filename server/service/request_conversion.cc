#include "server/service/request_conversion.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace atman::service {
namespace {

// INVALID_ARGUMENT for an enum number that `is_valid` rejects.
template <typename IsValid>
absl::Status CheckEnum(const char* field, int value, IsValid is_valid, const char* accepted) {
  if (is_valid(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " = ", value,
                                                 " is not a defined value; use one of ", accepted));
}

absl::Status CheckEnums(const v1::ExplainRequest& request) {
  absl::Status status = CheckEnum("granularity", request.granularity(), v1::Granularity_IsValid,
                                  "TOKEN, WORD, SENTENCE, PARAGRAPH, CUSTOM");
  status.Update(CheckEnum("control_mode", request.control_mode(), v1::ControlMode_IsValid,
                          "MULTIPLICATIVE, LOG_ADDITIVE"));
  status.Update(CheckEnum("target_granularity", request.target_granularity(),
                          v1::TargetGranularity_IsValid, "COMPLETE, PER_TOKEN"));
  status.Update(CheckEnum("postprocessing", request.postprocessing(),
                          v1::Postprocessing_IsValid, "NONE, ABSOLUTE, SQUARE"));
  return status;
}

engine::Granularity ToGranularity(v1::Granularity granularity) {
  switch (granularity) {
    case v1::WORD:
      return engine::Granularity::kWord;
    case v1::SENTENCE:
      return engine::Granularity::kSentence;
    case v1::PARAGRAPH:
      return engine::Granularity::kParagraph;
    case v1::CUSTOM:
      return engine::Granularity::kCustom;
    default:
      return engine::Granularity::kToken;
  }
}

engine::Postprocessing ToPostprocessing(v1::Postprocessing postprocessing) {
  switch (postprocessing) {
    case v1::ABSOLUTE:
      return engine::Postprocessing::kAbsolute;
    case v1::SQUARE:
      return engine::Postprocessing::kSquare;
    default:
      return engine::Postprocessing::kNone;
  }
}

v1::Granularity FromGranularity(engine::Granularity granularity) {
  switch (granularity) {
    case engine::Granularity::kWord:
      return v1::WORD;
    case engine::Granularity::kSentence:
      return v1::SENTENCE;
    case engine::Granularity::kParagraph:
      return v1::PARAGRAPH;
    case engine::Granularity::kCustom:
      return v1::CUSTOM;
    case engine::Granularity::kToken:
      break;
  }
  return v1::TOKEN;
}

v1::Postprocessing FromPostprocessing(engine::Postprocessing postprocessing) {
  switch (postprocessing) {
    case engine::Postprocessing::kAbsolute:
      return v1::ABSOLUTE;
    case engine::Postprocessing::kSquare:
      return v1::SQUARE;
    case engine::Postprocessing::kNone:
      break;
  }
  return v1::NONE;
}

absl::Status FillPrompt(const v1::ExplainRequest& request, engine::ExplainInput& input) {
  switch (request.prompt().input_case()) {
    case v1::Prompt::kText:
      input.prompt_is_text = true;
      input.prompt_text = request.prompt().text();
      return absl::OkStatus();
    case v1::Prompt::kTokenIds:
      input.prompt_is_text = false;
      input.prompt_token_ids.assign(request.prompt().token_ids().ids().begin(),
                                    request.prompt().token_ids().ids().end());
      return absl::OkStatus();
    case v1::Prompt::INPUT_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "prompt is missing: set prompt.text or prompt.token_ids to the input to explain");
}

void FillTokens(const std::vector<engine::TokenInfo>& tokens,
                google::protobuf::RepeatedPtrField<v1::Token>* out) {
  for (const engine::TokenInfo& token : tokens) {
    v1::Token* proto = out->Add();
    proto->set_id(token.id);
    proto->set_text(token.text);
    proto->set_start(token.start);
    proto->set_length(token.length);
  }
}

}  // namespace

absl::StatusOr<engine::ExplainInput> ToExplainInput(const v1::ExplainRequest& request) {
  const absl::Status enums = CheckEnums(request);
  if (!enums.ok()) return enums;

  engine::ExplainInput input;
  const absl::Status prompt = FillPrompt(request, input);
  if (!prompt.ok()) return prompt;
  input.target = request.target();
  input.max_new_tokens = request.max_new_tokens();

  engine::ExplainSettings& settings = input.settings;
  settings.granularity = ToGranularity(request.granularity());
  settings.delimiter = request.delimiter();
  settings.control_mode = request.control_mode() == v1::LOG_ADDITIVE
                              ? engine::ControlMode::kLogAdditive
                              : engine::ControlMode::kMultiplicative;
  if (request.has_control_factor()) settings.control_factor = request.control_factor();
  if (request.has_similarity_threshold()) {
    settings.similarity_threshold = request.similarity_threshold();
  }
  if (request.has_scale_by_similarity()) {
    settings.scale_by_similarity = request.scale_by_similarity();
  }
  settings.target_granularity = request.target_granularity() == v1::PER_TOKEN
                                    ? engine::TargetGranularity::kPerToken
                                    : engine::TargetGranularity::kComplete;
  settings.postprocessing = ToPostprocessing(request.postprocessing());
  settings.normalize = request.normalize();
  return input;
}

v1::EffectiveSettings ToEffectiveSettings(const engine::ExplainSettings& settings,
                                          uint32_t max_new_tokens, uint32_t batch_size) {
  v1::EffectiveSettings out;
  out.set_granularity(FromGranularity(settings.granularity));
  out.set_delimiter(settings.delimiter);
  out.set_control_mode(settings.control_mode == engine::ControlMode::kLogAdditive
                           ? v1::LOG_ADDITIVE
                           : v1::MULTIPLICATIVE);
  out.set_control_factor(settings.control_factor);
  if (settings.similarity_threshold.has_value()) {
    out.set_similarity_threshold(*settings.similarity_threshold);
  }
  out.set_scale_by_similarity(settings.scale_by_similarity);
  out.set_target_granularity(settings.target_granularity == engine::TargetGranularity::kPerToken
                                 ? v1::PER_TOKEN
                                 : v1::COMPLETE);
  out.set_postprocessing(FromPostprocessing(settings.postprocessing));
  out.set_normalize(settings.normalize);
  out.set_max_new_tokens(max_new_tokens);
  out.set_batch_size(batch_size);
  return out;
}

void FillExplanation(const engine::ExplainResult& result, v1::Explanation* explanation) {
  explanation->set_model(result.model);
  explanation->set_model_version(result.model_version);
  FillTokens(result.prompt_tokens, explanation->mutable_prompt_tokens());
  FillTokens(result.target_tokens, explanation->mutable_target_tokens());
  explanation->set_target(result.target);
  explanation->set_generated(result.generated);
  for (double ce : result.baseline_cross_entropy) explanation->add_baseline_cross_entropy(ce);

  for (const engine::ScoreSet& set : result.explanations) {
    v1::TokenExplanation* out = explanation->add_explanations();
    out->set_target_token_index(set.target_token_index);
    for (const engine::UnitScore& unit_score : set.spans) {
      v1::Span* span = out->add_spans();
      span->set_start(unit_score.unit.start);
      span->set_length(unit_score.unit.length);
      span->set_text(unit_score.unit.text);
      for (int32_t position : unit_score.unit.token_positions) span->add_token_positions(position);
      span->set_score(unit_score.score);
    }
  }
}

void FillModelDescription(const engine::ModelInfo& info, const std::vector<std::string>& devices,
                          bool is_default, v1::ModelDescription* description) {
  description->set_name(info.name);
  description->set_version(info.version);
  description->set_architecture(info.architecture);
  description->set_context_length(info.context_length);
  description->set_vocab_size(info.vocab_size);
  description->set_parameters(info.parameters);
  description->set_dtype(info.dtype);
  for (const std::string& device : devices) description->add_devices(device);
  description->set_format(info.format);
  description->set_is_default(is_default);
}

}  // namespace atman::service
