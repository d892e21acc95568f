#include "client/render_text.h"

#include <gtest/gtest.h>

#include <string>

#include "client/colors.h"
#include "tests/client/sample_explanation.h"

namespace atman::client {
namespace {

using testing::kSamplePrompt;
using testing::MakeCompleteExplanation;
using testing::MakePerTokenExplanation;

size_t CountOccurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

TEST(RenderTextTest, PlainHeatmapHasEachSpanAndScore) {
  TextRenderOptions options;
  options.prompt_text = kSamplePrompt;
  const std::string heatmap = RenderHeatmapText(MakeCompleteExplanation().explanations(0), options);

  EXPECT_EQ(heatmap, "The[+0.5] cat[-0.25] sat[+0] <script>[+1]\n");
}

TEST(RenderTextTest, PlainReportHasNoEscapeCodes) {
  TextRenderOptions options;
  options.prompt_text = kSamplePrompt;
  const std::string report = RenderExplanationText(MakeCompleteExplanation(), options);

  EXPECT_EQ(report.find('\x1b'), std::string::npos);
  EXPECT_NE(report.find("Model: tiny-llama (version 1)"), std::string::npos);
  EXPECT_NE(report.find("Target (given):  down"), std::string::npos);
  EXPECT_NE(report.find("2.5000"), std::string::npos);
  EXPECT_NE(report.find("0.7500"), std::string::npos);
  EXPECT_NE(report.find("\"<script>\""), std::string::npos);
  EXPECT_NE(report.find("Scale: scores from -1 to +1"), std::string::npos);
}

TEST(RenderTextTest, ColorHeatmapHasAnsiCodes) {
  TextRenderOptions options;
  options.color = true;
  options.prompt_text = kSamplePrompt;
  const std::string heatmap = RenderHeatmapText(MakeCompleteExplanation().explanations(0), options);

  EXPECT_NE(heatmap.find("\x1b[48;2;"), std::string::npos);
  EXPECT_NE(heatmap.find(kAnsiReset), std::string::npos);
  EXPECT_NE(heatmap.find(AnsiColor(kPositiveColor, TextColorFor(kPositiveColor)) + "<script>"),
            std::string::npos);
  EXPECT_NE(heatmap.find(AnsiColor(kNeutralColor, TextColorFor(kNeutralColor)) + "sat"),
            std::string::npos);
  EXPECT_EQ(heatmap.find("[+"), std::string::npos);
}

TEST(RenderTextTest, ColorLegendShowsBothEnds) {
  TextRenderOptions options;
  options.color = true;
  const std::string legend = RenderLegendText(-2, 2, options);

  EXPECT_NE(legend.find("-2"), std::string::npos);
  EXPECT_NE(legend.find("+2"), std::string::npos);
  EXPECT_EQ(CountOccurrences(legend, "\x1b[48;2;"), 11u);
  EXPECT_NE(legend.find(AnsiColor(kNegativeColor, TextColorFor(kNegativeColor))),
            std::string::npos);
}

TEST(RenderTextTest, PerTokenHasOneHeatmapPerToken) {
  TextRenderOptions options;
  options.prompt_text = kSamplePrompt;
  const std::string report = RenderExplanationText(MakePerTokenExplanation(), options);

  EXPECT_EQ(CountOccurrences(report, "Prompt heatmap for"), 2u);
  EXPECT_NE(report.find("Prompt heatmap for target token 0 \" do\""), std::string::npos);
  EXPECT_NE(report.find("Prompt heatmap for target token 1 \"wn\""), std::string::npos);
  EXPECT_NE(report.find("<script>[+2]"), std::string::npos);
}

TEST(RenderTextTest, UnknownPromptTextJoinsUnitsWithSpaces) {
  TextRenderOptions options;
  const std::string heatmap = RenderHeatmapText(MakeCompleteExplanation().explanations(0), options);

  EXPECT_EQ(heatmap, "The[+0.5] cat[-0.25] sat[+0] <script>[+1]\n");
}

TEST(RenderTextTest, ControlCharactersAreReplaced) {
  atman::v1::Explanation explanation = MakeCompleteExplanation();
  explanation.mutable_explanations(0)->mutable_spans(0)->set_text("T\x1b[2Jhe");
  explanation.set_target("evil\x1b]0;title\x07");
  const std::string report = RenderExplanationText(explanation, TextRenderOptions());

  EXPECT_EQ(report.find('\x1b'), std::string::npos);
  EXPECT_EQ(report.find('\x07'), std::string::npos);
  EXPECT_NE(report.find("T?[2Jhe"), std::string::npos);
}

TEST(RenderTextTest, ColorSpanWithNewlineResetsPerLine) {
  atman::v1::Explanation explanation = MakeCompleteExplanation();
  explanation.mutable_explanations(0)->mutable_spans(0)->set_text("The\nEnd");
  TextRenderOptions options;
  options.color = true;
  const std::string heatmap = RenderHeatmapText(explanation.explanations(0), options);

  EXPECT_NE(heatmap.find(std::string("The") + kAnsiReset + "\n\x1b[48;2;"), std::string::npos);
}

}  // namespace
}  // namespace atman::client
