#ifndef ATMAN_TESTS_ENGINE_HF_TEST_CHECKPOINTS_H_
#define ATMAN_TESTS_ENGINE_HF_TEST_CHECKPOINTS_H_

// Helpers for the Hugging Face tests: model folders, reference files,
// safetensors writers and single-call forward passes.

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/engine/causal_lm.h"

namespace atman::testing {

std::string Gpt2TinyDir();
std::string Stories260kHfDir();

// Creates an empty folder under the test temp directory, unique per call.
std::string MakeTempDir(const std::string& label);

nlohmann::json ReadJsonFile(const std::string& path);

// Reads `rows` × `columns` little-endian float32 values into a tensor.
torch::Tensor ReadFloat32Matrix(const std::string& path, int64_t rows, int64_t columns);

// Writes a safetensors file byte by byte: the 8-byte little-endian
// `header_length`, the header text, then `data`. Tests pass a wrong
// header_length to build malformed files.
void WriteRawSafetensors(const std::string& path, uint64_t header_length,
                         const std::string& header, const std::string& data);

// Writes a well-formed safetensors file of float32 tensors.
void WriteFloat32Safetensors(const std::string& path,
                             const std::map<std::string, torch::Tensor>& tensors);

// Runs `ids` as one row without suppression and returns float32 logits
// [T, vocab] at every position.
torch::Tensor FullLogits(const engine::CausalLm& model, const std::vector<int64_t>& ids);

}  // namespace atman::testing

#endif  // ATMAN_TESTS_ENGINE_HF_TEST_CHECKPOINTS_H_
