// Explanations built in code for the renderer tests.
#ifndef ATMAN_TESTS_CLIENT_SAMPLE_EXPLANATION_H_
#define ATMAN_TESTS_CLIENT_SAMPLE_EXPLANATION_H_

#include "atman/v1/atman.pb.h"

namespace atman::client::testing {

// Prompt text of the samples, whose units are "The", "cat", "sat" and "<script>".
inline constexpr char kSamplePrompt[] = "The cat sat <script>";

// Returns a COMPLETE explanation of the target " down" with word units of
// kSamplePrompt and scores +0.5, -0.25, 0 and +1.
atman::v1::Explanation MakeCompleteExplanation();

// Returns the same prompt explained PER_TOKEN for the two target tokens
// " do" and "wn".
atman::v1::Explanation MakePerTokenExplanation();

}  // namespace atman::client::testing

#endif  // ATMAN_TESTS_CLIENT_SAMPLE_EXPLANATION_H_
