#ifndef ATMAN_SERVER_ENGINE_UNITS_H_
#define ATMAN_SERVER_ENGINE_UNITS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/engine/types.h"

namespace atman::engine {

// Code-point span [start, end) of one prompt token at input position
// `position` (BOS is not passed in).
struct TokenSpan {
  int32_t position = 0;
  int32_t start = 0;
  int32_t end = 0;
};

// Cuts the prompt text into explained units.
//
// kToken: one unit per token span. kWord: maximal runs of non-white-space.
// kSentence: cut after '.', '!' or '?' (plus closing quotes or brackets)
// when white space or the end follows, and after every newline.
// kParagraph: cut after each blank line ('\n', optional white space, '\n').
// kCustom: cut after each occurrence of `delimiter`.
//
// A token belongs to the unit containing its first non-white-space code
// point. A token that covers no text joins the unit of the token before it.
// Units that own no token, or contain only white space, are dropped.
// Returns INVALID_ARGUMENT when no unit is left.
absl::StatusOr<std::vector<Unit>> CutUnits(absl::string_view prompt_text,
                                           const std::vector<TokenSpan>& tokens,
                                           Granularity granularity, absl::string_view delimiter);

// Code-point ranges [start, end) of the segments of `text` for a granularity
// other than kToken, before tokens are assigned.
std::vector<std::pair<int32_t, int32_t>> CutSegments(absl::string_view text,
                                                     Granularity granularity,
                                                     absl::string_view delimiter);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_UNITS_H_
