#include "tools/random_llama.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace atman::tools {
namespace {

namespace fs = std::filesystem;

// Limits of the engine's llama2.c header check.
constexpr int64_t kMaxDimension = 1 << 20;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 4096;

// Floats generated and written at a time, so memory stays small for any shape.
constexpr int64_t kChunkFloats = 1 << 20;

constexpr double kPi = 3.14159265358979323846;

// Standard normal samples from std::mt19937_64 by the Box-Muller transform.
class NormalStream {
 public:
  explicit NormalStream(uint64_t seed) : engine_(seed) {}

  double Next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    // Uniform in (0, 1]: 53 random bits, shifted by one step so log() is finite.
    const double u1 = (static_cast<double>(engine_() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(engine_() >> 11) * 0x1.0p-53;
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * kPi * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

class CheckpointWriter {
 public:
  CheckpointWriter(const fs::path& path, uint64_t seed)
      : path_(path), file_(path, std::ios::binary | std::ios::trunc), normal_(seed) {}

  bool is_open() const { return file_.is_open(); }

  void WriteInts(const std::array<int32_t, 7>& values) {
    file_.write(reinterpret_cast<const char*>(values.data()), sizeof(values));
  }

  void WriteNormal(int64_t count, double std) {
    std::vector<float> chunk;
    for (int64_t done = 0; done < count; done += kChunkFloats) {
      chunk.resize(static_cast<size_t>(std::min(kChunkFloats, count - done)));
      for (float& value : chunk) value = static_cast<float>(std * normal_.Next());
      Write(chunk);
    }
  }

  void WriteConstant(int64_t count, float value) {
    Write(std::vector<float>(static_cast<size_t>(count), value));
  }

  void Write(const std::vector<float>& values) {
    file_.write(reinterpret_cast<const char*>(values.data()),
                static_cast<std::streamsize>(values.size() * sizeof(float)));
  }

  absl::Status Close() {
    file_.close();
    if (file_.fail()) {
      return absl::InternalError(absl::StrCat("writing '", path_.string(), "' failed. ",
                                              "Check free disk space and permissions"));
    }
    return absl::OkStatus();
  }

 private:
  fs::path path_;
  std::ofstream file_;
  NormalStream normal_;
};

// The two RoPE tables of a llama2.c legacy export, [seq_len, head_dim / 2]
// each: cos, then sin, of position * 10000^(-2i / head_dim). The engine skips
// them, but other llama2.c readers expect the real values.
void WriteRopeTables(const RandomLlamaOptions& options, CheckpointWriter& writer) {
  const int64_t head_dim = options.dim / options.heads;
  for (const bool sine : {false, true}) {
    std::vector<float> table;
    table.reserve(static_cast<size_t>(options.seq_len * head_dim / 2));
    for (int64_t position = 0; position < options.seq_len; ++position) {
      for (int64_t i = 0; i < head_dim / 2; ++i) {
        const double angle =
            static_cast<double>(position) * std::pow(10000.0, -2.0 * i / head_dim);
        table.push_back(static_cast<float>(sine ? std::sin(angle) : std::cos(angle)));
      }
    }
    writer.Write(table);
  }
}

// Writes the arrays in the order of the llama2.c legacy export.
void WriteWeights(const RandomLlamaOptions& options, CheckpointWriter& writer) {
  const int64_t layers = options.layers;
  const int64_t dim = options.dim;
  const int64_t kv_dim = int64_t{options.kv_heads} * (dim / options.heads);
  const int64_t hidden = options.hidden_dim;
  const double std = options.init_std;

  writer.WriteNormal(int64_t{options.vocab_size} * dim, std);  // token embedding
  writer.WriteConstant(layers * dim, 1.0f);               // attention RMSNorm
  writer.WriteNormal(layers * dim * dim, std);            // wq
  writer.WriteNormal(layers * kv_dim * dim, std);         // wk
  writer.WriteNormal(layers * kv_dim * dim, std);         // wv
  writer.WriteNormal(layers * dim * dim, std);            // wo
  writer.WriteConstant(layers * dim, 1.0f);               // FFN RMSNorm
  writer.WriteNormal(layers * hidden * dim, std);         // w1 (gate)
  writer.WriteNormal(layers * dim * hidden, std);         // w2 (down)
  writer.WriteNormal(layers * hidden * dim, std);         // w3 (up)
  writer.WriteConstant(dim, 1.0f);                        // final RMSNorm
  WriteRopeTables(options, writer);
  if (options.separate_output) writer.WriteNormal(int64_t{options.vocab_size} * dim, std);
}

absl::Status WriteConfig(const RandomLlamaOptions& options, const fs::path& directory) {
  nlohmann::json config;
  config["name"] = options.name;
  config["version"] = absl::StrCat("random-seed", options.seed);
  config["format"] = "llama2c";
  config["weights"] = kRandomLlamaWeightsFile;
  config["tokenizer"] = kRandomLlamaTokenizerFile;

  const fs::path path = directory / "atman-model.json";
  std::ofstream file(path, std::ios::trunc);
  file << config.dump(2) << "\n";
  file.close();
  if (file.fail()) {
    return absl::InternalError(absl::StrCat("writing '", path.string(), "' failed"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRandomLlamaOptions(const RandomLlamaOptions& options) {
  const std::vector<std::pair<const char*, int64_t>> sizes = {
      {"dim", options.dim},           {"hidden_dim", options.hidden_dim}, {"layers", options.layers},
      {"heads", options.heads},       {"kv_heads", options.kv_heads},     {"vocab", options.vocab_size},
      {"seq_len", options.seq_len}};
  for (const auto& [flag, value] : sizes) {
    if (value <= 0 || value >= kMaxDimension) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, "=", value, " is invalid: it must be in [1, ", kMaxDimension, ")"));
    }
  }
  if (options.layers >= kMaxLayers || options.heads >= kMaxHeads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--layers=", options.layers, " or --heads=", options.heads, " is too large: the llama2.c loader ",
        "accepts fewer than ", kMaxLayers, " layers and ", kMaxHeads, " heads"));
  }
  if (options.dim % options.heads != 0 || (options.dim / options.heads) % 2 != 0 || options.heads % options.kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dim=", options.dim, " --heads=", options.heads, " --kv_heads=", options.kv_heads,
        " do not fit: dim must split into heads of even size, and heads into kv_heads groups"));
  }
  if (!std::isfinite(options.init_std) || options.init_std <= 0.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--init_std=", options.init_std, " is invalid: it must be a finite number > 0"));
  }
  if (options.output_dir.empty()) {
    return absl::InvalidArgumentError("--out is missing: give the directory to write");
  }
  if (options.tokenizer_path.empty() || !fs::is_regular_file(options.tokenizer_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tokenizer='", options.tokenizer_path, "' is not a file: give a SentencePiece .model, ",
        "such as stories260K's tok512.model"));
  }
  return absl::OkStatus();
}

int64_t RandomLlamaWeightBytes(const RandomLlamaOptions& options) {
  const int64_t dim = options.dim;
  const int64_t kv_dim = int64_t{options.kv_heads} * (dim / options.heads);
  const int64_t per_layer = 2 * dim + 2 * dim * dim + 2 * kv_dim * dim + 3 * dim * options.hidden_dim;
  const int64_t embedding = int64_t{options.vocab_size} * dim;
  int64_t floats = embedding + options.layers * per_layer + dim + int64_t{options.seq_len} * (dim / options.heads);
  if (options.separate_output) floats += embedding;
  return floats * static_cast<int64_t>(sizeof(float));
}

absl::Status WriteRandomLlama(const RandomLlamaOptions& options) {
  const absl::Status valid = ValidateRandomLlamaOptions(options);
  if (!valid.ok()) return valid;

  const fs::path directory(options.output_dir);
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create directory '", directory.string(),
                                            "': ", error.message()));
  }

  CheckpointWriter writer(directory / kRandomLlamaWeightsFile, options.seed);
  if (!writer.is_open()) {
    return absl::InternalError(absl::StrCat(
        "cannot open '", (directory / kRandomLlamaWeightsFile).string(), "' for writing"));
  }
  const int32_t header_vocab = options.separate_output ? -options.vocab_size : options.vocab_size;
  writer.WriteInts({options.dim, options.hidden_dim, options.layers, options.heads,
                    options.kv_heads, header_vocab, options.seq_len});
  WriteWeights(options, writer);
  const absl::Status written = writer.Close();
  if (!written.ok()) return written;

  // The copy keeps the source's mode. Adding owner_write lets a later run
  // with the same --out overwrite a copy of a read-only source.
  const fs::path tokenizer = directory / kRandomLlamaTokenizerFile;
  fs::copy_file(options.tokenizer_path, tokenizer, fs::copy_options::overwrite_existing, error);
  if (!error) fs::permissions(tokenizer, fs::perms::owner_write, fs::perm_options::add, error);
  if (error) {
    return absl::InternalError(absl::StrCat("copying tokenizer '", options.tokenizer_path,
                                            "' into '", directory.string(),
                                            "' failed: ", error.message()));
  }
  return WriteConfig(options, directory);
}

}  // namespace atman::tools
