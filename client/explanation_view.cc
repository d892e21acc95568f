#include "client/explanation_view.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/colors.h"

namespace atman::client {
namespace {

// Returns the byte offset of every code point of UTF-8 `text`, followed by
// text.size(). Continuation bytes never start a code point, so malformed
// input still gives increasing offsets.
std::vector<size_t> CodePointOffsets(const std::string& text) {
  std::vector<size_t> offsets;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte & 0xC0) != 0x80) offsets.push_back(i);
  }
  offsets.push_back(text.size());
  return offsets;
}

// Returns code points [begin, end) of the text that `offsets` indexes,
// clamping both ends to the text.
std::string CodePointSlice(const std::string& text, const std::vector<size_t>& offsets,
                           int64_t begin, int64_t end) {
  const auto last = static_cast<int64_t>(offsets.size()) - 1;
  begin = std::clamp<int64_t>(begin, 0, last);
  end = std::clamp<int64_t>(end, begin, last);
  return text.substr(offsets[begin], offsets[end] - offsets[begin]);
}

}  // namespace

std::vector<PromptSegment> SplitPrompt(const atman::v1::TokenExplanation& explanation,
                                       const std::string& prompt_text) {
  const std::vector<size_t> offsets = CodePointOffsets(prompt_text);
  const bool text_known = !prompt_text.empty();
  std::vector<PromptSegment> segments;
  int64_t cursor = 0;

  for (const atman::v1::Span& span : explanation.spans()) {
    if (span.start() > cursor) {
      std::string gap =
          text_known ? CodePointSlice(prompt_text, offsets, cursor, span.start()) : " ";
      segments.push_back(PromptSegment{std::move(gap), false, 0});
    }
    segments.push_back(PromptSegment{span.text(), true, span.score()});
    cursor = std::max<int64_t>(cursor, int64_t{span.start()} + span.length());
  }

  const auto prompt_length = static_cast<int64_t>(offsets.size()) - 1;
  if (text_known && cursor < prompt_length) {
    segments.push_back(
        PromptSegment{CodePointSlice(prompt_text, offsets, cursor, prompt_length), false, 0});
  }
  return segments;
}

std::vector<double> SpanScores(const atman::v1::TokenExplanation& explanation) {
  std::vector<double> scores;
  scores.reserve(explanation.spans_size());
  for (const atman::v1::Span& span : explanation.spans()) scores.push_back(span.score());
  return scores;
}

double ScaleLow(const std::vector<double>& scores) {
  const bool any_negative =
      std::any_of(scores.begin(), scores.end(), [](double score) { return score < 0; });
  return any_negative ? -MaxAbsScore(scores) : 0.0;
}

std::string FormatScore(double score) { return absl::StrFormat("%+.4g", score); }

std::string ExplainedTargetLabel(const atman::v1::Explanation& explanation,
                                 const atman::v1::TokenExplanation& token_explanation) {
  const int index = token_explanation.target_token_index();
  if (index < 0) return "the whole target";

  if (index < explanation.target_tokens_size()) {
    return absl::StrFormat("target token %d \"%s\"", index,
                           explanation.target_tokens(index).text());
  }
  return absl::StrFormat("target token %d", index);
}

std::string FormatSettings(const atman::v1::EffectiveSettings& settings) {
  std::string line =
      absl::StrCat("granularity=", atman::v1::Granularity_Name(settings.granularity()),
                   " control_mode=", atman::v1::ControlMode_Name(settings.control_mode()),
                   " control_factor=", settings.control_factor());
  if (!settings.delimiter().empty()) {
    absl::StrAppendFormat(&line, " delimiter=\"%s\"", settings.delimiter());
  }
  if (settings.has_similarity_threshold()) {
    absl::StrAppend(&line, " similarity_threshold=", settings.similarity_threshold());
  } else {
    absl::StrAppend(&line, " similarity_threshold=off");
  }
  absl::StrAppend(
      &line, " scale_by_similarity=", settings.scale_by_similarity() ? "true" : "false",
      " target_granularity=", atman::v1::TargetGranularity_Name(settings.target_granularity()),
      " postprocessing=", atman::v1::Postprocessing_Name(settings.postprocessing()),
      " normalize=", settings.normalize() ? "true" : "false",
      " max_new_tokens=", settings.max_new_tokens(), " batch_size=", settings.batch_size());
  return line;
}

std::string FormatTiming(const atman::v1::Timing& timing) {
  return absl::StrFormat("queue %.1f ms, compute %.1f ms, %d forward passes", timing.queue_ms(),
                         timing.compute_ms(), timing.forward_passes());
}

}  // namespace atman::client
