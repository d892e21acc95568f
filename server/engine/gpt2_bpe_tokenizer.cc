#include "server/engine/gpt2_bpe_tokenizer.h"

#include <array>
#include <cstdint>
#include <fstream>
#include <limits>
#include <queue>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"
#include "re2/re2.h"

namespace atman::engine {
namespace {

// Stands for a byte that does not start a valid UTF-8 sequence.
constexpr char32_t kInvalidCodePoint = 0xFFFFFFFF;

// Decodes the UTF-8 sequence at `text[pos]`. Returns the code point and its
// byte length, or kInvalidCodePoint with the length of the maximal invalid
// subpart (the lead byte plus the continuation bytes that were still valid).
std::pair<char32_t, size_t> DecodeUtf8(absl::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[pos + i]); };
  const uint8_t lead = byte(0);
  if (lead < 0x80) return {lead, 1};

  size_t length = 0;
  uint8_t second_min = 0x80;
  uint8_t second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return {kInvalidCodePoint, 1};
  }

  char32_t code_point = lead & (0xFF >> (length + 1));
  for (size_t i = 1; i < length; ++i) {
    const bool in_range = pos + i < text.size() &&
                          byte(i) >= (i == 1 ? second_min : 0x80) &&
                          byte(i) <= (i == 1 ? second_max : 0xBF);
    if (!in_range) return {kInvalidCodePoint, i};
    code_point = (code_point << 6) | (byte(i) & 0x3F);
  }
  return {code_point, length};
}

void AppendUtf8(char32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// Replaces each maximal invalid UTF-8 subpart with U+FFFD, as Python's
// bytes.decode("utf-8", errors="replace") does.
std::string ToValidUtf8(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    const auto [code_point, length] = DecodeUtf8(bytes, pos);
    if (code_point == kInvalidCodePoint) {
      AppendUtf8(0xFFFD, &out);
    } else {
      out.append(bytes.data() + pos, length);
    }
    pos += length;
  }
  return out;
}

// Unicode White_Space, the set that \s matches in Python's `regex` module.
bool IsWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

bool MatchesClass(const RE2& pattern, char32_t c) {
  std::string utf8;
  AppendUtf8(c, &utf8);
  return RE2::FullMatch(utf8, pattern);
}

bool IsLetter(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (c == kInvalidCodePoint) return false;
  static const RE2* const kLetter = new RE2("\\p{L}");
  return MatchesClass(*kLetter, c);
}

bool IsNumber(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  if (c == kInvalidCodePoint) return false;
  static const RE2* const kNumber = new RE2("\\p{N}");
  return MatchesClass(*kNumber, c);
}

enum class CharClass { kLetter, kNumber, kWhitespace, kOther };

struct Char {
  char32_t code_point;
  CharClass char_class;
  size_t byte_begin;
};

std::vector<Char> ClassifyText(absl::string_view text) {
  std::vector<Char> chars;
  for (size_t pos = 0; pos < text.size();) {
    const auto [code_point, length] = DecodeUtf8(text, pos);
    CharClass char_class = CharClass::kOther;
    if (IsLetter(code_point)) {
      char_class = CharClass::kLetter;
    } else if (IsNumber(code_point)) {
      char_class = CharClass::kNumber;
    } else if (code_point != kInvalidCodePoint && IsWhitespace(code_point)) {
      char_class = CharClass::kWhitespace;
    }
    chars.push_back({code_point, char_class, pos});
    pos += length;
  }
  return chars;
}

// Length in characters of a contraction ('s 't 're 've 'm 'll 'd) at chars[i],
// or 0 when none starts there.
size_t ContractionLength(const std::vector<Char>& chars, size_t i) {
  if (chars[i].code_point != '\'' || i + 1 >= chars.size()) return 0;
  const char32_t first = chars[i + 1].code_point;
  if (first == 's' || first == 't' || first == 'm' || first == 'd') return 2;
  if (i + 2 >= chars.size()) return 0;
  const char32_t second = chars[i + 2].code_point;
  if ((first == 'r' && second == 'e') || (first == 'v' && second == 'e') ||
      (first == 'l' && second == 'l')) {
    return 3;
  }
  return 0;
}

// Returns the end (in characters) of the piece that starts at chars[i],
// trying the alternatives of the pattern in order.
size_t PieceEnd(const std::vector<Char>& chars, size_t i) {
  const size_t count = chars.size();
  if (size_t length = ContractionLength(chars, i); length > 0) return i + length;

  // ` ?\p{L}+`, ` ?\p{N}+` and ` ?[^\s\p{L}\p{N}]+`: an optional space, then a
  // run of one class.
  const size_t run_start = (chars[i].code_point == ' ' && i + 1 < count) ? i + 1 : i;
  const CharClass run_class = chars[run_start].char_class;
  if (run_class != CharClass::kWhitespace) {
    size_t end = run_start + 1;
    while (end < count && chars[end].char_class == run_class) ++end;
    return end;
  }

  // `\s+(?!\S)` takes a whitespace run but leaves its last character when a
  // non-space follows, so that character can prefix the next word. A single
  // whitespace character before a non-space falls through to `\s+`.
  size_t end = i;
  while (end < count && chars[end].char_class == CharClass::kWhitespace) ++end;
  if (end < count && end - i >= 2) return end - 1;
  return end;
}

// The printable code point that stands for each byte in GPT-2's vocabulary:
// printable Latin-1 bytes stand for themselves, the other 68 bytes map to
// 256, 257, ... in byte order.
std::array<char32_t, 256> ByteToCodePoint() {
  std::array<char32_t, 256> table{};
  char32_t next_extra = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    table[b] = printable ? static_cast<char32_t>(b) : next_extra++;
  }
  return table;
}

// One BPE output token with the number of input bytes it covers.
struct BpeToken {
  int32_t id;
  uint32_t byte_count;
};

class Gpt2BpeTokenizer : public Tokenizer {
 public:
  Gpt2BpeTokenizer(std::vector<std::string> id_to_token,
                   absl::flat_hash_map<std::string, int32_t> token_to_id,
                   absl::flat_hash_map<std::string, int32_t> merge_ranks, int32_t end_of_text_id)
      : id_to_token_(std::move(id_to_token)),
        token_to_id_(std::move(token_to_id)),
        merge_ranks_(std::move(merge_ranks)),
        end_of_text_id_(end_of_text_id) {
    const std::array<char32_t, 256> table = ByteToCodePoint();
    code_point_to_byte_.fill(-1);
    for (int b = 0; b < 256; ++b) {
      AppendUtf8(table[b], &byte_symbols_[b]);
      code_point_to_byte_[table[b]] = static_cast<int16_t>(b);
    }
  }

  absl::StatusOr<std::vector<EncodedToken>> Encode(absl::string_view text) const override {
    std::vector<EncodedToken> tokens;
    for (const auto& [begin, end] : SplitGpt2Pretokens(text)) {
      size_t offset = begin;
      for (const BpeToken& token : EncodePiece(text.substr(begin, end - begin))) {
        tokens.push_back({token.id, offset, offset + token.byte_count});
        offset += token.byte_count;
      }
    }
    return tokens;
  }

  std::string Decode(const std::vector<int32_t>& ids) const override {
    std::string bytes;
    for (int32_t id : ids) AppendTokenBytes(id, &bytes);
    return ToValidUtf8(bytes);
  }

  std::string PieceText(int32_t id) const override { return Decode({id}); }

  int32_t bos_id() const override { return end_of_text_id_; }
  int32_t eos_id() const override { return end_of_text_id_; }
  int32_t vocab_size() const override { return static_cast<int32_t>(id_to_token_.size()); }

  // Checks that every byte has a vocabulary entry, so EncodePiece never
  // meets a symbol without an id.
  absl::Status CheckByteSymbols(const std::string& vocab_path) const {
    for (int b = 0; b < 256; ++b) {
      if (!token_to_id_.contains(byte_symbols_[b])) {
        return absl::InvalidArgumentError(
            absl::StrCat("vocabulary ", vocab_path, " has no token for byte ", b,
                         "; a byte-level BPE vocabulary needs all 256 byte symbols"));
      }
    }
    return absl::OkStatus();
  }

 private:
  // Cached pieces are cleared once the cache reaches this many entries.
  static constexpr size_t kMaxCacheEntries = 1 << 16;

  void AppendTokenBytes(int32_t id, std::string* bytes) const {
    if (id < 0 || id >= vocab_size()) return;
    const std::string& token = id_to_token_[id];
    for (size_t pos = 0; pos < token.size();) {
      const auto [code_point, length] = DecodeUtf8(token, pos);
      if (code_point < code_point_to_byte_.size() && code_point_to_byte_[code_point] >= 0) {
        bytes->push_back(static_cast<char>(code_point_to_byte_[code_point]));
      } else {
        bytes->append(token, pos, length);
      }
      pos += length;
    }
  }

  std::vector<BpeToken> EncodePiece(absl::string_view piece) const {
    const std::string key(piece);
    {
      absl::MutexLock lock(&cache_mutex_);
      auto it = cache_.find(key);
      if (it != cache_.end()) return it->second;
    }

    std::vector<BpeToken> tokens = MergePiece(piece);
    {
      absl::MutexLock lock(&cache_mutex_);
      if (cache_.size() >= kMaxCacheEntries) cache_.clear();
      cache_.emplace(key, tokens);
    }
    return tokens;
  }

  int32_t MergeRank(const std::string& left, const std::string& right) const {
    auto it = merge_ranks_.find(absl::StrCat(left, " ", right));
    return it == merge_ranks_.end() ? -1 : it->second;
  }

  // Applies the merges to the byte symbols of `piece`, always the pair of
  // lowest rank first and the leftmost among equal ranks. A priority queue
  // keeps this O(n log n) for long pieces such as whitespace runs.
  std::vector<BpeToken> MergePiece(absl::string_view piece) const {
    struct Symbol {
      std::string text;
      uint32_t byte_count;
      int prev;
      int next;
    };
    struct Candidate {
      int32_t rank;
      int left;
      size_t merged_size;
      bool operator>(const Candidate& other) const {
        return rank != other.rank ? rank > other.rank : left > other.left;
      }
    };

    std::vector<Symbol> symbols;
    for (size_t i = 0; i < piece.size(); ++i) {
      symbols.push_back({byte_symbols_[static_cast<uint8_t>(piece[i])], 1,
                         static_cast<int>(i) - 1,
                         i + 1 < piece.size() ? static_cast<int>(i) + 1 : -1});
    }
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
    const auto push_pair = [&](int left) {
      if (left < 0 || symbols[left].next < 0) return;
      const Symbol& right = symbols[symbols[left].next];
      const int32_t rank = MergeRank(symbols[left].text, right.text);
      if (rank >= 0) queue.push({rank, left, symbols[left].text.size() + right.text.size()});
    };
    for (size_t i = 0; i + 1 < symbols.size(); ++i) push_pair(static_cast<int>(i));

    while (!queue.empty()) {
      const Candidate candidate = queue.top();
      queue.pop();
      Symbol& left = symbols[candidate.left];
      // A merged-away symbol has byte_count 0; a changed pair has another size.
      if (left.byte_count == 0 || left.next < 0) continue;
      Symbol& right = symbols[left.next];
      if (left.text.size() + right.text.size() != candidate.merged_size) continue;

      left.text += right.text;
      left.byte_count += right.byte_count;
      right.byte_count = 0;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = candidate.left;
      push_pair(left.prev);
      push_pair(candidate.left);
    }

    std::vector<BpeToken> tokens;
    for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
      AppendSymbolTokens(symbols[i].text, symbols[i].byte_count, &tokens);
    }
    return tokens;
  }

  // Appends the id of `text`, or of each of its byte symbols when a merge
  // produced a string that the vocabulary lacks.
  void AppendSymbolTokens(const std::string& text, uint32_t byte_count,
                          std::vector<BpeToken>* tokens) const {
    auto it = token_to_id_.find(text);
    if (it != token_to_id_.end()) {
      tokens->push_back({it->second, byte_count});
      return;
    }
    for (size_t pos = 0; pos < text.size();) {
      const size_t length = DecodeUtf8(text, pos).second;
      tokens->push_back({token_to_id_.at(std::string(text.substr(pos, length))), 1});
      pos += length;
    }
  }

  std::vector<std::string> id_to_token_;
  absl::flat_hash_map<std::string, int32_t> token_to_id_;
  // "left right" -> rank (line number in the merge list, 0 = merged first).
  absl::flat_hash_map<std::string, int32_t> merge_ranks_;
  int32_t end_of_text_id_;
  std::array<std::string, 256> byte_symbols_;
  std::array<int16_t, 512> code_point_to_byte_;

  mutable absl::Mutex cache_mutex_;
  mutable absl::flat_hash_map<std::string, std::vector<BpeToken>> cache_
      ABSL_GUARDED_BY(cache_mutex_);
};

absl::Status ReadVocabulary(const std::string& path, std::vector<std::string>* id_to_token,
                            absl::flat_hash_map<std::string, int32_t>* token_to_id) {
  std::ifstream stream(path);
  if (!stream) return absl::NotFoundError(absl::StrCat("cannot open GPT-2 vocabulary ", path));
  const nlohmann::json vocab = nlohmann::json::parse(stream, nullptr, /*allow_exceptions=*/false);
  if (vocab.is_discarded() || !vocab.is_object() || vocab.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("GPT-2 vocabulary ", path, " is not a non-empty JSON object of token -> id"));
  }

  constexpr uint64_t kMaxId = std::numeric_limits<int32_t>::max() - 1;
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_unsigned() || id.get<uint64_t>() > kMaxId) {
      return absl::InvalidArgumentError(absl::StrCat("token '", token, "' in ", path,
                                                     " has id ", id.dump(),
                                                     "; ids must be integers in [0, 2^31 - 1)"));
    }
    const auto index = static_cast<int32_t>(id.get<uint64_t>());
    if (static_cast<size_t>(index) >= id_to_token->size()) id_to_token->resize(index + 1);
    (*id_to_token)[index] = token;
    (*token_to_id)[token] = index;
  }
  return absl::OkStatus();
}

absl::Status ReadMerges(const std::string& path,
                        absl::flat_hash_map<std::string, int32_t>* merge_ranks) {
  std::ifstream stream(path);
  if (!stream) return absl::NotFoundError(absl::StrCat("cannot open GPT-2 merge list ", path));

  std::string line;
  int line_number = 0;
  int32_t rank = 0;
  while (std::getline(stream, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_number == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_number, " of merge list ",
                                                     path, " is '", line,
                                                     "'; expected two symbols separated by one space"));
    }
    merge_ranks->emplace(line, rank++);
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::pair<size_t, size_t>> SplitGpt2Pretokens(absl::string_view text) {
  const std::vector<Char> chars = ClassifyText(text);
  std::vector<std::pair<size_t, size_t>> pieces;
  for (size_t i = 0; i < chars.size();) {
    const size_t end = PieceEnd(chars, i);
    pieces.emplace_back(chars[i].byte_begin, end < chars.size() ? chars[end].byte_begin : text.size());
    i = end;
  }
  return pieces;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGpt2BpeTokenizer(const std::string& vocab_json_path,
                                                                const std::string& merges_path,
                                                                const Gpt2BpeOptions& options) {
  std::vector<std::string> id_to_token;
  absl::flat_hash_map<std::string, int32_t> token_to_id;
  absl::Status status = ReadVocabulary(vocab_json_path, &id_to_token, &token_to_id);
  if (!status.ok()) return status;
  absl::flat_hash_map<std::string, int32_t> merge_ranks;
  status = ReadMerges(merges_path, &merge_ranks);
  if (!status.ok()) return status;

  auto end_of_text = token_to_id.find(options.end_of_text);
  if (end_of_text == token_to_id.end()) {
    return absl::InvalidArgumentError(absl::StrCat("vocabulary ", vocab_json_path,
                                                   " has no end-of-text token '",
                                                   options.end_of_text, "'"));
  }
  auto tokenizer = std::make_unique<Gpt2BpeTokenizer>(std::move(id_to_token), std::move(token_to_id),
                                                      std::move(merge_ranks), end_of_text->second);
  status = tokenizer->CheckByteSymbols(vocab_json_path);
  if (!status.ok()) return status;

  VLOG(1) << "Loaded GPT-2 BPE tokenizer from " << vocab_json_path << " with "
          << tokenizer->vocab_size() << " tokens";
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace atman::engine
