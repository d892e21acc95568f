#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "server/engine/status_macros.h"
#include "server/scheduler/admission.h"

namespace atman::scheduler {
namespace {

enum class RequestState { kQueued, kPreparing, kRunning, kEnded };

absl::Status ValidateOptions(const SchedulerOptions& options) {
  if (options.devices.empty()) {
    return absl::InvalidArgumentError(
        "SchedulerOptions.devices is empty; give at least one device");
  }
  const std::set<std::string> unique(options.devices.begin(), options.devices.end());
  if (unique.size() != options.devices.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SchedulerOptions.devices [", absl::StrJoin(options.devices, ", "),
                     "] names a device twice; list each device once"));
  }
  if (options.queue_limit < 1 || options.max_active_requests < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "SchedulerOptions.queue_limit (%d) and max_active_requests (%d) must be at least 1",
        options.queue_limit, options.max_active_requests));
  }
  if (options.memory_budget_bytes < 1 || options.batch_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("SchedulerOptions.memory_budget_bytes (%d) must be positive and batch_size "
                        "(%d) must not be "
                        "negative",
                        options.memory_budget_bytes, options.batch_size));
  }
  if (options.drain_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("SchedulerOptions.drain_timeout is negative (",
                                                   absl::FormatDuration(options.drain_timeout),
                                                   "); use 0 or more"));
  }
  return absl::OkStatus();
}

absl::Status ValidateBackends(const std::vector<std::string>& devices,
                              const Scheduler::BackendsByModel& backends) {
  if (backends.empty()) return absl::InvalidArgumentError("no models: the backend map is empty");

  for (const auto& [model, replicas] : backends) {
    if (replicas.size() != devices.size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("model \"%s\" has %d backends but there are %d devices; give one backend "
                          "per device, in the order of SchedulerOptions.devices",
                          model, replicas.size(), devices.size()));
    }
    for (size_t i = 0; i < replicas.size(); ++i) {
      if (replicas[i] == nullptr || replicas[i]->device() != devices[i]) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "backend %d of model \"%s\" runs on \"%s\" but device %d is \"%s\"", i, model,
            replicas[i] == nullptr ? "(null)" : replicas[i]->device(), i, devices[i]));
      }
    }
  }
  return absl::OkStatus();
}

std::string ModelNames(const Scheduler::BackendsByModel& backends) {
  std::vector<std::string> names;
  for (const auto& entry : backends) names.push_back(entry.first);
  return absl::StrJoin(names, ", ");
}

}  // namespace

struct Scheduler::Request {
  // Set before the request is queued and constant afterwards.
  uint64_t id = 0;
  std::string model;
  const std::vector<std::unique_ptr<Backend>>* backends = nullptr;
  engine::ExplainInput input;
  absl::Time submit_time;
  absl::Time deadline;
  std::shared_ptr<CancellationToken> cancellation;
  ProgressCallback on_progress;
  DoneCallback on_done;

  // Guarded by Scheduler::mutex_. Once `state` is kEnded, only the thread
  // that ended the request reads `work` and `results`.
  RequestState state = RequestState::kQueued;
  absl::Time dequeue_time;
  // Rows of this request's sequence length that fit the memory budget and
  // the batch size limits.
  int64_t max_rows = 0;
  int64_t batch_size = 0;
  std::shared_ptr<PreparedWork> work;
  // First perturbation not yet handed to a worker.
  int64_t next_index = 0;
  int64_t units_done = 0;
  int64_t forward_passes = 0;
  // Indexed by perturbation.
  std::vector<CrossEntropies> results;

  // Serializes the callbacks of this request.
  absl::Mutex callback_mutex;
  int64_t reported_units ABSL_GUARDED_BY(callback_mutex) = 0;
  bool done_called ABSL_GUARDED_BY(callback_mutex) = false;

  int64_t units_total() const { return work == nullptr ? 0 : work->perturbation_count(); }
  int64_t pending() const {
    return state == RequestState::kRunning ? units_total() - next_index : 0;
  }

  // Returns CANCELLED or DEADLINE_EXCEEDED when the request must end at
  // `now`, and OK otherwise.
  absl::Status EndReason(absl::Time now) const {
    const bool queued = state == RequestState::kQueued;
    if (cancellation != nullptr && cancellation->IsCancelled()) {
      if (queued) return absl::CancelledError("request cancelled by the client while queued");
      return absl::CancelledError(absl::StrFormat(
          "request cancelled by the client after %d of %d perturbations; the remaining "
          "perturbations were dropped",
          units_done, units_total()));
    }
    if (now < deadline) return absl::OkStatus();

    if (queued) {
      return absl::DeadlineExceededError(absl::StrCat(
          "deadline exceeded while the request waited ", absl::FormatDuration(now - submit_time),
          " in the queue; no perturbation ran; set a later deadline or retry when the server is "
          "less busy"));
    }
    return absl::DeadlineExceededError(absl::StrFormat(
        "deadline exceeded after %d of %d perturbations, %s after submission; the remaining "
        "perturbations were dropped; set a later deadline",
        units_done, units_total(), absl::FormatDuration(now - submit_time)));
  }
};

// Perturbations of one or more requests of one model, run as one forward pass.
struct Scheduler::Batch {
  // requests[i] owns slices[i].
  std::vector<std::shared_ptr<Request>> requests;
  std::vector<Slice> slices;
  int64_t rows = 0;
  // Smallest max_rows of the requests in the batch.
  int64_t max_rows = std::numeric_limits<int64_t>::max();
};

// A request taken out of the queue or the active list, to be completed
// outside the mutex. An OK status means that every perturbation finished and
// the result is to be finalized.
struct Scheduler::Ending {
  std::shared_ptr<Request> request;
  absl::Status status;
};

struct Scheduler::ProgressUpdate {
  std::shared_ptr<Request> request;
  Progress progress;
};

// The next step of a worker: complete `endings`, then stop, or prepare
// `prepare`, or run `batch`.
struct Scheduler::Task {
  std::vector<Ending> endings;
  bool stop = false;
  std::shared_ptr<Request> prepare;
  Batch batch;
};

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(SchedulerOptions options,
                                                             BackendsByModel backends, Clock* clock,
                                                             Metrics* metrics) {
  RETURN_IF_ERROR(ValidateOptions(options));
  RETURN_IF_ERROR(ValidateBackends(options.devices, backends));
  if (clock == nullptr || metrics == nullptr) {
    return absl::InvalidArgumentError("Scheduler::Create needs a clock and metrics, got null");
  }

  LOG(INFO) << "Starting the scheduler: devices [" << absl::StrJoin(options.devices, ", ")
            << "], models [" << ModelNames(backends) << "], queue limit " << options.queue_limit
            << ", max active requests " << options.max_active_requests << ", memory budget "
            << options.memory_budget_bytes << " bytes per device, batch size "
            << (options.batch_size > 0 ? absl::StrCat(options.batch_size) : "from memory budget");
  return absl::WrapUnique(new Scheduler(std::move(options), std::move(backends), clock, metrics));
}

Scheduler::Scheduler(SchedulerOptions options, BackendsByModel backends, Clock* clock,
                     Metrics* metrics)
    : options_(std::move(options)),
      backends_(std::move(backends)),
      clock_(clock),
      metrics_(metrics) {
  {
    absl::MutexLock lock(&mutex_);
    UpdateGaugesLocked();
  }
  for (int device = 0; device < static_cast<int>(options_.devices.size()); ++device) {
    workers_.emplace_back([this, device] { WorkerLoop(device); });
  }
}

Scheduler::~Scheduler() { Drain(absl::ZeroDuration()); }

absl::Status Scheduler::Submit(Submission submission) {
  const std::string model = submission.model;
  absl::Status status = SubmitOrReject(submission);
  if (!status.ok()) {
    // An unknown name is not used as a label, so clients cannot add series.
    metrics_->RecordRejected(backends_.count(model) > 0 ? model : "", status.code());
    VLOG(1) << "Rejected a request for model \"" << model << "\": " << status;
  }
  return status;
}

absl::Status Scheduler::SubmitOrReject(Submission& submission) {
  if (backends_.count(submission.model) == 0) {
    return absl::NotFoundError(absl::StrCat(
        "model \"", submission.model, "\" is not loaded; loaded models: ", ModelNames(backends_)));
  }
  if (!submission.on_done) {
    return absl::InvalidArgumentError("Submission.on_done is empty; a request needs a callback");
  }
  {
    absl::MutexLock lock(&mutex_);
    RETURN_IF_ERROR(CheckAdmittingLocked());
  }

  ASSIGN_OR_RETURN(std::shared_ptr<Request> request, Admit(submission));

  const std::shared_ptr<CancellationToken>& token = request->cancellation;
  if (token != nullptr) {
    token->SetListener([this] { Wake(); });
    if (token->IsCancelled()) {
      token->SetListener(nullptr);
      return absl::CancelledError("request cancelled by the client before it was queued");
    }
  }

  absl::Status status = Enqueue(request);
  if (!status.ok() && token != nullptr) token->SetListener(nullptr);
  return status;
}

absl::Status Scheduler::CheckAdmittingLocked() const {
  if (draining_) {
    return absl::UnavailableError("server is draining; send the request to another replica");
  }
  if (static_cast<int64_t>(queue_.size()) >= options_.queue_limit) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "queue is full: %d requests are waiting and the queue limit is %d; retry later or send "
        "the request to another replica",
        queue_.size(), options_.queue_limit));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Scheduler::Request>> Scheduler::Admit(Submission& submission) {
  const std::vector<std::unique_ptr<Backend>>& replicas = backends_.at(submission.model);
  const Backend& backend = *replicas.front();
  ASSIGN_OR_RETURN(const int64_t length, backend.EstimateSequenceLength(submission.input));

  const int64_t max_rows = MaxRowsWithinBudget(
      backend, length, BatchSizeLimit(submission.batch_size), options_.memory_budget_bytes);
  if (max_rows == 0) {
    return MemoryBudgetExceededError(length, backend.EstimateBatchBytes(length, 1),
                                     options_.memory_budget_bytes);
  }

  auto request = std::make_shared<Request>();
  request->model = submission.model;
  request->backends = &replicas;
  request->input = std::move(submission.input);
  request->deadline = submission.deadline;
  request->cancellation = std::move(submission.cancellation);
  request->on_progress = std::move(submission.on_progress);
  request->on_done = std::move(submission.on_done);
  request->max_rows = max_rows;
  request->batch_size = submission.batch_size;
  return request;
}

absl::Status Scheduler::Enqueue(const std::shared_ptr<Request>& request) {
  {
    absl::MutexLock lock(&mutex_);
    RETURN_IF_ERROR(CheckAdmittingLocked());
    request->id = next_request_id_++;
    request->submit_time = clock_->Now();
    queue_.push_back(request);
    ++wake_generation_;
    UpdateGaugesLocked();
  }

  VLOG(1) << "Queued request " << request->id << " for model \"" << request->model << "\"";
  return absl::OkStatus();
}

void Scheduler::Wake() {
  absl::MutexLock lock(&mutex_);
  ++wake_generation_;
}

int64_t Scheduler::BatchSizeLimit(int64_t request_batch_size) const {
  const int64_t limit = options_.batch_size > 0 ? options_.batch_size : kMaxBatchSizeFromBudget;
  return request_batch_size > 0 ? std::min(limit, request_batch_size) : limit;
}

void Scheduler::WorkerLoop(int device) {
  VLOG(1) << "Worker for device " << options_.devices[device] << " started";
  while (true) {
    Task task = NextTask();
    FinishAll(std::move(task.endings));
    if (task.stop) break;

    if (task.prepare != nullptr) RunPreparation(device, task.prepare);
    if (!task.batch.slices.empty()) RunForwardBatch(device, task.batch);
  }
  VLOG(1) << "Worker for device " << options_.devices[device] << " stopped";
}

Scheduler::Task Scheduler::NextTask() {
  absl::MutexLock lock(&mutex_);
  while (true) {
    Task task;
    const absl::Time now = clock_->Now();

    CollectEndedLocked(now, &task.endings);
    if (!task.endings.empty()) return task;

    if (stopping_) {
      task.stop = true;
      return task;
    }
    if (TakeFromQueueLocked(now, &task)) return task;
    if (FormBatchLocked(&task.batch)) return task;

    // Nothing to do: wait for a change or for the next deadline to pass.
    const uint64_t generation = wake_generation_;
    auto changed = [this, generation]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return wake_generation_ != generation;
    };
    ++idle_workers_;
    clock_->AwaitWithDeadline(&mutex_, absl::Condition(&changed), NextDeadlineLocked());
    --idle_workers_;
  }
}

void Scheduler::CollectEndedLocked(absl::Time now, std::vector<Ending>* endings) {
  std::vector<Ending> ended;
  for (const auto& request : queue_) {
    absl::Status reason = request->EndReason(now);
    if (!reason.ok()) ended.push_back({request, std::move(reason)});
  }
  for (const auto& request : active_) {
    absl::Status reason = request->EndReason(now);
    if (!reason.ok()) ended.push_back({request, std::move(reason)});
  }

  for (Ending& ending : ended) EndLocked(ending.request, std::move(ending.status), endings);
}

bool Scheduler::TakeFromQueueLocked(absl::Time now, Task* task) {
  if (queue_.empty() || static_cast<int64_t>(active_.size()) >= options_.max_active_requests) {
    return false;
  }

  std::shared_ptr<Request> request = std::move(queue_.front());
  queue_.pop_front();
  request->state = RequestState::kPreparing;
  request->dequeue_time = now;
  // Ids grow in queue order, so appending keeps active_ sorted by id.
  active_.push_back(request);
  UpdateGaugesLocked();
  metrics_->RecordQueueTime(now - request->submit_time);

  task->prepare = std::move(request);
  return true;
}

bool Scheduler::FormBatchLocked(Batch* batch) {
  const size_t count = active_.size();
  size_t start = 0;
  while (start < count && active_[start]->id <= last_leader_id_) ++start;

  // Round-robin: the first request with pending perturbations after the last
  // leader leads the batch; later requests of the same model fill it up.
  for (size_t k = 0; k < count; ++k) {
    const std::shared_ptr<Request>& request = active_[(start + k) % count];
    if (request->pending() == 0) continue;

    if (batch->requests.empty()) {
      last_leader_id_ = request->id;
      AddSliceLocked(request, batch);
    } else if (request->model == batch->requests.front()->model) {
      AddSliceLocked(request, batch);
    }
    if (batch->rows >= batch->max_rows) break;
  }
  return !batch->requests.empty();
}

void Scheduler::AddSliceLocked(const std::shared_ptr<Request>& request, Batch* batch) {
  const int64_t max_rows = std::min(batch->max_rows, request->max_rows);
  if (max_rows <= batch->rows) return;

  // Take at most an even share of the pending perturbations per idle worker,
  // so that a request spreads over every idle device.
  const int64_t pending = request->pending();
  const int64_t workers = idle_workers_ + 1;
  const int64_t share = (pending + workers - 1) / workers;
  const int64_t rows = std::min({pending, share, max_rows - batch->rows});

  batch->slices.push_back({request->work.get(), request->next_index, request->next_index + rows});
  batch->requests.push_back(request);
  request->next_index += rows;
  batch->rows += rows;
  batch->max_rows = max_rows;
}

absl::Time Scheduler::NextDeadlineLocked() const {
  absl::Time next = absl::InfiniteFuture();
  for (const auto& request : queue_) next = std::min(next, request->deadline);
  for (const auto& request : active_) next = std::min(next, request->deadline);
  return next;
}

void Scheduler::RunPreparation(int device, const std::shared_ptr<Request>& request) {
  Backend& backend = *(*request->backends)[device];
  const absl::Time start = clock_->Now();
  absl::StatusOr<std::shared_ptr<PreparedWork>> prepared = backend.Prepare(request->input);
  const absl::Duration busy = clock_->Now() - start;

  if (prepared.ok() && *prepared == nullptr) {
    prepared = absl::InternalError(
        absl::StrCat("the backend on ", backend.device(), " returned no prepared request"));
  }
  const int64_t passes = prepared.ok() ? (*prepared)->preparation_passes() : 0;
  metrics_->RecordPreparation(device, passes, busy);

  // The real sequence length may be shorter than the estimate, which allows
  // larger batches.
  int64_t max_rows = 0;
  if (prepared.ok()) {
    const int64_t length = (*prepared)->sequence_length();
    max_rows = MaxRowsWithinBudget(backend, length, BatchSizeLimit(request->batch_size),
                                   options_.memory_budget_bytes);
    if (max_rows == 0) {
      prepared = MemoryBudgetExceededError(length, backend.EstimateBatchBytes(length, 1),
                                           options_.memory_budget_bytes);
    }
  }

  std::vector<Ending> endings;
  {
    absl::MutexLock lock(&mutex_);
    ActivateLocked(request, std::move(prepared), max_rows, &endings);
    ++wake_generation_;
  }
  FinishAll(std::move(endings));
}

void Scheduler::ActivateLocked(const std::shared_ptr<Request>& request,
                               absl::StatusOr<std::shared_ptr<PreparedWork>> prepared,
                               int64_t max_rows, std::vector<Ending>* endings) {
  // A request that ended while it was prepared has already been completed.
  if (request->state == RequestState::kEnded) return;
  if (!prepared.ok()) {
    EndLocked(request, prepared.status(), endings);
    return;
  }

  request->work = std::move(*prepared);
  request->forward_passes = request->work->preparation_passes();
  request->max_rows = max_rows;
  request->results.resize(request->units_total());
  request->state = RequestState::kRunning;
  VLOG(1) << "Prepared request " << request->id << ": " << request->units_total()
          << " perturbations of " << request->work->sequence_length() << " tokens, up to "
          << max_rows << " per batch";

  if (request->units_total() == 0) EndLocked(request, absl::OkStatus(), endings);
}

void Scheduler::RunForwardBatch(int device, const Batch& batch) {
  Backend& backend = *(*batch.requests.front()->backends)[device];
  const absl::Time start = clock_->Now();
  absl::StatusOr<std::vector<CrossEntropies>> result = backend.RunBatch(batch.slices);
  metrics_->RecordBatch(device, batch.rows, clock_->Now() - start);

  if (result.ok() && static_cast<int64_t>(result->size()) != batch.rows) {
    result = absl::InternalError(
        absl::StrFormat("the backend on %s returned %d results for a batch of %d perturbations",
                        backend.device(), result->size(), batch.rows));
  }
  if (!result.ok()) {
    LOG(WARNING) << "A forward batch of " << batch.rows << " perturbations from "
                 << batch.requests.size() << " requests failed on " << backend.device() << ": "
                 << result.status();
  }

  std::vector<Ending> endings;
  std::vector<ProgressUpdate> updates;
  {
    absl::MutexLock lock(&mutex_);
    MergeBatchLocked(batch, std::move(result), &endings, &updates);
    ++wake_generation_;
  }

  for (const ProgressUpdate& update : updates) ReportProgress(update.request, update.progress);
  FinishAll(std::move(endings));
}

void Scheduler::MergeBatchLocked(const Batch& batch,
                                 absl::StatusOr<std::vector<CrossEntropies>> result,
                                 std::vector<Ending>* endings,
                                 std::vector<ProgressUpdate>* updates) {
  size_t offset = 0;
  for (size_t i = 0; i < batch.slices.size(); ++i) {
    const Slice& slice = batch.slices[i];
    const std::shared_ptr<Request>& request = batch.requests[i];
    const size_t first = offset;
    offset += slice.size();

    // A request that ended meanwhile has been completed; drop its results.
    if (request->state == RequestState::kEnded) continue;
    if (!result.ok()) {
      EndLocked(request, result.status(), endings);
      continue;
    }

    for (int64_t j = 0; j < slice.size(); ++j) {
      request->results[slice.begin + j] = std::move((*result)[first + j]);
    }
    request->units_done += slice.size();
    ++request->forward_passes;
    updates->push_back({request, {request->units_done, request->units_total()}});
    if (request->units_done == request->units_total()) {
      EndLocked(request, absl::OkStatus(), endings);
    }
  }
}

void Scheduler::EndLocked(const std::shared_ptr<Request>& request, absl::Status status,
                          std::vector<Ending>* endings) {
  if (request->state == RequestState::kQueued) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), request));
  } else {
    active_.erase(std::find(active_.begin(), active_.end(), request));
  }
  request->state = RequestState::kEnded;
  endings->push_back({request, std::move(status)});
  UpdateGaugesLocked();
}

void Scheduler::UpdateGaugesLocked() {
  metrics_->SetQueueDepth(static_cast<int64_t>(queue_.size()));
  metrics_->SetInflightRequests(static_cast<int64_t>(active_.size()));
}

void Scheduler::FinishAll(std::vector<Ending> endings) {
  for (Ending& ending : endings) {
    Request& request = *ending.request;
    if (!ending.status.ok()) {
      Complete(ending.request, std::move(ending.status));
      continue;
    }

    // Every perturbation finished; no other thread touches `work` and
    // `results` of an ended request.
    absl::StatusOr<engine::ExplainResult> result =
        request.backends->front()->Finalize(*request.work, request.results);
    request.results.clear();
    request.results.shrink_to_fit();
    Complete(ending.request, std::move(result));
  }
}

void Scheduler::Complete(const std::shared_ptr<Request>& request,
                         absl::StatusOr<engine::ExplainResult> result) {
  const absl::Time now = clock_->Now();
  if (request->cancellation != nullptr) request->cancellation->SetListener(nullptr);

  absl::StatusOr<ScheduledResult> outcome;
  if (result.ok()) {
    ScheduledResult scheduled;
    scheduled.result = std::move(*result);
    scheduled.queue_time = request->dequeue_time - request->submit_time;
    scheduled.compute_time = now - request->dequeue_time;
    scheduled.forward_passes = request->forward_passes;
    metrics_->RecordComputeTime(scheduled.compute_time);
    outcome = std::move(scheduled);
  } else {
    outcome = result.status();
  }
  metrics_->RecordFinished(request->model, outcome.status().code(), now - request->submit_time);
  VLOG(1) << "Request " << request->id << " for model \"" << request->model
          << "\" finished: " << outcome.status();

  absl::MutexLock lock(&request->callback_mutex);
  request->done_called = true;
  request->on_done(std::move(outcome));
}

void Scheduler::ReportProgress(const std::shared_ptr<Request>& request, const Progress& progress) {
  if (!request->on_progress) return;

  // Workers may merge batches of one request in any order; only increases
  // are reported, and nothing after on_done.
  absl::MutexLock lock(&request->callback_mutex);
  if (request->done_called || progress.units_done <= request->reported_units) return;
  request->reported_units = progress.units_done;
  request->on_progress(progress);
}

void Scheduler::Drain() { Drain(options_.drain_timeout); }

void Scheduler::StopAdmitting() {
  absl::MutexLock lock(&mutex_);
  draining_ = true;
}

void Scheduler::Drain(absl::Duration timeout) {
  absl::MutexLock drain_lock(&drain_mutex_);
  if (drained_) return;

  std::vector<Ending> endings;
  {
    absl::MutexLock lock(&mutex_);
    draining_ = true;
    ++wake_generation_;
    LOG(INFO) << "Draining the scheduler: " << queue_.size() << " queued and " << active_.size()
              << " running requests get up to " << absl::FormatDuration(timeout) << " to finish";

    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return queue_.empty() && active_.empty();
    };
    if (!clock_->AwaitWithDeadline(&mutex_, absl::Condition(&idle), clock_->Now() + timeout)) {
      EndAllLocked(timeout, &endings);
    }
  }

  if (!endings.empty()) {
    LOG(WARNING) << "Drain timeout of " << absl::FormatDuration(timeout) << " passed; ending "
                 << endings.size() << " unfinished requests with UNAVAILABLE";
  }
  FinishAll(std::move(endings));
  StopWorkers();
  drained_ = true;
  LOG(INFO) << "Scheduler drained; its workers have stopped";
}

void Scheduler::EndAllLocked(absl::Duration timeout, std::vector<Ending>* endings) {
  const absl::Status status = absl::UnavailableError(
      absl::StrCat("server is draining and the drain timeout of ", absl::FormatDuration(timeout),
                   " passed before the request finished; retry on another replica"));
  std::vector<std::shared_ptr<Request>> unfinished(queue_.begin(), queue_.end());
  unfinished.insert(unfinished.end(), active_.begin(), active_.end());
  for (const auto& request : unfinished) EndLocked(request, status, endings);
}

void Scheduler::StopWorkers() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
    ++wake_generation_;
  }
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

bool Scheduler::draining() const {
  absl::MutexLock lock(&mutex_);
  return draining_;
}

int64_t Scheduler::queue_depth() const {
  absl::MutexLock lock(&mutex_);
  return static_cast<int64_t>(queue_.size());
}

int64_t Scheduler::active_requests() const {
  absl::MutexLock lock(&mutex_);
  return static_cast<int64_t>(active_.size());
}

}  // namespace atman::scheduler
