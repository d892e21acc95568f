// Renders an explanation as a standalone HTML page: inline CSS, no scripts
// and no external resources, every text HTML-escaped.
#ifndef ATMAN_CLIENT_RENDER_HTML_H_
#define ATMAN_CLIENT_RENDER_HTML_H_

#include <string>

#include "atman/v1/atman.pb.h"

namespace atman::client {

struct HtmlRenderOptions {
  // The prompt the request sent, for the text between units. Empty when the
  // prompt was given as token ids.
  std::string prompt_text;
  // Number of colour cells in the legend.
  int legend_cells = 11;
};

// Returns the page: per explained target the coloured prompt (each unit's
// score in its tooltip) and the legend, then the target, the baseline cross
// entropies and one score table per explained target.
std::string RenderExplanationHtml(const atman::v1::Explanation& explanation,
                                  const HtmlRenderOptions& options);

// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string HtmlEscape(const std::string& text);

}  // namespace atman::client

#endif  // ATMAN_CLIENT_RENDER_HTML_H_
