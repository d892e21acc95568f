#ifndef ATMAN_SERVER_SCHEDULER_SCHEDULER_H_
#define ATMAN_SERVER_SCHEDULER_SCHEDULER_H_

// Request queue, admission, deadlines, cancellation, batch formation and one
// worker thread per device. Nothing here depends on LibTorch, gRPC or
// protobuf: models are reached through the Backend interface.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine/types.h"
#include "server/scheduler/backend.h"
#include "server/scheduler/cancellation.h"
#include "server/scheduler/clock.h"
#include "server/scheduler/metrics.h"

namespace atman::scheduler {

struct SchedulerOptions {
  // Device names, one worker thread each. Every model has one Backend per
  // device, in this order.
  std::vector<std::string> devices = {"cpu"};
  // Maximum requests waiting in the queue; a submission beyond it gets
  // RESOURCE_EXHAUSTED. Requests taken by a worker no longer count.
  int64_t queue_limit = 64;
  // Maximum requests taken from the queue and not finished. Their
  // perturbations share the devices round-robin.
  int64_t max_active_requests = 8;
  // Memory budget of one forward batch on each device, in bytes. A request
  // whose one-perturbation batch exceeds it is rejected at submission.
  int64_t memory_budget_bytes = int64_t{4} << 30;
  // Perturbations per forward batch; 0 = as many as the memory budget
  // allows, up to kMaxBatchSizeFromBudget.
  int64_t batch_size = 0;
  // Time Drain() lets queued and running requests finish.
  absl::Duration drain_timeout = absl::Seconds(30);
};

// Progress of one request: perturbations (one per unit) finished and total.
struct Progress {
  int64_t units_done = 0;
  int64_t units_total = 0;
};

// The outcome of a successful request.
struct ScheduledResult {
  engine::ExplainResult result;
  // From submission until a worker took the request.
  absl::Duration queue_time;
  // From a worker taking the request until the result was final.
  absl::Duration compute_time;
  // Preparation passes plus every forward batch that contained at least one
  // perturbation of this request.
  int64_t forward_passes = 0;
};

using ProgressCallback = std::function<void(const Progress&)>;
using DoneCallback = std::function<void(absl::StatusOr<ScheduledResult>)>;

// One request as the service hands it to the scheduler.
struct Submission {
  // Name of a loaded model; the service resolves an empty name to the
  // default model before submitting.
  std::string model;
  engine::ExplainInput input;
  // The request ends with DEADLINE_EXCEEDED once the clock reaches it.
  absl::Time deadline = absl::InfiniteFuture();
  // Optional; when set and cancelled, the request ends with CANCELLED.
  std::shared_ptr<CancellationToken> cancellation;
  // Optional. Called after each batch that finished perturbations of this
  // request, with increasing units_done.
  ProgressCallback on_progress;
  // Required. Called exactly once when the request ends.
  DoneCallback on_done;
  // Upper bound on this request's perturbations in one forward batch;
  // 0 = SchedulerOptions.batch_size alone.
  int64_t batch_size = 0;
};

// Runs explanation requests on every device.
//
// Each request is prepared (tokenization, generation, baseline) by one
// worker, then its perturbations are handed out in slices that any worker may
// run, so one request spreads over all devices. A worker's batch starts with
// the next request in round-robin order and is filled with slices of other
// requests of the same model, up to the batch size and the memory budget.
// Results are stored by perturbation index, so scores do not depend on how
// perturbations were split or packed.
//
// Deadlines and cancellation are checked whenever a worker looks for work:
// before a request is taken from the queue and between batches. A request
// that ends drops its perturbations that have not started. Perturbations
// already running finish and their results are discarded.
//
// Callbacks run on worker threads (or on the thread calling Drain) and never
// with the scheduler's mutex held. For one request they never run
// concurrently, and progress never follows on_done. They may call Submit but
// not Drain, because Drain joins the worker threads. A slow callback delays
// its worker's next batch.
//
// Thread-safe.
class Scheduler {
 public:
  // backends[model][i] runs `model` on options.devices[i].
  using BackendsByModel = std::map<std::string, std::vector<std::unique_ptr<Backend>>>;

  // Checks the options and backends and starts one worker per device.
  // `clock` and `metrics` must outlive the scheduler; `metrics` must have
  // been created with options.devices.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(SchedulerOptions options,
                                                           BackendsByModel backends, Clock* clock,
                                                           Metrics* metrics);

  // Drains with a zero timeout when Drain has not run: every request still
  // queued or running ends with UNAVAILABLE.
  ~Scheduler();

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request. On OK, on_done will be called exactly once. Otherwise
  // no callback is called and the status is one of:
  //   NOT_FOUND          the model is not loaded;
  //   UNAVAILABLE        the scheduler is draining;
  //   RESOURCE_EXHAUSTED the queue is full, or one perturbation of the
  //                      request needs more memory than the budget;
  //   CANCELLED          the token was already cancelled;
  //   INVALID_ARGUMENT   on_done is empty;
  //   the backend's error when the input cannot be estimated.
  absl::Status Submit(Submission submission);

  // Stops admitting requests, lets queued and running requests finish
  // within options.drain_timeout (or `timeout`), ends the rest with
  // UNAVAILABLE, and joins the workers. A second call waits until the first
  // drain has finished and then returns.
  void Drain();
  void Drain(absl::Duration timeout);

  // Makes every later Submit return UNAVAILABLE without waiting for
  // anything; Drain does the rest.
  void StopAdmitting();

  bool draining() const;
  int64_t queue_depth() const;
  // Requests taken from the queue and not finished.
  int64_t active_requests() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Request;
  struct Batch;
  struct Ending;
  struct ProgressUpdate;
  struct Task;

  Scheduler(SchedulerOptions options, BackendsByModel backends, Clock* clock, Metrics* metrics);

  // Submission steps.
  absl::Status SubmitOrReject(Submission& submission);
  absl::Status CheckAdmittingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::StatusOr<std::shared_ptr<Request>> Admit(Submission& submission);
  absl::Status Enqueue(const std::shared_ptr<Request>& request);
  void Wake();
  int64_t BatchSizeLimit(int64_t request_batch_size) const;

  // Worker steps.
  void WorkerLoop(int device);
  Task NextTask();
  void CollectEndedLocked(absl::Time now, std::vector<Ending>* endings)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  bool TakeFromQueueLocked(absl::Time now, Task* task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  bool FormBatchLocked(Batch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void AddSliceLocked(const std::shared_ptr<Request>& request, Batch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Time NextDeadlineLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void RunPreparation(int device, const std::shared_ptr<Request>& request);
  void ActivateLocked(const std::shared_ptr<Request>& request,
                      absl::StatusOr<std::shared_ptr<PreparedWork>> prepared, int64_t max_rows,
                      std::vector<Ending>* endings) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void RunForwardBatch(int device, const Batch& batch);
  void MergeBatchLocked(const Batch& batch, absl::StatusOr<std::vector<CrossEntropies>> result,
                        std::vector<Ending>* endings, std::vector<ProgressUpdate>* updates)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Ending requests.
  void EndLocked(const std::shared_ptr<Request>& request, absl::Status status,
                 std::vector<Ending>* endings) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void EndAllLocked(absl::Duration timeout, std::vector<Ending>* endings)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void FinishAll(std::vector<Ending> endings);
  void Complete(const std::shared_ptr<Request>& request,
                absl::StatusOr<engine::ExplainResult> result);
  void ReportProgress(const std::shared_ptr<Request>& request, const Progress& progress);
  void StopWorkers();

  const SchedulerOptions options_;
  const BackendsByModel backends_;
  Clock* const clock_;
  Metrics* const metrics_;

  // Serializes Drain calls; held for the whole drain.
  absl::Mutex drain_mutex_ ABSL_ACQUIRED_BEFORE(mutex_);
  bool drained_ ABSL_GUARDED_BY(drain_mutex_) = false;

  mutable absl::Mutex mutex_;
  bool draining_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  uint64_t next_request_id_ ABSL_GUARDED_BY(mutex_) = 1;
  // Requests waiting for a worker, oldest first.
  std::deque<std::shared_ptr<Request>> queue_ ABSL_GUARDED_BY(mutex_);
  // Requests being prepared or computed, in increasing id order.
  std::vector<std::shared_ptr<Request>> active_ ABSL_GUARDED_BY(mutex_);
  // Id of the request that led the last batch; the next batch starts after it.
  uint64_t last_leader_id_ ABSL_GUARDED_BY(mutex_) = 0;
  // Workers waiting for work; used to split a request over idle devices.
  int64_t idle_workers_ ABSL_GUARDED_BY(mutex_) = 0;
  // Incremented on every change that may give an idle worker work.
  uint64_t wake_generation_ ABSL_GUARDED_BY(mutex_) = 0;

  std::vector<std::thread> workers_;
};

}  // namespace atman::scheduler

#endif  // ATMAN_SERVER_SCHEDULER_SCHEDULER_H_
