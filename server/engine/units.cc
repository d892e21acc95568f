#include "server/engine/units.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/engine/utf8.h"

namespace atman::engine {
namespace {

using Segments = std::vector<std::pair<int32_t, int32_t>>;

bool IsSentenceEnd(char32_t c) { return c == '.' || c == '!' || c == '?'; }

bool IsClosing(char32_t c) {
  return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == 0x201D ||
         c == 0x2019 || c == 0xBB;
}

// Turns sorted cut points (code-point indices where a new segment starts)
// into segments covering [0, size).
Segments SegmentsFromCuts(std::vector<int32_t> cuts, int32_t size) {
  cuts.push_back(size);
  Segments segments;
  int32_t begin = 0;
  for (int32_t cut : cuts) {
    if (cut > begin) segments.emplace_back(begin, cut);
    begin = std::max(begin, cut);
  }
  return segments;
}

Segments CutWords(const std::vector<char32_t>& cps) {
  Segments segments;
  const auto size = static_cast<int32_t>(cps.size());
  int32_t i = 0;
  while (i < size) {
    while (i < size && IsUnicodeWhitespace(cps[i])) ++i;
    const int32_t begin = i;
    while (i < size && !IsUnicodeWhitespace(cps[i])) ++i;
    if (i > begin) segments.emplace_back(begin, i);
  }
  return segments;
}

Segments CutSentences(const std::vector<char32_t>& cps) {
  std::vector<int32_t> cuts;
  const auto size = static_cast<int32_t>(cps.size());
  for (int32_t i = 0; i < size; ++i) {
    if (cps[i] == '\n') {
      cuts.push_back(i + 1);
      continue;
    }
    if (!IsSentenceEnd(cps[i])) continue;

    int32_t end = i + 1;
    while (end < size && IsClosing(cps[end])) ++end;
    if (end == size || IsUnicodeWhitespace(cps[end])) {
      cuts.push_back(end);
      i = end - 1;
    }
  }
  return SegmentsFromCuts(std::move(cuts), size);
}

Segments CutParagraphs(const std::vector<char32_t>& cps) {
  std::vector<int32_t> cuts;
  const auto size = static_cast<int32_t>(cps.size());
  for (int32_t i = 0; i < size; ++i) {
    if (cps[i] != '\n') continue;

    int32_t j = i + 1;
    while (j < size && cps[j] != '\n' && IsUnicodeWhitespace(cps[j])) ++j;
    if (j < size && cps[j] == '\n') {
      while (j + 1 < size && IsUnicodeWhitespace(cps[j + 1])) ++j;
      cuts.push_back(j + 1);
      i = j;
    }
  }
  return SegmentsFromCuts(std::move(cuts), size);
}

Segments CutCustom(absl::string_view text, const CodePointIndex& index,
                   absl::string_view delimiter) {
  std::vector<int32_t> cuts;
  if (!delimiter.empty()) {
    size_t from = 0;
    while (true) {
      const size_t found = text.find(delimiter, from);
      if (found == absl::string_view::npos) break;
      from = found + delimiter.size();
      cuts.push_back(index.Ceil(from));
    }
  }
  return SegmentsFromCuts(std::move(cuts), index.size());
}

// First non-white-space code point of [start, end), or -1.
int32_t FirstVisible(const std::vector<char32_t>& cps, int32_t start, int32_t end) {
  for (int32_t i = start; i < end; ++i) {
    if (!IsUnicodeWhitespace(cps[i])) return i;
  }
  return -1;
}

// Index of the segment containing code point `cp`, or -1.
int32_t FindSegment(const Segments& segments, int32_t cp) {
  const auto it = std::upper_bound(segments.begin(), segments.end(), cp,
                                   [](int32_t value, const auto& s) { return value < s.first; });
  if (it == segments.begin()) return -1;
  const auto& segment = *(it - 1);
  return cp < segment.second ? static_cast<int32_t>(it - 1 - segments.begin()) : -1;
}

std::string Substring(absl::string_view text, const CodePointIndex& index, int32_t start,
                      int32_t end) {
  const size_t begin = index.ByteOffset(start);
  return std::string(text.substr(begin, index.ByteOffset(end) - begin));
}

absl::Status NoUnitsError(Granularity granularity, absl::string_view delimiter) {
  if (granularity == Granularity::kCustom) {
    return absl::InvalidArgumentError(absl::StrCat(
        "delimiter '", delimiter, "' yields no unit that contains a prompt token; ",
        "use a delimiter that occurs between the words of the prompt"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "prompt has nothing to explain at granularity ", GranularityName(granularity),
      ": every unit is white space or owns no token; send a prompt with visible text"));
}

}  // namespace

Segments CutSegments(absl::string_view text, Granularity granularity,
                     absl::string_view delimiter) {
  const CodePoints decoded = DecodeUtf8(text);
  switch (granularity) {
    case Granularity::kWord:
      return CutWords(decoded.code_points);
    case Granularity::kSentence:
      return CutSentences(decoded.code_points);
    case Granularity::kParagraph:
      return CutParagraphs(decoded.code_points);
    case Granularity::kCustom:
      return CutCustom(text, CodePointIndex(text), delimiter);
    case Granularity::kToken:
      break;
  }
  return {};
}

absl::StatusOr<std::vector<Unit>> CutUnits(absl::string_view prompt_text,
                                           const std::vector<TokenSpan>& tokens,
                                           Granularity granularity, absl::string_view delimiter) {
  const CodePoints decoded = DecodeUtf8(prompt_text);
  const CodePointIndex index(prompt_text);
  const auto size = static_cast<int32_t>(decoded.code_points.size());

  Segments segments;
  if (granularity == Granularity::kToken) {
    for (const TokenSpan& token : tokens) {
      segments.emplace_back(std::min(token.start, size), std::min(token.end, size));
    }
  } else {
    segments = CutSegments(prompt_text, granularity, delimiter);
  }

  // Owners of each segment, in token order.
  std::vector<std::vector<int32_t>> owned(segments.size());
  int32_t previous_segment = -1;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const TokenSpan& token = tokens[t];
    int32_t segment = -1;
    if (token.end <= token.start) {
      segment = previous_segment;
    } else {
      const int32_t visible = FirstVisible(decoded.code_points, std::min(token.start, size),
                                           std::min(token.end, size));
      if (visible >= 0) {
        segment = granularity == Granularity::kToken ? static_cast<int32_t>(t)
                                                     : FindSegment(segments, visible);
      }
    }
    if (segment >= 0) owned[segment].push_back(token.position);
    previous_segment = segment;
  }

  std::vector<Unit> units;
  for (size_t s = 0; s < segments.size(); ++s) {
    const auto [start, end] = segments[s];
    if (owned[s].empty() || FirstVisible(decoded.code_points, start, end) < 0) continue;

    Unit unit;
    unit.start = start;
    unit.length = end - start;
    unit.text = Substring(prompt_text, index, start, end);
    unit.token_positions = std::move(owned[s]);
    units.push_back(std::move(unit));
  }
  if (units.empty()) return NoUnitsError(granularity, delimiter);
  return units;
}

}  // namespace atman::engine
