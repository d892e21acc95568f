#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/engine/sentencepiece_wrapper.h"
#include "server/engine/tokenizer.h"

namespace atman::engine {
namespace {

constexpr char kModuleName[] = "libatman_sentencepiece.so";

// Folders searched for the module, in order.
std::vector<std::string> ModuleCandidates() {
  std::vector<std::string> candidates;
  if (const char* path = std::getenv("ATMAN_SENTENCEPIECE_MODULE"); path != nullptr && *path) {
    candidates.push_back(path);
  }
  char executable[PATH_MAX] = {0};
  const ssize_t length = readlink("/proc/self/exe", executable, sizeof(executable) - 1);
  if (length > 0) {
    const auto folder = std::filesystem::path(std::string(executable, length)).parent_path();
    candidates.push_back((folder / kModuleName).string());
    candidates.push_back((folder / "../lib/atman" / kModuleName).string());
  }
  candidates.push_back(std::string(ATMAN_SENTENCEPIECE_BUILD_DIR) + "/" + kModuleName);
  candidates.push_back(std::string(ATMAN_SENTENCEPIECE_INSTALL_DIR) + "/" + kModuleName);
  return candidates;
}

absl::StatusOr<sp::Factory> LoadFactory() {
  static std::once_flag once;
  static absl::StatusOr<sp::Factory> factory = absl::UnknownError("not loaded");
  std::call_once(once, [] {
    std::vector<std::string> tried;
    for (const std::string& path : ModuleCandidates()) {
      if (!std::filesystem::exists(path)) {
        tried.push_back(path);
        continue;
      }
      void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (handle == nullptr) {
        tried.push_back(absl::StrCat(path, " (", dlerror(), ")"));
        continue;
      }
      void* symbol = dlsym(handle, sp::kFactorySymbol);
      if (symbol != nullptr) {
        factory = reinterpret_cast<sp::Factory>(symbol);
        return;
      }
      tried.push_back(absl::StrCat(path, " (no ", sp::kFactorySymbol, ")"));
    }
    factory = absl::FailedPreconditionError(absl::StrCat(
        "cannot load the SentencePiece module ", kModuleName, "; tried ",
        absl::StrJoin(tried, ", "), ". Set ATMAN_SENTENCEPIECE_MODULE to its path"));
  });
  return factory;
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(std::unique_ptr<sp::Processor> processor)
      : processor_(std::move(processor)) {}

  absl::StatusOr<std::vector<EncodedToken>> Encode(absl::string_view text) const override {
    std::vector<sp::Piece> pieces;
    const std::string error = processor_->Encode(std::string(text), &pieces);
    if (!error.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("SentencePiece failed to encode: ", error));
    }

    std::vector<EncodedToken> tokens;
    tokens.reserve(pieces.size());
    for (const sp::Piece& piece : pieces) {
      tokens.push_back(EncodedToken{piece.id, piece.byte_begin, piece.byte_end});
    }
    return tokens;
  }

  std::string Decode(const std::vector<int32_t>& ids) const override {
    return processor_->Decode(ids);
  }

  std::string PieceText(int32_t id) const override { return processor_->Decode({id}); }

  int32_t bos_id() const override { return processor_->bos_id(); }
  int32_t eos_id() const override { return processor_->eos_id(); }
  int32_t vocab_size() const override { return processor_->vocab_size(); }

 private:
  std::unique_ptr<sp::Processor> processor_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(const std::string& path) {
  const absl::StatusOr<sp::Factory> factory = LoadFactory();
  if (!factory.ok()) return factory.status();

  std::unique_ptr<sp::Processor> processor((*factory)());
  const std::string error = processor->Load(path);
  if (!error.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot load SentencePiece model '", path, "': ", error,
        "; check that the file exists and is a SentencePiece .model file"));
  }
  return std::make_unique<SentencePieceTokenizer>(std::move(processor));
}

}  // namespace atman::engine
