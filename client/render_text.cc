#include "client/render_text.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/colors.h"
#include "client/explanation_view.h"

namespace atman::client {
namespace {

// Replaces C0 and C1 control characters other than newline and tab with '?'.
std::string SanitizeForTerminal(const std::string& text) {
  std::string clean;
  clean.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const bool c1 = byte == 0xC2 && i + 1 < text.size() &&
                    static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(text[i + 1]) <= 0x9F;
    if (c1) {
      clean += '?';
      ++i;
    } else if ((byte < 0x20 && byte != '\n' && byte != '\t') || byte == 0x7F) {
      clean += '?';
    } else {
      clean += text[i];
    }
  }
  return clean;
}

// Shows newlines and tabs as \n and \t so a table row stays on one line.
std::string EscapeForCell(const std::string& text) {
  std::string escaped;
  for (char c : SanitizeForTerminal(text)) {
    if (c == '\n') {
      escaped += "\\n";
    } else if (c == '\t') {
      escaped += "\\t";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

// Colours `text` line by line, so no background colour runs to the end of a
// terminal line.
std::string ColorText(const std::string& text, const Rgb& background) {
  const std::string start = AnsiColor(background, TextColorFor(background));
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  std::string colored;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) colored += '\n';
    if (!lines[i].empty()) absl::StrAppend(&colored, start, lines[i], kAnsiReset);
  }
  return colored;
}

std::string RenderSummary(const atman::v1::Explanation& explanation) {
  std::string summary =
      absl::StrFormat("Model: %s (version %s)\n", explanation.model(), explanation.model_version());
  absl::StrAppend(&summary, "Settings: ", FormatSettings(explanation.settings()), "\n");
  absl::StrAppend(&summary, "Timing: ", FormatTiming(explanation.timing()), "\n");
  return summary;
}

std::string RenderTarget(const atman::v1::Explanation& explanation) {
  return absl::StrCat("Target (", explanation.generated() ? "generated" : "given",
                      "): ", SanitizeForTerminal(explanation.target()), "\n");
}

std::string RenderBaseline(const atman::v1::Explanation& explanation) {
  std::string out = "Baseline cross entropy per target token (nats):\n";
  for (int i = 0; i < explanation.baseline_cross_entropy_size(); ++i) {
    const std::string token = i < explanation.target_tokens_size()
                                  ? EscapeForCell(explanation.target_tokens(i).text())
                                  : "";
    absl::StrAppendFormat(&out, "  %4d  %-20s %10.4f\n", i, absl::StrCat("\"", token, "\""),
                          explanation.baseline_cross_entropy(i));
  }
  return out;
}

std::string RenderScoreTable(const atman::v1::TokenExplanation& token_explanation) {
  std::string table =
      absl::StrFormat("  %4s %6s %6s %12s  %s\n", "unit", "start", "length", "score", "text");
  for (int i = 0; i < token_explanation.spans_size(); ++i) {
    const atman::v1::Span& span = token_explanation.spans(i);
    absl::StrAppendFormat(&table, "  %4d %6d %6d %12s  \"%s\"\n", i, span.start(), span.length(),
                          FormatScore(span.score()), EscapeForCell(span.text()));
  }
  return table;
}

}  // namespace

std::string RenderHeatmapText(const atman::v1::TokenExplanation& token_explanation,
                              const TextRenderOptions& options) {
  const double max_abs = MaxAbsScore(SpanScores(token_explanation));
  std::string out;

  for (const PromptSegment& segment : SplitPrompt(token_explanation, options.prompt_text)) {
    const std::string text = SanitizeForTerminal(segment.text);
    if (!segment.is_unit) {
      out += text;
    } else if (options.color) {
      out += ColorText(text, ScoreToColor(segment.score, max_abs));
    } else {
      absl::StrAppend(&out, text, "[", FormatScore(segment.score), "]");
    }
  }
  return out + "\n";
}

std::string RenderLegendText(double low, double high, const TextRenderOptions& options) {
  if (!options.color) {
    return absl::StrCat("Scale: scores from ", FormatScore(low), " to ", FormatScore(high),
                        ", shown in brackets after each unit\n");
  }

  const double max_abs = std::max(std::fabs(low), std::fabs(high));
  const int cells = std::max(options.legend_cells, 2);
  std::string legend = absl::StrCat("Scale: ", FormatScore(low), " ");
  for (int i = 0; i < cells; ++i) {
    const double score = low + (high - low) * i / (cells - 1);
    absl::StrAppend(&legend, ColorText("  ", ScoreToColor(score, max_abs)));
  }
  absl::StrAppend(&legend, " ", FormatScore(high), "\n");
  return legend;
}

std::string RenderExplanationText(const atman::v1::Explanation& explanation,
                                  const TextRenderOptions& options) {
  std::string out = RenderSummary(explanation);

  for (const atman::v1::TokenExplanation& token_explanation : explanation.explanations()) {
    const std::vector<double> scores = SpanScores(token_explanation);
    absl::StrAppend(&out, "\nPrompt heatmap for ",
                    EscapeForCell(ExplainedTargetLabel(explanation, token_explanation)),
                    ":\n");
    absl::StrAppend(&out, RenderHeatmapText(token_explanation, options));
    absl::StrAppend(&out, RenderLegendText(ScaleLow(scores), MaxAbsScore(scores), options));
  }

  absl::StrAppend(&out, "\n", RenderTarget(explanation));
  absl::StrAppend(&out, "\n", RenderBaseline(explanation));
  for (const atman::v1::TokenExplanation& token_explanation : explanation.explanations()) {
    absl::StrAppend(&out, "\nScores for ",
                    EscapeForCell(ExplainedTargetLabel(explanation, token_explanation)), ":\n");
    absl::StrAppend(&out, RenderScoreTable(token_explanation));
  }
  return out;
}

}  // namespace atman::client
