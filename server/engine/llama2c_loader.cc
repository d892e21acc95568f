#include "server/engine/llama2c_loader.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/engine/llama.h"

namespace atman::engine {
namespace {

constexpr int64_t kMaxDimension = 1 << 20;

struct Header {
  int32_t dim, hidden_dim, layers, heads, kv_heads, vocab_size, seq_len;
};

absl::StatusOr<Header> ReadHeader(const std::string& path, std::ifstream& file) {
  std::array<int32_t, 7> values{};
  file.read(reinterpret_cast<char*>(values.data()), kLlama2cHeaderBytes);
  if (file.gcount() != static_cast<std::streamsize>(kLlama2cHeaderBytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "llama2.c checkpoint '", path, "' is truncated: it is shorter than the ",
        kLlama2cHeaderBytes, "-byte header"));
  }
  return Header{values[0], values[1], values[2], values[3], values[4], values[5], values[6]};
}

absl::Status CheckHeader(const std::string& path, const Header& h) {
  const bool positive = h.dim > 0 && h.hidden_dim > 0 && h.layers > 0 && h.heads > 0 &&
                        h.kv_heads > 0 && h.vocab_size != 0 && h.seq_len > 0;
  const bool bounded = h.dim < kMaxDimension && h.hidden_dim < kMaxDimension &&
                       h.layers < 1024 && h.heads < 4096 && std::abs(h.vocab_size) < kMaxDimension &&
                       h.seq_len < kMaxDimension;
  const bool consistent = positive && h.dim % h.heads == 0 && h.heads % h.kv_heads == 0 &&
                          (h.dim / h.heads) % 2 == 0;
  if (positive && bounded && consistent) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "llama2.c checkpoint '", path, "' has a wrong header (dim ", h.dim, ", hidden_dim ",
      h.hidden_dim, ", n_layers ", h.layers, ", n_heads ", h.heads, ", n_kv_heads ", h.kv_heads,
      ", vocab_size ", h.vocab_size, ", seq_len ", h.seq_len,
      "); expected a legacy (version 0) llama2.c export"));
}

// Number of float32 values the header promises after it.
int64_t ExpectedFloats(const Header& h) {
  const int64_t head_dim = h.dim / h.heads;
  const int64_t kv_dim = int64_t{h.kv_heads} * head_dim;
  const int64_t vocab = std::abs(h.vocab_size);
  const int64_t per_layer = 2 * int64_t{h.dim} + int64_t{h.dim} * h.dim * 2 +
                            2 * kv_dim * h.dim + 3 * int64_t{h.dim} * h.hidden_dim;
  int64_t total = vocab * h.dim + h.layers * per_layer + h.dim + int64_t{h.seq_len} * head_dim;
  if (h.vocab_size < 0) total += vocab * h.dim;
  return total;
}

// Hands out consecutive float32 arrays of the weights as views into one
// buffer, so loading keeps a single copy of the weights in memory.
class WeightReader {
 public:
  explicit WeightReader(torch::Tensor data) : data_(std::move(data)) {}

  torch::Tensor Take(std::vector<int64_t> shape) {
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    auto tensor = data_.narrow(0, offset_, count).view(shape);
    offset_ += count;
    return tensor;
  }

  void Skip(int64_t count) { offset_ += count; }

 private:
  torch::Tensor data_;
  int64_t offset_ = 0;
};

LlamaWeights ReadWeights(const Header& h, WeightReader& reader) {
  const int64_t L = h.layers;
  const int64_t dim = h.dim;
  const int64_t kv_dim = int64_t{h.kv_heads} * (dim / h.heads);
  const int64_t vocab = std::abs(h.vocab_size);

  LlamaWeights w;
  w.token_embedding = reader.Take({vocab, dim});
  const auto attention_norm = reader.Take({L, dim});
  const auto wq = reader.Take({L, dim, dim});
  const auto wk = reader.Take({L, kv_dim, dim});
  const auto wv = reader.Take({L, kv_dim, dim});
  const auto wo = reader.Take({L, dim, dim});
  const auto ffn_norm = reader.Take({L, dim});
  const auto w1 = reader.Take({L, h.hidden_dim, dim});
  const auto w2 = reader.Take({L, dim, h.hidden_dim});
  const auto w3 = reader.Take({L, h.hidden_dim, dim});
  w.final_norm = reader.Take({dim});
  reader.Skip(int64_t{h.seq_len} * (dim / h.heads));  // Obsolete RoPE tables.
  w.output = h.vocab_size > 0 ? w.token_embedding : reader.Take({vocab, dim});

  for (int64_t i = 0; i < L; ++i) {
    w.layers.push_back({attention_norm[i], wq[i], wk[i], wv[i], wo[i], ffn_norm[i], w1[i], w2[i],
                        w3[i]});
  }
  return w;
}

}  // namespace

bool LooksLikeLlama2cCheckpoint(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  const auto header = ReadHeader(path, file);
  return header.ok() && CheckHeader(path, *header).ok();
}

absl::StatusOr<std::unique_ptr<CausalLm>> LoadLlama2cCheckpoint(const std::string& path,
                                                                torch::Dtype dtype) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("cannot open llama2.c checkpoint '", path, "'"));
  }
  auto header = ReadHeader(path, file);
  if (!header.ok()) return header.status();
  const Header h = *header;
  const absl::Status header_status = CheckHeader(path, h);
  if (!header_status.ok()) return header_status;

  const int64_t expected_bytes = ExpectedFloats(h) * 4;
  std::error_code error;
  const auto file_bytes = static_cast<int64_t>(std::filesystem::file_size(path, error)) -
                          static_cast<int64_t>(kLlama2cHeaderBytes);
  if (error || file_bytes < expected_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "llama2.c checkpoint '", path, "' is truncated: the header needs ", expected_bytes,
        " bytes of weights after it, the file has ", file_bytes));
  }

  auto data = torch::empty({expected_bytes / 4}, torch::kFloat32);
  file.read(reinterpret_cast<char*>(data.data_ptr<float>()), expected_bytes);
  WeightReader reader(std::move(data));
  LlamaWeights weights = ReadWeights(h, reader);

  LlamaConfig config;
  config.dim = h.dim;
  config.hidden_dim = h.hidden_dim;
  config.layers = h.layers;
  config.heads = h.heads;
  config.kv_heads = h.kv_heads;
  config.vocab_size = std::abs(h.vocab_size);
  config.context_length = h.seq_len;

  ModelInfo info;
  info.architecture = "Llama";
  info.format = "llama2c";
  info.context_length = h.seq_len;
  info.vocab_size = config.vocab_size;
  info.parameters = ExpectedFloats(h) - int64_t{h.seq_len} * (h.dim / h.heads);
  info.dim = h.dim;
  info.layers = h.layers;
  info.heads = h.heads;
  info.kv_heads = h.kv_heads;
  info.hidden_dim = h.hidden_dim;
  return MakeLlama(config, std::move(weights), std::move(info), dtype);
}

}  // namespace atman::engine
