#ifndef ATMAN_SERVER_SCHEDULER_BACKEND_H_
#define ATMAN_SERVER_SCHEDULER_BACKEND_H_

// The narrow interface through which the scheduler drives a model on one
// device. The engine adapter (engine_backend.h) implements it with LibTorch;
// tests implement it with a fake. Nothing here depends on LibTorch, gRPC or
// protobuf.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/types.h"

namespace atman::scheduler {

// Cross entropies of one perturbation: one value per target token, in nats.
// The same type as engine::CrossEntropies, so the adapter copies nothing.
using CrossEntropies = std::vector<double>;

// A request after preparation (tokenization, target generation, unit cutting
// and the baseline pass). Immutable after Backend::Prepare returns, so every
// device may run perturbations of it concurrently.
class PreparedWork {
 public:
  virtual ~PreparedWork() = default;

  // Number of perturbations; indices run from 0 to perturbation_count() - 1.
  virtual int64_t perturbation_count() const = 0;
  // Input length of one forward pass in tokens.
  virtual int64_t sequence_length() const = 0;
  // Forward passes that preparation ran (baseline and generation).
  virtual int64_t preparation_passes() const = 0;
};

// Perturbations [begin, end) of one prepared request.
struct Slice {
  const PreparedWork* work = nullptr;
  int64_t begin = 0;
  int64_t end = 0;

  int64_t size() const { return end - begin; }
};

// One model on one device.
//
// Thread-safety: the scheduler calls Prepare and RunBatch from the device's
// own worker thread only, so never concurrently on one Backend.
// EstimateSequenceLength, EstimateBatchBytes and Finalize may be called from
// any thread at any time and must be thread-safe.
class Backend {
 public:
  virtual ~Backend() = default;

  // Device name as LibTorch spells it ("cpu", "cuda:1").
  virtual const std::string& device() const = 0;

  // Returns an upper bound of the input length of one forward pass of
  // `input`, in tokens (BOS + prompt + target - 1), without running the
  // model. Admission relies on it not being exceeded after preparation.
  virtual absl::StatusOr<int64_t> EstimateSequenceLength(
      const engine::ExplainInput& input) const = 0;

  // Estimated peak bytes of one forward batch of `rows` perturbations of
  // `sequence_length` tokens. Must not decrease as either argument grows.
  virtual int64_t EstimateBatchBytes(int64_t sequence_length, int64_t rows) const = 0;

  // Tokenizes, generates the target when it is empty, cuts units and runs
  // the baseline pass on this device.
  virtual absl::StatusOr<std::shared_ptr<PreparedWork>> Prepare(
      const engine::ExplainInput& input) = 0;

  // Runs the perturbations of `slices` as one forward batch. The slices may
  // belong to different requests of this model. Returns one CrossEntropies
  // per perturbation, slice by slice, in index order within each slice.
  virtual absl::StatusOr<std::vector<CrossEntropies>> RunBatch(
      const std::vector<Slice>& slices) = 0;

  // Turns the cross entropies of every perturbation (indexed like the
  // perturbations of `work`) into scores.
  virtual absl::StatusOr<engine::ExplainResult> Finalize(
      const PreparedWork& work, const std::vector<CrossEntropies>& perturbed) const = 0;
};

}  // namespace atman::scheduler

#endif  // ATMAN_SERVER_SCHEDULER_BACKEND_H_
