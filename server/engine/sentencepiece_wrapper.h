#ifndef ATMAN_SERVER_ENGINE_SENTENCEPIECE_WRAPPER_H_
#define ATMAN_SERVER_ENGINE_SENTENCEPIECE_WRAPPER_H_

// The interface of the SentencePiece module, a shared library that wraps
// sentencepiece::SentencePieceProcessor with standard types only.
//
// Debian's libsentencepiece bundles its own copy of protobuf-lite and exports
// its symbols. Linked into a process that also loads libprotobuf (LibTorch
// and gRPC do), the two copies interpose each other and the process crashes
// while registering descriptors. The module is therefore loaded with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND), which keeps SentencePiece's protobuf
// symbols out of the global scope, and it is used only through this
// interface's virtual functions.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace atman::engine::sp {

struct Piece {
  int32_t id = 0;
  size_t byte_begin = 0;
  size_t byte_end = 0;
};

class Processor {
 public:
  virtual ~Processor() = default;

  // Loads a `.model` file; returns an empty string or the error message.
  virtual std::string Load(const std::string& path) = 0;
  // Encodes text; returns an empty string or the error message.
  virtual std::string Encode(const std::string& text, std::vector<Piece>* pieces) const = 0;
  virtual std::string Decode(const std::vector<int32_t>& ids) const = 0;
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
  virtual int32_t vocab_size() const = 0;
};

// Name of the factory function the module exports with C linkage:
// Processor* AtmanCreateSentencePieceProcessor().
inline constexpr char kFactorySymbol[] = "AtmanCreateSentencePieceProcessor";
using Factory = Processor* (*)();

}  // namespace atman::engine::sp

#endif  // ATMAN_SERVER_ENGINE_SENTENCEPIECE_WRAPPER_H_
