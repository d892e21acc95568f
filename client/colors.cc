#include "client/colors.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace atman::client {
namespace {

int Blend(int from, int to, double fraction) {
  return static_cast<int>(std::lround(from + (to - from) * fraction));
}

}  // namespace

Rgb ScoreToColor(double score, double max_abs_score) {
  if (!(max_abs_score > 0) || !std::isfinite(max_abs_score) || std::isnan(score)) {
    return kNeutralColor;
  }

  const double fraction = std::min(std::fabs(score) / max_abs_score, 1.0);
  const Rgb& end = score > 0 ? kPositiveColor : kNegativeColor;
  return Rgb{Blend(kNeutralColor.red, end.red, fraction),
             Blend(kNeutralColor.green, end.green, fraction),
             Blend(kNeutralColor.blue, end.blue, fraction)};
}

Rgb TextColorFor(const Rgb& background) {
  // Relative luminance with the Rec. 709 weights, without gamma correction.
  const double luminance =
      0.2126 * background.red + 0.7152 * background.green + 0.0722 * background.blue;
  return luminance > 140 ? Rgb{0, 0, 0} : Rgb{255, 255, 255};
}

double MaxAbsScore(const std::vector<double>& scores) {
  double max_abs = 0;
  for (double score : scores) {
    if (std::isfinite(score)) max_abs = std::max(max_abs, std::fabs(score));
  }
  return max_abs;
}

std::string AnsiColor(const Rgb& background, const Rgb& text) {
  return absl::StrFormat("\x1b[48;2;%d;%d;%dm\x1b[38;2;%d;%d;%dm", background.red, background.green,
                         background.blue, text.red, text.green, text.blue);
}

std::string CssHex(const Rgb& color) {
  return absl::StrFormat("#%02x%02x%02x", color.red, color.green, color.blue);
}

}  // namespace atman::client
