// Renders an explanation for a terminal: a heatmap of the prompt per
// explained target (one for COMPLETE, one per target token for PER_TOKEN),
// a legend, the target, the baseline cross entropies and score tables.
#ifndef ATMAN_CLIENT_RENDER_TEXT_H_
#define ATMAN_CLIENT_RENDER_TEXT_H_

#include <string>

#include "atman/v1/atman.pb.h"

namespace atman::client {

struct TextRenderOptions {
  // Whether each unit's background is coloured with 24-bit ANSI escapes.
  // When false, each unit is followed by its score in brackets.
  bool color = false;
  // The prompt the request sent, for the text between units. Empty when the
  // prompt was given as token ids.
  std::string prompt_text;
  // Number of colour cells in the legend.
  int legend_cells = 11;
};

// Returns the whole report, ending in a newline. Control characters of the
// prompt and target other than newline and tab are shown as '?', so model
// output cannot send escape sequences to the terminal.
std::string RenderExplanationText(const atman::v1::Explanation& explanation,
                                  const TextRenderOptions& options);

// Returns the heatmap of one explained target, ending in a newline.
std::string RenderHeatmapText(const atman::v1::TokenExplanation& token_explanation,
                              const TextRenderOptions& options);

// Returns the legend line of a colour scale from `low` to `high`.
std::string RenderLegendText(double low, double high, const TextRenderOptions& options);

}  // namespace atman::client

#endif  // ATMAN_CLIENT_RENDER_TEXT_H_
