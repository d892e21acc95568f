// The SentencePiece module: built as its own shared library and loaded with
// dlopen (see sentencepiece_wrapper.h for why).

#include "server/engine/sentencepiece_wrapper.h"

#include <sentencepiece_processor.h>

namespace atman::engine::sp {
namespace {

class SentencePieceProcessorImpl : public Processor {
 public:
  std::string Load(const std::string& path) override {
    const auto status = processor_.Load(path);
    return status.ok() ? std::string() : status.ToString();
  }

  std::string Encode(const std::string& text, std::vector<Piece>* pieces) const override {
    sentencepiece::ImmutableSentencePieceText encoded;
    const auto status = processor_.Encode(text, encoded.mutable_proto());
    if (!status.ok()) return status.ToString();

    pieces->clear();
    for (const auto& piece : encoded.pieces()) {
      pieces->push_back(Piece{static_cast<int32_t>(piece.id()), piece.begin(), piece.end()});
    }
    return std::string();
  }

  std::string Decode(const std::vector<int32_t>& ids) const override {
    const std::vector<int> as_int(ids.begin(), ids.end());
    std::string text;
    processor_.Decode(as_int, &text).IgnoreError();
    return text;
  }

  int32_t bos_id() const override { return processor_.bos_id(); }
  int32_t eos_id() const override { return processor_.eos_id(); }
  int32_t vocab_size() const override { return processor_.GetPieceSize(); }

 private:
  sentencepiece::SentencePieceProcessor processor_;
};

}  // namespace
}  // namespace atman::engine::sp

extern "C" __attribute__((visibility("default"))) atman::engine::sp::Processor*
AtmanCreateSentencePieceProcessor() {
  return new atman::engine::sp::SentencePieceProcessorImpl();
}
