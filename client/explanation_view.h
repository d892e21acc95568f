// Views of an atman.v1.Explanation shared by the text and HTML renderers.
#ifndef ATMAN_CLIENT_EXPLANATION_VIEW_H_
#define ATMAN_CLIENT_EXPLANATION_VIEW_H_

#include <string>
#include <vector>

#include "atman/v1/atman.pb.h"

namespace atman::client {

// A piece of the prompt: either one explained unit or the text between units.
struct PromptSegment {
  std::string text;
  bool is_unit = false;
  // Score of the unit, or 0 for text between units.
  double score = 0;
};

// Splits the prompt into explained units and the text between them, in
// prompt order. `prompt_text` is the prompt the request sent, and span
// offsets index its code points. When it is empty (a prompt given as token ids), a
// single space stands for each gap between units, because the gap's text is
// not part of the explanation.
std::vector<PromptSegment> SplitPrompt(const atman::v1::TokenExplanation& explanation,
                                       const std::string& prompt_text);

// Returns the scores of the spans, in prompt order.
std::vector<double> SpanScores(const atman::v1::TokenExplanation& explanation);

// Returns the lower end of the colour scale: minus the largest absolute score
// when any score is negative, else 0.
double ScaleLow(const std::vector<double>& scores);

// Formats a score with a sign and four significant digits, e.g. "+0.1235".
std::string FormatScore(double score);

// Returns a heading such as `the whole target` or `target token 2 "Paris"`.
std::string ExplainedTargetLabel(const atman::v1::Explanation& explanation,
                                 const atman::v1::TokenExplanation& token_explanation);

// Returns one line with the effective settings, e.g.
// "granularity=WORD control_mode=MULTIPLICATIVE control_factor=0.1 ...".
std::string FormatSettings(const atman::v1::EffectiveSettings& settings);

// Returns e.g. "queue 1.2 ms, compute 30.5 ms, 12 forward passes".
std::string FormatTiming(const atman::v1::Timing& timing);

}  // namespace atman::client

#endif  // ATMAN_CLIENT_EXPLANATION_VIEW_H_
