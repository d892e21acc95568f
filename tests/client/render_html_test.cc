#include "client/render_html.h"

#include <gtest/gtest.h>

#include <string>

#include "client/colors.h"
#include "tests/client/sample_explanation.h"

namespace atman::client {
namespace {

using testing::kSamplePrompt;
using testing::MakeCompleteExplanation;
using testing::MakePerTokenExplanation;

std::string RenderSample() {
  HtmlRenderOptions options;
  options.prompt_text = kSamplePrompt;
  return RenderExplanationHtml(MakeCompleteExplanation(), options);
}

TEST(RenderHtmlTest, EscapesScriptTags) {
  const std::string html = RenderSample();

  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
}

TEST(RenderHtmlTest, ContainsEverySpanText) {
  const std::string html = RenderSample();

  for (const std::string text : {">The</span>", ">cat</span>", ">sat</span>"}) {
    EXPECT_NE(html.find(text), std::string::npos) << text;
  }
  EXPECT_NE(html.find(">&lt;script&gt;</span>"), std::string::npos);
}

TEST(RenderHtmlTest, HasLegendWithBothEnds) {
  const std::string html = RenderSample();

  EXPECT_NE(html.find("class=\"legend\""), std::string::npos);
  EXPECT_NE(html.find("Scale: -1 "), std::string::npos);
  EXPECT_NE(html.find(" +1</div>"), std::string::npos);
  EXPECT_NE(html.find(CssHex(kNegativeColor)), std::string::npos);
  EXPECT_NE(html.find(CssHex(kPositiveColor)), std::string::npos);
}

TEST(RenderHtmlTest, IsStandalonePage) {
  const std::string html = RenderSample();

  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<style>"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
}

TEST(RenderHtmlTest, HasTargetAndScoreTable) {
  const std::string html = RenderSample();

  EXPECT_NE(html.find("Target (given)"), std::string::npos);
  EXPECT_NE(html.find("<td>-0.25</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>2.5000</td>"), std::string::npos);
}

TEST(RenderHtmlTest, PerTokenHasOneHeatmapPerToken) {
  const std::string html = RenderExplanationHtml(MakePerTokenExplanation(), HtmlRenderOptions());

  EXPECT_NE(html.find("Prompt heatmap for target token 0 &quot; do&quot;"), std::string::npos);
  EXPECT_NE(html.find("Prompt heatmap for target token 1 &quot;wn&quot;"), std::string::npos);
}

TEST(HtmlEscapeTest, EscapesSpecialCharacters) {
  EXPECT_EQ(HtmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(HtmlEscape("plain"), "plain");
}

}  // namespace
}  // namespace atman::client
