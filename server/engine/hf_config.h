#ifndef ATMAN_SERVER_ENGINE_HF_CONFIG_H_
#define ATMAN_SERVER_ENGINE_HF_CONFIG_H_

// Helpers shared by the Hugging Face model loaders: typed access to
// config.json fields and shape-checked weight loading.

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"
#include "server/engine/safetensors.h"

namespace atman::engine {

// A parsed config.json with the path used in error messages. It refers to
// `json` without copying, so the JSON value must outlive it.
struct HfConfig {
  const nlohmann::json& json;
  std::string path;
};

// Returns the integer field `key`; INVALID_ARGUMENT when it is missing, null
// or not an integer.
absl::StatusOr<int64_t> RequiredInt(const HfConfig& config, const std::string& key);

// Returns the integer field `key`, or `fallback` when it is missing or null.
absl::StatusOr<int64_t> OptionalInt(const HfConfig& config, const std::string& key,
                                    int64_t fallback);

// Returns the number field `key`, or `fallback` when it is missing or null.
absl::StatusOr<double> OptionalDouble(const HfConfig& config, const std::string& key,
                                      double fallback);

// Returns the boolean field `key`, or `fallback` when it is missing or null.
absl::StatusOr<bool> OptionalBool(const HfConfig& config, const std::string& key, bool fallback);

// Returns the string field `key`, or `fallback` when it is missing or null.
absl::StatusOr<std::string> OptionalString(const HfConfig& config, const std::string& key,
                                           const std::string& fallback);

// Loads tensor `name` in `dtype` and checks that its shape is `shape`.
absl::StatusOr<torch::Tensor> LoadWeight(const SafetensorsCheckpoint& checkpoint,
                                         const std::string& name, std::vector<int64_t> shape,
                                         torch::Dtype dtype);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_HF_CONFIG_H_
