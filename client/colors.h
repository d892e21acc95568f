// Maps explanation scores to colours on a diverging scale: white at 0, red
// for positive scores and blue for negative ones, full strength at the
// largest absolute score of the explanation.
#ifndef ATMAN_CLIENT_COLORS_H_
#define ATMAN_CLIENT_COLORS_H_

#include <string>
#include <vector>

namespace atman::client {

struct Rgb {
  int red = 0;
  int green = 0;
  int blue = 0;

  bool operator==(const Rgb& other) const {
    return red == other.red && green == other.green && blue == other.blue;
  }
};

// Colour of a score of 0.
inline constexpr Rgb kNeutralColor{255, 255, 255};
// Colour of the largest positive score.
inline constexpr Rgb kPositiveColor{200, 30, 30};
// Colour of the largest negative score.
inline constexpr Rgb kNegativeColor{30, 80, 200};

// Returns the background colour of `score` when the largest absolute score is
// `max_abs_score`. Scores beyond it are clamped. A non-positive or non-finite
// `max_abs_score`, or a NaN score, gives the neutral colour.
Rgb ScoreToColor(double score, double max_abs_score);

// Returns black or white, whichever reads better on `background`.
Rgb TextColorFor(const Rgb& background);

// Returns the largest absolute finite value of `scores`, or 0 when none.
double MaxAbsScore(const std::vector<double>& scores);

// Returns the ANSI escape sequence that sets a 24-bit background and text colour.
std::string AnsiColor(const Rgb& background, const Rgb& text);

// ANSI escape sequence that restores the terminal's default colours.
inline constexpr char kAnsiReset[] = "\x1b[0m";

// Returns the colour as CSS hex, e.g. "#ff0000".
std::string CssHex(const Rgb& color);

}  // namespace atman::client

#endif  // ATMAN_CLIENT_COLORS_H_
