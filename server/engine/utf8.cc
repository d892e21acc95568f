#include "server/engine/utf8.h"

#include <algorithm>

namespace atman::engine {
namespace {

// Length of the well-formed sequence starting at text[i], or 0.
size_t SequenceLength(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;

  size_t length = 0;
  char32_t min_value = 0;
  char32_t value = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, min_value = 0x80, value = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, min_value = 0x800, value = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, min_value = 0x10000, value = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;

  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (byte(i + k) & 0x3F);
  }
  if (value < min_value || value > 0x10FFFF) return 0;
  if (value >= 0xD800 && value <= 0xDFFF) return 0;
  return length;
}

char32_t DecodeAt(absl::string_view text, size_t i, size_t length) {
  const auto lead = static_cast<unsigned char>(text[i]);
  if (length == 1) return lead;
  char32_t value = lead & (0xFF >> (length + 1));
  for (size_t k = 1; k < length; ++k) {
    value = (value << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
  }
  return value;
}

}  // namespace

size_t FirstInvalidUtf8Byte(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t length = SequenceLength(text, i);
    if (length == 0) return i;
    i += length;
  }
  return text.size();
}

bool IsValidUtf8(absl::string_view text) { return FirstInvalidUtf8Byte(text) == text.size(); }

CodePoints DecodeUtf8(absl::string_view text) {
  CodePoints result;
  size_t i = 0;
  while (i < text.size()) {
    size_t length = SequenceLength(text, i);
    if (length == 0) length = 1;  // Invalid bytes count as one code point each.
    result.offsets.push_back(i);
    result.code_points.push_back(DecodeAt(text, i, length));
    i += length;
  }
  result.offsets.push_back(text.size());
  return result;
}

CodePointIndex::CodePointIndex(absl::string_view text) : starts_(DecodeUtf8(text).offsets) {}

int32_t CodePointIndex::Floor(size_t offset) const {
  const auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
  return static_cast<int32_t>(it - starts_.begin()) - 1;
}

int32_t CodePointIndex::Ceil(size_t offset) const {
  const auto it = std::lower_bound(starts_.begin(), starts_.end(), offset);
  return static_cast<int32_t>(it - starts_.begin());
}

size_t CodePointIndex::ByteOffset(int32_t index) const { return starts_[index]; }

bool IsUnicodeWhitespace(char32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return true;
  if (c == 0x85 || c == 0xA0 || c == 0x1680) return true;
  if (c >= 0x2000 && c <= 0x200A) return true;
  return c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace atman::engine
