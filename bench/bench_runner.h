#ifndef ATMAN_BENCH_BENCH_RUNNER_H_
#define ATMAN_BENCH_BENCH_RUNNER_H_

// Times whole AtMan explanations (ExplainOnReplica) on one model with the
// exact speed-ups on and off, interleaved in one process.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace atman::bench {

struct BenchSettings {
  // Prompt lengths in token ids after BOS. Each id is one explained unit.
  std::vector<int64_t> lengths;
  // Timed explanations per mode and length, reported as their median.
  int repeats = 3;
  // Lengths >= long_length run long_repeats times instead (0 = none do).
  int64_t long_length = 0;
  int long_repeats = 1;
  // Perturbations per forward batch.
  int batch_size = 16;
  std::string device = "cpu";
  std::string dtype = "float32";
  // Continuation that every explanation explains.
  std::string target;
  // Prompt length whose memory is compared with weights + 1.5 x one batch.
  int64_t memory_check_length = 256;
};

// Returns the figures of one model as a JSON object (documented in
// docs/benchmarks.md). `prompt_pool` supplies the prompt ids: a prompt of
// length L is its first L ids, repeated from the start when L exceeds it.
absl::StatusOr<nlohmann::json> BenchmarkModel(const std::string& label,
                                              const std::string& directory,
                                              const BenchSettings& settings,
                                              const std::vector<int32_t>& prompt_pool);

}  // namespace atman::bench

#endif  // ATMAN_BENCH_BENCH_RUNNER_H_
