#ifndef ATMAN_SERVER_ENGINE_GPT2_BPE_TOKENIZER_H_
#define ATMAN_SERVER_ENGINE_GPT2_BPE_TOKENIZER_H_

// GPT-2's byte-level BPE tokenizer, read from Hugging Face `vocab.json` and
// `merges.txt` (the same content as OpenAI's `encoder.json` and `vocab.bpe`).
//
// Encoding: the text is split by GPT-2's pre-tokenization pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// each piece's bytes are mapped to printable code points, and adjacent
// symbols are merged by merge rank until no ranked pair remains. Special
// tokens such as <|endoftext|> are plain text in the input.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/engine/tokenizer.h"

namespace atman::engine {

struct Gpt2BpeOptions {
  // Text of the token used as BOS and EOS; GPT-2 uses <|endoftext|> (50256).
  std::string end_of_text = "<|endoftext|>";
};

// Splits `text` by the pre-tokenization pattern above and returns the byte
// span [begin, end) of each piece. \s is Unicode White_Space, \p{L} and \p{N}
// are RE2's Unicode classes. A byte that is not part of valid UTF-8 counts as
// one character that is neither a letter, a number nor whitespace.
std::vector<std::pair<size_t, size_t>> SplitGpt2Pretokens(absl::string_view text);

// Loads the tokenizer. Fails with NOT_FOUND for a missing file and
// INVALID_ARGUMENT for a malformed vocabulary or merge list, or a vocabulary
// that lacks one of the 256 byte symbols or the end-of-text token.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGpt2BpeTokenizer(
    const std::string& vocab_json_path, const std::string& merges_path,
    const Gpt2BpeOptions& options = Gpt2BpeOptions());

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_GPT2_BPE_TOKENIZER_H_
