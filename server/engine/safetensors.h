#ifndef ATMAN_SERVER_ENGINE_SAFETENSORS_H_
#define ATMAN_SERVER_ENGINE_SAFETENSORS_H_

// Reader for Hugging Face safetensors checkpoints: one `.safetensors` file,
// or shards listed by a `model.safetensors.index.json`.
//
// File layout: an 8-byte little-endian header length N, N bytes of JSON that
// map each tensor name to {"dtype", "shape", "data_offsets": [begin, end]},
// then the data section. Offsets are relative to the start of the data
// section. Every header is validated when the file is opened, so a tensor
// that opened without error can only fail to load if the file changes on
// disk afterwards.

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace atman::engine {

// One tensor entry of a safetensors header.
struct SafetensorsEntry {
  // Dtype code as written in the header: "F32", "F16", "BF16", "I64", ...
  std::string dtype;
  std::vector<int64_t> shape;
  // Byte range [begin, end) inside the data section.
  uint64_t begin = 0;
  uint64_t end = 0;
};

// Maximum header length accepted. A larger length marks a corrupt file,
// because 100 MB of JSON describes millions of tensors.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// One safetensors file with its validated header. Immutable after Open and
// safe to use from several threads (each Load opens its own stream).
class SafetensorsFile {
 public:
  // Reads and validates the header of `path`. Returns NOT_FOUND when the
  // file cannot be opened. Returns DATA_LOSS when the file is shorter than
  // its header or a tensor's data range ends past the end of the file.
  // Returns INVALID_ARGUMENT for a header length above the limit, invalid
  // JSON, an unknown dtype, or data offsets that differ from shape × element
  // size.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
  bool Contains(const std::string& name) const { return entries_.count(name) > 0; }

  // Reads tensor `name` and converts it to `dtype`. F32, F16 and BF16 tensors
  // are supported. Errors: NOT_FOUND for a missing name, INVALID_ARGUMENT for
  // another stored dtype, DATA_LOSS when the bytes cannot be read.
  absl::StatusOr<at::Tensor> Load(const std::string& name, c10::ScalarType dtype) const;

 private:
  SafetensorsFile(std::string path, uint64_t data_offset,
                  std::map<std::string, SafetensorsEntry> entries)
      : path_(std::move(path)), data_offset_(data_offset), entries_(std::move(entries)) {}

  std::string path_;
  // File offset of the data section: 8 + header length.
  uint64_t data_offset_;
  std::map<std::string, SafetensorsEntry> entries_;
};

// All tensors of a checkpoint, from one file or from shards. Immutable after
// opening and thread-safe.
class SafetensorsCheckpoint {
 public:
  // Opens `directory`/model.safetensors.index.json when it exists, otherwise
  // `directory`/model.safetensors. NOT_FOUND when neither exists.
  static absl::StatusOr<SafetensorsCheckpoint> OpenDirectory(const std::string& directory);

  // Opens a single safetensors file.
  static absl::StatusOr<SafetensorsCheckpoint> OpenFile(const std::string& path);

  // Opens a shard index ({"weight_map": {tensor: shard file name}}). Shard
  // names must be plain file names in the index's folder. Every shard header
  // is validated, and every tensor of the weight map must be in its shard.
  static absl::StatusOr<SafetensorsCheckpoint> OpenIndex(const std::string& index_path);

  // True when a safetensors checkpoint (single file or index) is in `directory`.
  static bool ExistsIn(const std::string& directory);

  bool Contains(const std::string& name) const { return tensor_to_file_.count(name) > 0; }
  std::vector<std::string> TensorNames() const;

  // The header entry of `name`; NOT_FOUND when missing.
  absl::StatusOr<SafetensorsEntry> Entry(const std::string& name) const;

  // Reads tensor `name` converted to `dtype` (see SafetensorsFile::Load).
  absl::StatusOr<at::Tensor> Load(const std::string& name, c10::ScalarType dtype) const;

  // The file, or the index for sharded checkpoints, named in error messages.
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  // Tensor name -> index into files_.
  std::map<std::string, size_t> tensor_to_file_;
};

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_SAFETENSORS_H_
