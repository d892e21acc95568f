// The safetensors reader: dtype conversion, shards, and every kind of
// malformed file it must reject without reading out of bounds.

#include "server/engine/safetensors.h"

#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/engine/hf/test_checkpoints.h"

namespace atman::engine {
namespace {

using ::atman::testing::MakeTempDir;
using ::atman::testing::WriteFloat32Safetensors;
using ::atman::testing::WriteRawSafetensors;

std::string Bytes(const torch::Tensor& tensor) {
  const auto values = tensor.contiguous();
  return std::string(static_cast<const char*>(values.data_ptr()),
                     values.numel() * values.element_size());
}

// Writes a file with one tensor `name` described by `entry` (JSON text) and
// `data`, with a correct header length.
std::string WriteOneTensor(const std::string& label, const std::string& entry,
                           const std::string& data) {
  const std::string path = MakeTempDir(label) + "/model.safetensors";
  const std::string header = "{\"weight\":" + entry + "}";
  WriteRawSafetensors(path, header.size(), header, data);
  return path;
}

void ExpectError(const absl::Status& status, absl::StatusCode code,
                 const std::vector<std::string>& fragments) {
  EXPECT_EQ(status.code(), code) << status;
  for (const std::string& fragment : fragments) {
    EXPECT_NE(std::string(status.message()).find(fragment), std::string::npos)
        << "message '" << status.message() << "' lacks '" << fragment << "'";
  }
}

TEST(SafetensorsTest, LoadsAndConvertsFloatDtypes) {
  const auto values = torch::tensor({1.5f, -2.25f, 3.0f, 0.125f, -0.5f, 8.0f}).view({2, 3});
  const std::string path = MakeTempDir("dtypes") + "/model.safetensors";
  const std::string f32 = Bytes(values);
  const std::string f16 = Bytes(values.to(torch::kFloat16));
  const std::string bf16 = Bytes(values.to(torch::kBFloat16));
  const size_t a = f32.size();
  const size_t b = a + f16.size();
  const size_t c = b + bf16.size();
  const std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"f32\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0," + std::to_string(a) + "]},"
      "\"f16\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[" + std::to_string(a) + "," +
      std::to_string(b) + "]},"
      "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[" + std::to_string(b) + "," +
      std::to_string(c) + "]}}";
  WriteRawSafetensors(path, header.size(), header, f32 + f16 + bf16);

  auto checkpoint = SafetensorsCheckpoint::OpenFile(path);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->TensorNames(), (std::vector<std::string>{"bf16", "f16", "f32"}));
  for (const std::string name : {"f32", "f16", "bf16"}) {
    auto as_float = checkpoint->Load(name, torch::kFloat32);
    ASSERT_TRUE(as_float.ok()) << as_float.status();
    EXPECT_EQ(as_float->scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(*as_float, values)) << name;

    auto as_bf16 = checkpoint->Load(name, torch::kBFloat16);
    ASSERT_TRUE(as_bf16.ok()) << as_bf16.status();
    EXPECT_EQ(as_bf16->scalar_type(), torch::kBFloat16);
    EXPECT_EQ(as_bf16->sizes(), values.sizes());
  }
}

TEST(SafetensorsTest, EmptyTensorLoads) {
  const std::string path =
      WriteOneTensor("empty", "{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[0,0]}", "");
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  auto tensor = (*file)->Load("weight", torch::kFloat32);
  ASSERT_TRUE(tensor.ok()) << tensor.status();
  EXPECT_EQ(tensor->sizes(), (std::vector<int64_t>{0, 4}));
}

TEST(SafetensorsTest, MissingFileIsNotFound) {
  const std::string path = MakeTempDir("missing") + "/absent.safetensors";
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kNotFound, {path});
}

TEST(SafetensorsTest, FileShorterThanLengthPrefix) {
  const std::string path = MakeTempDir("short") + "/model.safetensors";
  std::ofstream(path, std::ios::binary) << "abc";
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kInvalidArgument,
              {path, "8-byte"});
}

TEST(SafetensorsTest, HeaderLengthPastEndOfFile) {
  const std::string path = MakeTempDir("truncated") + "/model.safetensors";
  WriteRawSafetensors(path, 1000, "{}", "");
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kDataLoss,
              {path, "1000", "truncated"});
}

TEST(SafetensorsTest, AbsurdHeaderLength) {
  const std::string path = MakeTempDir("absurd") + "/model.safetensors";
  WriteRawSafetensors(path, uint64_t{1} << 62, "{}", "");
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kInvalidArgument,
              {path, "exceeds"});
}

TEST(SafetensorsTest, InvalidJsonHeader) {
  const std::string path = MakeTempDir("json") + "/model.safetensors";
  const std::string header = "{\"weight\": {\"dtype\": ";
  WriteRawSafetensors(path, header.size(), header, "");
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kInvalidArgument,
              {path, "JSON"});
}

TEST(SafetensorsTest, HeaderIsNotAnObject) {
  const std::string path = MakeTempDir("array") + "/model.safetensors";
  WriteRawSafetensors(path, 2, "[]", "");
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kInvalidArgument, {path});
}

TEST(SafetensorsTest, EntryWithoutOffsets) {
  const std::string path = WriteOneTensor("no_offsets", "{\"dtype\":\"F32\",\"shape\":[1]}",
                                          std::string(4, '\0'));
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kInvalidArgument,
              {"'weight'", path, "data_offsets"});
}

TEST(SafetensorsTest, OffsetsPastDataSection) {
  const std::string path = WriteOneTensor(
      "past_end", "{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}",
      std::string(16, '\0'));
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kDataLoss,
              {"'weight'", path, "16 bytes"});
}

TEST(SafetensorsTest, OffsetsDisagreeWithShape) {
  const std::string path = WriteOneTensor(
      "size", "{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}",
      std::string(24, '\0'));
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kInvalidArgument,
              {"'weight'", path, "20 bytes", "[2,3]"});
}

TEST(SafetensorsTest, ReversedOffsets) {
  const std::string path = WriteOneTensor(
      "reversed", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}",
      std::string(8, '\0'));
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kInvalidArgument,
              {"'weight'", "begin <= end"});
}

TEST(SafetensorsTest, ShapeOverflowIsRejected) {
  const std::string path = WriteOneTensor(
      "overflow",
      "{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}", "");
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kInvalidArgument,
              {"'weight'"});
}

TEST(SafetensorsTest, NegativeDimension) {
  const std::string path = WriteOneTensor(
      "negative", "{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}",
      std::string(4, '\0'));
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kInvalidArgument,
              {"'weight'", "non-negative"});
}

TEST(SafetensorsTest, UnknownDtype) {
  const std::string path = WriteOneTensor(
      "dtype", "{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}", std::string(4, '\0'));
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kInvalidArgument,
              {"'weight'", path, "F99"});
}

TEST(SafetensorsTest, IntegerDtypeOpensButDoesNotLoad) {
  const std::string path = WriteOneTensor(
      "int64", "{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}", std::string(16, '\0'));
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ExpectError((*file)->Load("weight", torch::kFloat32).status(),
              absl::StatusCode::kInvalidArgument, {"'weight'", path, "I64"});
}

TEST(SafetensorsTest, MissingTensorIsNotFound) {
  const std::string path = WriteOneTensor(
      "lookup", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", std::string(4, '\0'));
  auto checkpoint = SafetensorsCheckpoint::OpenFile(path);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_FALSE(checkpoint->Contains("bias"));
  ExpectError(checkpoint->Load("bias", torch::kFloat32).status(), absl::StatusCode::kNotFound,
              {"'bias'", path});
  ExpectError(checkpoint->Entry("bias").status(), absl::StatusCode::kNotFound, {"'bias'"});
}

TEST(SafetensorsTest, FileTruncatedAfterOpenIsDataLoss) {
  const std::string path = WriteOneTensor(
      "shrunk", "{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}",
      std::string(16, '\0'));
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 8);
  ExpectError((*file)->Load("weight", torch::kFloat32).status(), absl::StatusCode::kDataLoss,
              {"'weight'", path});
}

// Writes two shards and an index that maps `a` to the first and `b` to the
// second; returns the folder.
std::string WriteShardedCheckpoint(const std::string& label, const std::string& index_text) {
  const std::string folder = MakeTempDir(label);
  WriteFloat32Safetensors(folder + "/model-00001-of-00002.safetensors",
                          {{"a", torch::arange(6, torch::kFloat32).view({2, 3})}});
  WriteFloat32Safetensors(folder + "/model-00002-of-00002.safetensors",
                          {{"b", torch::full({4}, 7.0f)}});
  std::ofstream(folder + "/model.safetensors.index.json") << index_text;
  return folder;
}

TEST(SafetensorsTest, ShardedCheckpointLoadsEveryTensor) {
  const std::string folder = WriteShardedCheckpoint(
      "sharded",
      R"({"metadata":{"total_size":40},"weight_map":{"a":"model-00001-of-00002.safetensors",)"
      R"("b":"model-00002-of-00002.safetensors"}})");
  EXPECT_TRUE(SafetensorsCheckpoint::ExistsIn(folder));
  auto checkpoint = SafetensorsCheckpoint::OpenDirectory(folder);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->TensorNames(), (std::vector<std::string>{"a", "b"}));

  auto a = checkpoint->Load("a", torch::kFloat32);
  auto b = checkpoint->Load("b", torch::kFloat32);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(torch::equal(*a, torch::arange(6, torch::kFloat32).view({2, 3})));
  EXPECT_TRUE(torch::equal(*b, torch::full({4}, 7.0f)));
}

TEST(SafetensorsTest, IndexNamesTensorMissingFromShard) {
  const std::string folder = WriteShardedCheckpoint(
      "shard_lacks",
      R"({"weight_map":{"a":"model-00001-of-00002.safetensors",)"
      R"("b":"model-00001-of-00002.safetensors"}})");
  ExpectError(SafetensorsCheckpoint::OpenDirectory(folder).status(), absl::StatusCode::kNotFound,
              {"'b'", "model-00001-of-00002.safetensors"});
}

TEST(SafetensorsTest, IndexNamesMissingShard) {
  const std::string folder = WriteShardedCheckpoint(
      "shard_missing", R"({"weight_map":{"a":"model-00003-of-00003.safetensors"}})");
  ExpectError(SafetensorsCheckpoint::OpenDirectory(folder).status(), absl::StatusCode::kNotFound,
              {"model-00003-of-00003.safetensors"});
}

TEST(SafetensorsTest, IndexShardOutsideFolder) {
  const std::string folder =
      WriteShardedCheckpoint("shard_path", R"({"weight_map":{"a":"../model.safetensors"}})");
  ExpectError(SafetensorsCheckpoint::OpenDirectory(folder).status(),
              absl::StatusCode::kInvalidArgument, {"'a'", "plain file name"});
}

TEST(SafetensorsTest, IndexWithoutWeightMap) {
  const std::string folder = WriteShardedCheckpoint("no_map", R"({"metadata":{}})");
  ExpectError(SafetensorsCheckpoint::OpenDirectory(folder).status(),
              absl::StatusCode::kInvalidArgument, {"weight_map"});
}

TEST(SafetensorsTest, DirectoryWithoutCheckpoint) {
  const std::string folder = MakeTempDir("no_checkpoint");
  EXPECT_FALSE(SafetensorsCheckpoint::ExistsIn(folder));
  ExpectError(SafetensorsCheckpoint::OpenDirectory(folder).status(), absl::StatusCode::kNotFound,
              {folder});
}

}  // namespace
}  // namespace atman::engine
