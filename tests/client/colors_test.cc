#include "client/colors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace atman::client {
namespace {

TEST(ScoreToColorTest, ZeroIsNeutral) {
  EXPECT_EQ(ScoreToColor(0.0, 1.0), kNeutralColor);
  EXPECT_EQ(ScoreToColor(-0.0, 3.0), kNeutralColor);
}

TEST(ScoreToColorTest, ExtremesAreFullColors) {
  EXPECT_EQ(ScoreToColor(2.0, 2.0), kPositiveColor);
  EXPECT_EQ(ScoreToColor(-2.0, 2.0), kNegativeColor);
}

TEST(ScoreToColorTest, SignSelectsHue) {
  const Rgb positive = ScoreToColor(0.5, 1.0);
  const Rgb negative = ScoreToColor(-0.5, 1.0);

  EXPECT_GT(positive.red, positive.blue);
  EXPECT_GT(negative.blue, negative.red);
}

TEST(ScoreToColorTest, LargerScoreIsStronger) {
  const Rgb weak = ScoreToColor(0.2, 1.0);
  const Rgb strong = ScoreToColor(0.8, 1.0);

  EXPECT_LT(strong.green, weak.green);
  EXPECT_LT(weak.green, kNeutralColor.green);
}

TEST(ScoreToColorTest, OutOfRangeScoreIsClamped) {
  EXPECT_EQ(ScoreToColor(5.0, 1.0), kPositiveColor);
  EXPECT_EQ(ScoreToColor(-5.0, 1.0), kNegativeColor);
}

TEST(ScoreToColorTest, DegenerateInputsAreNeutral) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();

  EXPECT_EQ(ScoreToColor(1.0, 0.0), kNeutralColor);
  EXPECT_EQ(ScoreToColor(nan, 1.0), kNeutralColor);
  EXPECT_EQ(ScoreToColor(1.0, nan), kNeutralColor);
  EXPECT_EQ(ScoreToColor(1.0, inf), kNeutralColor);
}

TEST(MaxAbsScoreTest, IgnoresNonFiniteValues) {
  EXPECT_EQ(MaxAbsScore({0.5, -2.0, 1.0}), 2.0);
  EXPECT_EQ(MaxAbsScore({std::numeric_limits<double>::quiet_NaN(), 0.25}), 0.25);
  EXPECT_EQ(MaxAbsScore({}), 0.0);
}

TEST(TextColorForTest, ContrastsWithBackground) {
  EXPECT_EQ(TextColorFor(kNeutralColor), (Rgb{0, 0, 0}));
  EXPECT_EQ(TextColorFor(kNegativeColor), (Rgb{255, 255, 255}));
}

TEST(ColorFormatTest, AnsiAndCss) {
  EXPECT_EQ(AnsiColor(Rgb{1, 2, 3}, Rgb{4, 5, 6}), "\x1b[48;2;1;2;3m\x1b[38;2;4;5;6m");
  EXPECT_EQ(CssHex(Rgb{255, 0, 16}), "#ff0010");
}

}  // namespace
}  // namespace atman::client
