#include "server/engine/safetensors.h"

#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/engine/status_macros.h"

namespace atman::engine {
namespace {

using json = nlohmann::json;

constexpr char kIndexFileName[] = "model.safetensors.index.json";
constexpr char kSingleFileName[] = "model.safetensors";

// Element size in bytes of every dtype code of the safetensors format;
// 0 for a code the format does not define.
uint64_t ElementSize(const std::string& dtype) {
  static const std::map<std::string, uint64_t> kSizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8}};
  auto it = kSizes.find(dtype);
  return it == kSizes.end() ? 0 : it->second;
}

// The LibTorch dtype of a floating-point dtype code that Load converts.
std::optional<c10::ScalarType> LoadableDtype(const std::string& dtype) {
  if (dtype == "F32") return torch::kFloat32;
  if (dtype == "F16") return torch::kFloat16;
  if (dtype == "BF16") return torch::kBFloat16;
  return std::nullopt;
}

bool HostIsLittleEndian() {
  const uint16_t probe = 1;
  uint8_t first_byte = 0;
  std::memcpy(&first_byte, &probe, 1);
  return first_byte == 1;
}

// Multiplies the dimensions of `shape` into `elements`; false on overflow.
bool CountElements(const std::vector<int64_t>& shape, uint64_t* elements) {
  uint64_t count = 1;
  for (int64_t dim : shape) {
    const auto size = static_cast<uint64_t>(dim);
    if (size != 0 && count > std::numeric_limits<uint64_t>::max() / size) return false;
    count *= size;
  }
  *elements = count;
  return true;
}

// Parses one header entry. `data_size` is the length of the data section.
absl::StatusOr<SafetensorsEntry> ParseEntry(const std::string& path, const std::string& name,
                                            const json& value, uint64_t data_size) {
  const std::string where = absl::StrCat("tensor '", name, "' in ", path);
  if (!value.is_object() || !value.contains("dtype") || !value["dtype"].is_string() ||
      !value.contains("shape") || !value["shape"].is_array() ||
      !value.contains("data_offsets") || !value["data_offsets"].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid safetensors header entry for ", where,
        ": expected an object with string \"dtype\", array \"shape\" and array \"data_offsets\""));
  }

  SafetensorsEntry entry;
  entry.dtype = value["dtype"].get<std::string>();
  const uint64_t element_size = ElementSize(entry.dtype);
  if (element_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown dtype '", entry.dtype, "' for ", where));
  }
  for (const json& dim : value["shape"]) {
    if (!dim.is_number_unsigned() ||
        dim.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(absl::StrCat("invalid shape ", value["shape"].dump(),
                                                     " for ", where,
                                                     ": dimensions must be non-negative integers"));
    }
    entry.shape.push_back(static_cast<int64_t>(dim.get<uint64_t>()));
  }

  const json& offsets = value["data_offsets"];
  if (offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned() || offsets[0].get<uint64_t>() > offsets[1].get<uint64_t>()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid data_offsets ", offsets.dump(),
                                                   " for ", where,
                                                   ": expected [begin, end] with begin <= end"));
  }
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();

  uint64_t elements = 0;
  if (!CountElements(entry.shape, &elements) ||
      elements > std::numeric_limits<uint64_t>::max() / element_size ||
      elements * element_size != entry.end - entry.begin) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data_offsets ", offsets.dump(), " of ", where, " span ", entry.end - entry.begin,
        " bytes, but shape ", value["shape"].dump(), " of dtype ", entry.dtype, " needs ",
        elements, " elements of ", element_size, " bytes"));
  }
  if (entry.end > data_size) {
    return absl::DataLossError(absl::StrCat("data_offsets ", offsets.dump(), " of ", where,
                                            " end past the data section (", data_size,
                                            " bytes); the file is truncated or corrupt"));
  }
  return entry;
}

// Reads the 8-byte header length and the header JSON of `path`.
absl::StatusOr<std::pair<uint64_t, json>> ReadHeader(const std::string& path,
                                                     uint64_t* file_size) {
  std::error_code error;
  *file_size = std::filesystem::file_size(path, error);
  std::ifstream stream(path, std::ios::binary);
  if (error || !stream) {
    return absl::NotFoundError(absl::StrCat("failed to open safetensors file ", path));
  }
  if (*file_size < 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "safetensors file ", path, " has ", *file_size, " bytes, fewer than the 8-byte header length"));
  }

  uint8_t length_bytes[8];
  stream.read(reinterpret_cast<char*>(length_bytes), 8);
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | length_bytes[i];
  if (header_length > kMaxSafetensorsHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "safetensors header length ", header_length, " in ", path, " exceeds the limit of ",
        kMaxSafetensorsHeaderBytes, " bytes; the file is corrupt or not a safetensors file"));
  }
  if (header_length > *file_size - 8) {
    return absl::DataLossError(absl::StrCat("safetensors header length ", header_length, " in ",
                                            path, " is larger than the rest of the file (",
                                            *file_size - 8, " bytes); the file is truncated"));
  }

  std::string text(header_length, '\0');
  if (!stream.read(text.data(), static_cast<std::streamsize>(header_length))) {
    return absl::DataLossError(absl::StrCat("failed to read the safetensors header of ", path));
  }
  json header = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("safetensors header of ", path, " is not a valid JSON object"));
  }
  return std::make_pair(header_length, std::move(header));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  uint64_t file_size = 0;
  ASSIGN_OR_RETURN(auto header, ReadHeader(path, &file_size));
  const uint64_t data_offset = 8 + header.first;
  const uint64_t data_size = file_size - data_offset;

  std::map<std::string, SafetensorsEntry> entries;
  for (const auto& [name, value] : header.second.items()) {
    if (name == "__metadata__") continue;
    ASSIGN_OR_RETURN(SafetensorsEntry entry, ParseEntry(path, name, value, data_size));
    entries.emplace(name, std::move(entry));
  }
  return std::unique_ptr<SafetensorsFile>(
      new SafetensorsFile(path, data_offset, std::move(entries)));
}

absl::StatusOr<at::Tensor> SafetensorsFile::Load(const std::string& name,
                                                 c10::ScalarType dtype) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat("tensor '", name, "' not found in ", path_));
  }
  const SafetensorsEntry& entry = it->second;
  const std::optional<c10::ScalarType> stored = LoadableDtype(entry.dtype);
  if (!stored) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' in ", path_, " has dtype ",
                                                   entry.dtype,
                                                   "; only F32, F16 and BF16 weights can be loaded"));
  }
  if (!HostIsLittleEndian()) {
    return absl::UnimplementedError("safetensors data is little-endian; this host is big-endian");
  }

  torch::Tensor raw = torch::empty(entry.shape, torch::TensorOptions().dtype(*stored));
  const uint64_t byte_count = entry.end - entry.begin;
  std::ifstream stream(path_, std::ios::binary);
  stream.seekg(static_cast<std::streamoff>(data_offset_ + entry.begin));
  if (byte_count > 0 && (!stream || !stream.read(static_cast<char*>(raw.data_ptr()),
                                                 static_cast<std::streamsize>(byte_count)))) {
    return absl::DataLossError(absl::StrCat("failed to read ", byte_count, " bytes of tensor '",
                                            name, "' from ", path_,
                                            "; the file changed or was truncated after opening"));
  }
  return raw.to(dtype);
}

absl::StatusOr<SafetensorsCheckpoint> SafetensorsCheckpoint::OpenFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(path));
  SafetensorsCheckpoint checkpoint;
  checkpoint.source_ = path;
  for (const auto& [name, entry] : file->entries()) checkpoint.tensor_to_file_[name] = 0;
  checkpoint.files_.push_back(std::move(file));
  return checkpoint;
}

absl::StatusOr<SafetensorsCheckpoint> SafetensorsCheckpoint::OpenIndex(
    const std::string& index_path) {
  std::ifstream stream(index_path);
  if (!stream) {
    return absl::NotFoundError(absl::StrCat("failed to open safetensors index ", index_path));
  }
  json index = json::parse(stream, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded() || !index.is_object() || !index.contains("weight_map") ||
      !index["weight_map"].is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "safetensors index ", index_path, " is not a JSON object with a \"weight_map\" object"));
  }

  SafetensorsCheckpoint checkpoint;
  checkpoint.source_ = index_path;
  const std::filesystem::path folder = std::filesystem::path(index_path).parent_path();
  std::map<std::string, size_t> shard_to_file;
  for (const auto& [name, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("weight_map entry of tensor '", name, "' in ",
                                                     index_path, " is not a file name string"));
    }
    const std::string shard_name = shard.get<std::string>();
    if (shard_name.empty() || shard_name.find('/') != std::string::npos ||
        shard_name.find('\\') != std::string::npos || shard_name == "." || shard_name == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("shard '", shard_name, "' of tensor '", name, "' in ", index_path,
                       " must be a plain file name in the index's folder"));
    }

    auto [it, inserted] = shard_to_file.emplace(shard_name, checkpoint.files_.size());
    if (inserted) {
      ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                       SafetensorsFile::Open((folder / shard_name).string()));
      checkpoint.files_.push_back(std::move(file));
    }
    if (!checkpoint.files_[it->second]->Contains(name)) {
      return absl::NotFoundError(absl::StrCat("tensor '", name, "' is mapped to shard ",
                                              shard_name, " by ", index_path,
                                              ", but that shard does not contain it"));
    }
    checkpoint.tensor_to_file_[name] = it->second;
  }
  return checkpoint;
}

absl::StatusOr<SafetensorsCheckpoint> SafetensorsCheckpoint::OpenDirectory(
    const std::string& directory) {
  const std::filesystem::path folder(directory);
  if (std::filesystem::exists(folder / kIndexFileName)) {
    return OpenIndex((folder / kIndexFileName).string());
  }
  if (std::filesystem::exists(folder / kSingleFileName)) {
    return OpenFile((folder / kSingleFileName).string());
  }
  return absl::NotFoundError(absl::StrCat("no ", kSingleFileName, " or ", kIndexFileName, " in ",
                                          directory));
}

bool SafetensorsCheckpoint::ExistsIn(const std::string& directory) {
  const std::filesystem::path folder(directory);
  std::error_code error;
  return std::filesystem::exists(folder / kIndexFileName, error) ||
         std::filesystem::exists(folder / kSingleFileName, error);
}

std::vector<std::string> SafetensorsCheckpoint::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(tensor_to_file_.size());
  for (const auto& [name, file] : tensor_to_file_) names.push_back(name);
  return names;
}

absl::StatusOr<SafetensorsEntry> SafetensorsCheckpoint::Entry(const std::string& name) const {
  auto it = tensor_to_file_.find(name);
  if (it == tensor_to_file_.end()) {
    return absl::NotFoundError(absl::StrCat("tensor '", name, "' not found in ", source_));
  }
  return files_[it->second]->entries().at(name);
}

absl::StatusOr<at::Tensor> SafetensorsCheckpoint::Load(const std::string& name,
                                                       c10::ScalarType dtype) const {
  auto it = tensor_to_file_.find(name);
  if (it == tensor_to_file_.end()) {
    return absl::NotFoundError(absl::StrCat("tensor '", name, "' not found in ", source_));
  }
  return files_[it->second]->Load(name, dtype);
}

}  // namespace atman::engine
