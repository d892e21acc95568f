// The load generator behind `atman bench`: worker threads that send Explain
// requests from a weighted mix, closed-loop or at a fixed rate.
#ifndef ATMAN_CLIENT_LOAD_GENERATOR_H_
#define ATMAN_CLIENT_LOAD_GENERATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/connection.h"
#include "client/latency_stats.h"
#include "client/workload.h"

namespace atman::client {

struct LoadOptions {
  ConnectionOptions connection;
  // Worker threads, each with its own channel and at most one request in flight.
  int64_t concurrency = 1;
  // Requests started per second over all workers. 0 means closed loop: each
  // worker sends its next request as soon as the previous one ends.
  double rate = 0;
  // No request starts after this many seconds. Must be positive.
  double duration_s = 10;
  // Max requests sent over all workers (0 = no limit).
  int64_t max_requests = 0;
  std::vector<MixEntry> mix;
  // Seed of the prompts and of the choice of mix entries.
  uint64_t seed = 1;
  // Fields copied into every request.
  std::string model;
  std::string target;
  uint32_t max_new_tokens = 0;
  // gRPC deadline of each request in milliseconds (0 = none of its own).
  int64_t deadline_ms = 0;
};

// Requests still running this long after the duration ends are cancelled by
// their gRPC deadline and counted as DEADLINE_EXCEEDED, so a run always ends.
inline constexpr double kDrainGraceSeconds = 30;

// Returns INVALID_ARGUMENT naming the option when one is out of range.
absl::Status ValidateLoadOptions(const LoadOptions& options);

// Builds request number `index`. The same options and index give the same request.
atman::v1::ExplainRequest BuildLoadRequest(const LoadOptions& options, uint64_t index);

// Runs the load and returns its report. Blocks for at most duration_s plus
// the drain grace (or plus deadline_ms when that is shorter). Latency counts
// from the scheduled start in open loop, so time spent waiting for a free
// worker shows in it, and from the send in closed loop. Returns the error of
// ValidateLoadOptions or Connection::Create when those fail.
absl::StatusOr<BenchReport> RunLoad(const LoadOptions& options);

}  // namespace atman::client

#endif  // ATMAN_CLIENT_LOAD_GENERATOR_H_
