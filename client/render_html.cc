#include "client/render_html.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/colors.h"
#include "client/explanation_view.h"

namespace atman::client {
namespace {

constexpr char kStyle[] = R"css(
body { font-family: sans-serif; margin: 2em; color: #222; }
.prompt { font-family: monospace; white-space: pre-wrap; line-height: 1.8;
          border: 1px solid #ccc; padding: 0.8em; }
.unit { border-radius: 3px; }
.legend { margin: 0.5em 0 1.5em 0; font-family: monospace; }
.legend span.cell { display: inline-block; width: 1.6em; height: 1em;
                    vertical-align: middle; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
td.text { text-align: left; font-family: monospace; white-space: pre; }
)css";

std::string ColoredStyle(const Rgb& background) {
  return absl::StrCat("background:", CssHex(background),
                      ";color:", CssHex(TextColorFor(background)));
}

std::string RenderPrompt(const atman::v1::TokenExplanation& token_explanation,
                         const HtmlRenderOptions& options) {
  const double max_abs = MaxAbsScore(SpanScores(token_explanation));
  std::string html = "<div class=\"prompt\">";

  for (const PromptSegment& segment : SplitPrompt(token_explanation, options.prompt_text)) {
    if (!segment.is_unit) {
      html += HtmlEscape(segment.text);
      continue;
    }
    absl::StrAppend(&html, "<span class=\"unit\" style=\"",
                    ColoredStyle(ScoreToColor(segment.score, max_abs)), "\" title=\"",
                    FormatScore(segment.score), "\">", HtmlEscape(segment.text), "</span>");
  }
  return html + "</div>\n";
}

std::string RenderLegend(const std::vector<double>& scores, const HtmlRenderOptions& options) {
  const double low = ScaleLow(scores);
  const double high = MaxAbsScore(scores);
  const int cells = std::max(options.legend_cells, 2);
  std::string html = absl::StrCat("<div class=\"legend\">Scale: ", FormatScore(low), " ");

  for (int i = 0; i < cells; ++i) {
    const double score = low + (high - low) * i / (cells - 1);
    absl::StrAppend(&html,
                    "<span class=\"cell\" style=\"background:", CssHex(ScoreToColor(score, high)),
                    "\"></span>");
  }
  absl::StrAppend(&html, " ", FormatScore(high), "</div>\n");
  return html;
}

std::string RenderBaseline(const atman::v1::Explanation& explanation) {
  std::string html =
      "<h2>Baseline cross entropy per target token (nats)</h2>\n<table>\n"
      "<tr><th>index</th><th>token</th><th>cross entropy</th></tr>\n";
  for (int i = 0; i < explanation.baseline_cross_entropy_size(); ++i) {
    const std::string token =
        i < explanation.target_tokens_size() ? explanation.target_tokens(i).text() : "";
    absl::StrAppendFormat(&html, "<tr><td>%d</td><td class=\"text\">%s</td><td>%.4f</td></tr>\n", i,
                          HtmlEscape(token), explanation.baseline_cross_entropy(i));
  }
  return html + "</table>\n";
}

std::string RenderScoreTable(const atman::v1::TokenExplanation& token_explanation) {
  std::string html =
      "<table>\n<tr><th>unit</th><th>start</th><th>length</th><th>score</th>"
      "<th>text</th></tr>\n";
  for (int i = 0; i < token_explanation.spans_size(); ++i) {
    const atman::v1::Span& span = token_explanation.spans(i);
    absl::StrAppendFormat(&html,
                          "<tr><td>%d</td><td>%d</td><td>%d</td><td>%s</td>"
                          "<td class=\"text\">%s</td></tr>\n",
                          i, span.start(), span.length(), FormatScore(span.score()),
                          HtmlEscape(span.text()));
  }
  return html + "</table>\n";
}

std::string RenderHeader(const atman::v1::Explanation& explanation) {
  const std::string title = absl::StrCat("AtMan explanation: ", explanation.model());
  return absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
      HtmlEscape(title), "</title>\n<style>", kStyle, "</style>\n</head>\n<body>\n<h1>",
      HtmlEscape(title), "</h1>\n<p>Model version: ", HtmlEscape(explanation.model_version()),
      "<br>Settings: ", HtmlEscape(FormatSettings(explanation.settings())),
      "<br>Timing: ", HtmlEscape(FormatTiming(explanation.timing())), "</p>\n");
}

}  // namespace

std::string HtmlEscape(const std::string& text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      case '\'':
        escaped += "&#39;";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

std::string RenderExplanationHtml(const atman::v1::Explanation& explanation,
                                  const HtmlRenderOptions& options) {
  std::string html = RenderHeader(explanation);

  for (const atman::v1::TokenExplanation& token_explanation : explanation.explanations()) {
    absl::StrAppend(&html, "<h2>Prompt heatmap for ",
                    HtmlEscape(ExplainedTargetLabel(explanation, token_explanation)), "</h2>\n");
    absl::StrAppend(&html, RenderPrompt(token_explanation, options));
    absl::StrAppend(&html, RenderLegend(SpanScores(token_explanation), options));
  }

  absl::StrAppend(&html, "<h2>Target (", explanation.generated() ? "generated" : "given",
                  ")</h2>\n<div class=\"prompt\">", HtmlEscape(explanation.target()), "</div>\n");
  absl::StrAppend(&html, RenderBaseline(explanation));
  for (const atman::v1::TokenExplanation& token_explanation : explanation.explanations()) {
    absl::StrAppend(&html, "<h2>Scores for ",
                    HtmlEscape(ExplainedTargetLabel(explanation, token_explanation)), "</h2>\n");
    absl::StrAppend(&html, RenderScoreTable(token_explanation));
  }
  return html + "</body>\n</html>\n";
}

}  // namespace atman::client
