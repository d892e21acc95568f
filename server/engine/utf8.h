#ifndef ATMAN_SERVER_ENGINE_UTF8_H_
#define ATMAN_SERVER_ENGINE_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace atman::engine {

// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// Byte offset of the first invalid sequence, or text.size() when valid.
size_t FirstInvalidUtf8Byte(absl::string_view text);

// Code points of valid UTF-8 text with the byte offset where each starts.
// offsets has one more entry than code_points: the text's size.
struct CodePoints {
  std::vector<char32_t> code_points;
  std::vector<size_t> offsets;
};
CodePoints DecodeUtf8(absl::string_view text);

// Maps byte offsets of valid UTF-8 text to code-point indices.
class CodePointIndex {
 public:
  explicit CodePointIndex(absl::string_view text);

  // Index of the code point that contains byte `offset` (offset == size
  // gives the number of code points).
  int32_t Floor(size_t offset) const;
  // Index of the first code point that starts at or after byte `offset`.
  int32_t Ceil(size_t offset) const;
  // Byte offset where code point `index` starts (index may equal the count).
  size_t ByteOffset(int32_t index) const;
  int32_t size() const { return static_cast<int32_t>(starts_.size()) - 1; }

 private:
  std::vector<size_t> starts_;
};

// True for Unicode white space as the unit cutter uses it: ASCII white space,
// U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F,
// U+3000. Zero-width characters are not white space.
bool IsUnicodeWhitespace(char32_t c);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_UTF8_H_
