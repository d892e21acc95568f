#ifndef ATMAN_TESTS_SCHEDULER_FAKE_BACKEND_H_
#define ATMAN_TESTS_SCHEDULER_FAKE_BACKEND_H_

// A Backend without a model, for scheduler tests. Every prompt character is
// one token and one unit, so a prompt of n characters has n perturbations.
// Cross entropies are a fixed function of the prompt, the target and the
// perturbation index, so a test can compare results across any split.

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/scheduler/backend.h"
#include "server/scheduler/clock.h"

namespace atman::scheduler::fakes {

// Perturbations [begin, end) of the request with prompt `prompt`.
struct SliceRecord {
  std::string prompt;
  int64_t begin = 0;
  int64_t end = 0;
};

// One RunBatch call.
struct BatchRecord {
  std::string device;
  std::vector<SliceRecord> slices;
  int64_t rows = 0;
};

// State shared by the fake backends of one test: gates that hold Prepare and
// RunBatch until the test opens them, a log of calls, and failure settings.
// Thread-safe.
class FakeEngine {
 public:
  // Gates start open. A closed gate blocks every call that reaches it.
  void SetPrepareGateOpen(bool open);
  void SetBatchGateOpen(bool open);
  // Lets the first `count` RunBatch calls, counted from the start of the
  // test in call order, run; later calls wait.
  void AllowBatches(int count);

  // Block until at least `count` calls have started (gate or no gate).
  void AwaitPreparesStarted(int count);
  void AwaitBatchesStarted(int count);

  int prepares_started() const;
  int batches_started() const;
  std::vector<BatchRecord> batches() const;

  // Bytes of one token of one row, for EstimateBatchBytes.
  void set_bytes_per_token_row(int64_t bytes);
  int64_t bytes_per_token_row() const;
  // When set, every RunBatch moves `clock` forward by `duration` before it
  // returns, which models compute time.
  void set_batch_duration(FakeClock* clock, absl::Duration duration);
  // When not OK, every RunBatch returns this error.
  void set_batch_error(absl::Status error);

 private:
  friend class FakeBackend;

  void EnterPrepare();
  absl::Status EnterBatch(BatchRecord record);

  mutable absl::Mutex mutex_;
  bool prepare_gate_open_ ABSL_GUARDED_BY(mutex_) = true;
  // RunBatch call number i (from 0) runs once i < allowed_batches_.
  int allowed_batches_ ABSL_GUARDED_BY(mutex_) = std::numeric_limits<int>::max();
  int prepares_started_ ABSL_GUARDED_BY(mutex_) = 0;
  std::vector<BatchRecord> batches_ ABSL_GUARDED_BY(mutex_);
  int64_t bytes_per_token_row_ ABSL_GUARDED_BY(mutex_) = 1000;
  FakeClock* clock_ ABSL_GUARDED_BY(mutex_) = nullptr;
  absl::Duration batch_duration_ ABSL_GUARDED_BY(mutex_);
  absl::Status batch_error_ ABSL_GUARDED_BY(mutex_);
};

// A prepared fake request.
class FakeWork : public PreparedWork {
 public:
  FakeWork(std::string prompt, int64_t target_tokens);

  int64_t perturbation_count() const override;
  int64_t sequence_length() const override;
  int64_t preparation_passes() const override { return 1; }

  const std::string& prompt() const { return prompt_; }
  int64_t target_tokens() const { return target_tokens_; }

 private:
  std::string prompt_;
  int64_t target_tokens_;
};

// Cross entropies of perturbation `index` of `work`.
CrossEntropies FakeCrossEntropies(const FakeWork& work, int64_t index);

class FakeBackend : public Backend {
 public:
  // `engine` must outlive the backend.
  FakeBackend(std::string device, FakeEngine* engine);

  const std::string& device() const override { return device_; }
  // Prompt characters + target characters (or max_new_tokens when the target
  // is empty). A prompt starting with "bad" gets INVALID_ARGUMENT.
  absl::StatusOr<int64_t> EstimateSequenceLength(const engine::ExplainInput& input) const override;
  int64_t EstimateBatchBytes(int64_t sequence_length, int64_t rows) const override;
  // A prompt starting with "fail" gets INTERNAL.
  absl::StatusOr<std::shared_ptr<PreparedWork>> Prepare(const engine::ExplainInput& input) override;
  absl::StatusOr<std::vector<CrossEntropies>> RunBatch(const std::vector<Slice>& slices) override;
  // One score set; span i scores the sum of perturbation i's cross
  // entropies. Returns INTERNAL when a perturbation has no values.
  absl::StatusOr<engine::ExplainResult> Finalize(
      const PreparedWork& work, const std::vector<CrossEntropies>& perturbed) const override;

 private:
  std::string device_;
  FakeEngine* engine_;
};

// The result of explaining `input` on one fake backend in one batch, without
// a scheduler.
engine::ExplainResult ReferenceResult(const engine::ExplainInput& input);

}  // namespace atman::scheduler::fakes

#endif  // ATMAN_TESTS_SCHEDULER_FAKE_BACKEND_H_
