#ifndef ATMAN_SERVER_ENGINE_TOKENIZER_H_
#define ATMAN_SERVER_ENGINE_TOKENIZER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace atman::engine {

// One token of an encoded text with the byte span of the input it covers.
// A token that covers no input bytes has byte_begin == byte_end.
struct EncodedToken {
  int32_t id = 0;
  size_t byte_begin = 0;
  size_t byte_end = 0;
};

// A tokenizer. Implementations are immutable after loading and thread-safe.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Encodes `text` without BOS or EOS. Spans refer to bytes of `text`.
  virtual absl::StatusOr<std::vector<EncodedToken>> Encode(absl::string_view text) const = 0;

  // Decodes a sequence of ids to text, as the model's own decoder does.
  virtual std::string Decode(const std::vector<int32_t>& ids) const = 0;

  // The text of a single id, decoded on its own (byte tokens may give
  // incomplete UTF-8, so callers that show text prefer input spans).
  virtual std::string PieceText(int32_t id) const = 0;

  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
  virtual int32_t vocab_size() const = 0;
};

// Loads a SentencePiece `.model` file.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(const std::string& path);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_TOKENIZER_H_
