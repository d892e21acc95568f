#include "server/scheduler/scheduler.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/metric_family.h"
#include "tests/scheduler/fake_backend.h"

namespace atman::scheduler {
namespace {

using fakes::BatchRecord;
using fakes::FakeBackend;
using fakes::FakeEngine;
using fakes::ReferenceResult;
using ::testing::HasSubstr;

constexpr char kModel[] = "m";

std::vector<std::string> DeviceNames(int count) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back(absl::StrCat("cpu:", i));
  return names;
}

engine::ExplainInput Input(const std::string& prompt) {
  engine::ExplainInput input;
  input.prompt_text = prompt;
  input.target = "ab";
  return input;
}

// Sum of the values of every series of `name` whose labels include `labels`:
// counter and gauge values, and the sample count of histograms.
double MetricValue(const prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels = {}) {
  double total = 0;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      int matched = 0;
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        auto it = labels.find(label.name);
        if (it != labels.end() && it->second == label.value) ++matched;
      }
      if (matched != static_cast<int>(labels.size())) continue;
      total += metric.counter.value + metric.gauge.value +
               static_cast<double>(metric.histogram.sample_count);
    }
  }
  return total;
}

// Callbacks of one submitted request.
struct Outcome {
  std::string prompt;
  absl::Notification done;
  absl::StatusOr<ScheduledResult> result = absl::UnknownError("on_done was not called");
  std::vector<Progress> progress;
};

class SchedulerTest : public ::testing::TestWithParam<int> {
 protected:
  int devices() const { return GetParam(); }

  void Start(SchedulerOptions options = {}) {
    options.devices = DeviceNames(devices());
    metrics_ = std::make_unique<Metrics>(options.devices);
    Scheduler::BackendsByModel backends;
    for (const std::string& device : options.devices) {
      backends[kModel].push_back(std::make_unique<FakeBackend>(device, &engine_));
    }
    scheduler_ = Scheduler::Create(options, std::move(backends), &clock_, metrics_.get()).value();
  }

  void TearDown() override {
    engine_.SetPrepareGateOpen(true);
    engine_.SetBatchGateOpen(true);
    scheduler_.reset();
  }

  absl::Status Submit(Outcome* outcome, const std::string& prompt,
                      absl::Time deadline = absl::InfiniteFuture(),
                      std::shared_ptr<CancellationToken> token = nullptr,
                      const std::string& model = kModel) {
    outcome->prompt = prompt;
    Submission submission;
    submission.model = model;
    submission.input = Input(prompt);
    submission.deadline = deadline;
    submission.cancellation = std::move(token);
    submission.on_progress = [outcome](const Progress& progress) {
      outcome->progress.push_back(progress);
    };
    submission.on_done = [this, outcome](absl::StatusOr<ScheduledResult> result) {
      outcome->result = std::move(result);
      {
        absl::MutexLock lock(&order_mutex_);
        finish_order_.push_back(outcome->prompt);
      }
      outcome->done.Notify();
    };
    return scheduler_->Submit(std::move(submission));
  }

  // Outcomes live as long as the fixture, so callbacks that run while the
  // scheduler drains in TearDown still find them.
  Outcome& NewOutcome() {
    outcomes_.push_back(std::make_unique<Outcome>());
    return *outcomes_.back();
  }

  std::vector<std::string> finish_order() {
    absl::MutexLock lock(&order_mutex_);
    return finish_order_;
  }

  FakeClock clock_;
  FakeEngine engine_;
  std::vector<std::unique_ptr<Outcome>> outcomes_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Scheduler> scheduler_;
  absl::Mutex order_mutex_;
  std::vector<std::string> finish_order_ ABSL_GUARDED_BY(order_mutex_);
};

void ExpectSameScores(const engine::ExplainResult& actual, const engine::ExplainResult& expected) {
  ASSERT_EQ(actual.explanations.size(), expected.explanations.size());
  for (size_t s = 0; s < expected.explanations.size(); ++s) {
    const auto& actual_spans = actual.explanations[s].spans;
    const auto& expected_spans = expected.explanations[s].spans;
    ASSERT_EQ(actual_spans.size(), expected_spans.size());
    for (size_t i = 0; i < expected_spans.size(); ++i) {
      EXPECT_EQ(actual_spans[i].score, expected_spans[i].score) << "span " << i;
    }
  }
}

TEST_P(SchedulerTest, RunsRequestToCompletion) {
  SchedulerOptions options;
  options.batch_size = 3;
  Start(options);

  Outcome& outcome = NewOutcome();
  ASSERT_TRUE(Submit(&outcome, "abcdefghij").ok());
  outcome.done.WaitForNotification();

  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  ExpectSameScores(outcome.result->result, ReferenceResult(Input("abcdefghij")));
  EXPECT_EQ(outcome.result->forward_passes, 1 + engine_.batches_started());
  ASSERT_FALSE(outcome.progress.empty());
  EXPECT_EQ(outcome.progress.back().units_done, 10);
  EXPECT_EQ(outcome.progress.back().units_total, 10);
  for (size_t i = 1; i < outcome.progress.size(); ++i) {
    EXPECT_GT(outcome.progress[i].units_done, outcome.progress[i - 1].units_done);
  }
  for (const BatchRecord& batch : engine_.batches()) EXPECT_LE(batch.rows, 3);
}

TEST_P(SchedulerTest, FullQueueRejectsAtOnce) {
  SchedulerOptions options;
  options.queue_limit = 2;
  Start(options);
  engine_.SetPrepareGateOpen(false);

  // Every worker is blocked in Prepare with one request, so later ones stay
  // queued.
  std::vector<Outcome*> outcomes;
  for (int i = 0; i < devices() + 2; ++i) {
    outcomes.push_back(&NewOutcome());
    ASSERT_TRUE(Submit(outcomes.back(), absl::StrCat("p", i)).ok());
    if (i < devices()) engine_.AwaitPreparesStarted(i + 1);
  }
  EXPECT_EQ(scheduler_->queue_depth(), 2);

  Outcome& overflow = NewOutcome();
  const absl::Status status = Submit(&overflow, "overflow");
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("queue limit is 2"));
  EXPECT_EQ(MetricValue(*metrics_->registry(), "atman_requests_total",
                        {{"model", kModel}, {"code", "RESOURCE_EXHAUSTED"}}),
            1);

  engine_.SetPrepareGateOpen(true);
  for (const auto& outcome : outcomes) {
    outcome->done.WaitForNotification();
    EXPECT_TRUE(outcome->result.ok()) << outcome->result.status();
  }
  EXPECT_FALSE(overflow.done.HasBeenNotified());
}

TEST_P(SchedulerTest, AdmissionRejectsRequestOverBudget) {
  SchedulerOptions options;
  options.memory_budget_bytes = 10000;
  Start(options);
  engine_.set_bytes_per_token_row(100);

  // 198 prompt characters + 2 target characters = 200 tokens = 20000 bytes.
  Outcome& outcome = NewOutcome();
  const absl::Status status = Submit(&outcome, std::string(198, 'x'));

  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("estimated 20000 bytes (0.0 MiB)"));
  EXPECT_THAT(status.message(), HasSubstr("memory budget of 10000 bytes"));
  EXPECT_EQ(engine_.prepares_started(), 0);
  EXPECT_FALSE(outcome.done.HasBeenNotified());
}

TEST_P(SchedulerTest, AdmissionShrinksBatchesToBudget) {
  SchedulerOptions options;
  options.memory_budget_bytes = 3500;
  Start(options);
  engine_.set_bytes_per_token_row(100);

  // 8 + 2 tokens = 1000 bytes per row, so 3 rows fit.
  Outcome& outcome = NewOutcome();
  ASSERT_TRUE(Submit(&outcome, "abcdefgh").ok());
  outcome.done.WaitForNotification();

  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  ExpectSameScores(outcome.result->result, ReferenceResult(Input("abcdefgh")));
  for (const BatchRecord& batch : engine_.batches()) EXPECT_LE(batch.rows, 3);
}

TEST_P(SchedulerTest, DeadlineWhileQueuedEndsRequest) {
  Start();
  engine_.SetPrepareGateOpen(false);
  std::vector<Outcome*> blockers;
  for (int i = 0; i < devices(); ++i) {
    blockers.push_back(&NewOutcome());
    ASSERT_TRUE(Submit(blockers.back(), absl::StrCat("b", i)).ok());
  }
  engine_.AwaitPreparesStarted(devices());

  Outcome& late = NewOutcome();
  ASSERT_TRUE(Submit(&late, "late", clock_.Now() + absl::Seconds(1)).ok());
  clock_.AdvanceTime(absl::Seconds(2));
  engine_.SetPrepareGateOpen(true);
  late.done.WaitForNotification();

  EXPECT_EQ(late.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(late.result.status().message(), HasSubstr("in the queue"));
  EXPECT_EQ(engine_.prepares_started(), devices());
  for (const auto& blocker : blockers) blocker->done.WaitForNotification();
}

TEST_P(SchedulerTest, DeadlineWhileRunningDropsRemainingSlices) {
  SchedulerOptions options;
  options.batch_size = 2;
  Start(options);
  engine_.SetBatchGateOpen(false);

  Outcome& outcome = NewOutcome();
  ASSERT_TRUE(Submit(&outcome, "abcdefghijkl", clock_.Now() + absl::Seconds(5)).ok());
  engine_.AwaitBatchesStarted(devices());
  clock_.AdvanceTime(absl::Seconds(10));
  engine_.SetBatchGateOpen(true);
  outcome.done.WaitForNotification();

  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(outcome.result.status().message(), HasSubstr("of 12 perturbations"));
  scheduler_->Drain(absl::ZeroDuration());
  EXPECT_EQ(engine_.batches_started(), devices());
  EXPECT_EQ(scheduler_->active_requests(), 0);
}

TEST_P(SchedulerTest, CancellationWhileRunningDropsRemainingSlices) {
  SchedulerOptions options;
  options.batch_size = 2;
  Start(options);
  engine_.SetBatchGateOpen(false);

  Outcome& outcome = NewOutcome();
  auto token = std::make_shared<CancellationToken>();
  ASSERT_TRUE(Submit(&outcome, "abcdefghijkl", absl::InfiniteFuture(), token).ok());
  engine_.AwaitBatchesStarted(devices());
  token->Cancel();
  engine_.SetBatchGateOpen(true);
  outcome.done.WaitForNotification();

  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(outcome.result.status().message(), HasSubstr("cancelled by the client"));
  scheduler_->Drain(absl::ZeroDuration());
  EXPECT_EQ(engine_.batches_started(), devices());
  EXPECT_EQ(MetricValue(*metrics_->registry(), "atman_queue_depth"), 0);
  EXPECT_EQ(MetricValue(*metrics_->registry(), "atman_inflight_requests"), 0);
}

TEST_P(SchedulerTest, CancellationWhileQueuedEndsRequest) {
  Start();
  engine_.SetPrepareGateOpen(false);
  std::vector<Outcome*> blockers;
  for (int i = 0; i < devices(); ++i) {
    blockers.push_back(&NewOutcome());
    ASSERT_TRUE(Submit(blockers.back(), absl::StrCat("b", i)).ok());
  }
  engine_.AwaitPreparesStarted(devices());

  Outcome& queued = NewOutcome();
  auto token = std::make_shared<CancellationToken>();
  ASSERT_TRUE(Submit(&queued, "queued", absl::InfiniteFuture(), token).ok());
  token->Cancel();
  engine_.SetPrepareGateOpen(true);
  queued.done.WaitForNotification();

  EXPECT_EQ(queued.result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(queued.result.status().message(), HasSubstr("while queued"));
  EXPECT_EQ(engine_.prepares_started(), devices());
  for (const auto& blocker : blockers) blocker->done.WaitForNotification();
}

TEST_P(SchedulerTest, SubmitWithCancelledTokenIsRejected) {
  Start();
  auto token = std::make_shared<CancellationToken>();
  token->Cancel();

  Outcome& outcome = NewOutcome();
  const absl::Status status = Submit(&outcome, "abc", absl::InfiniteFuture(), token);

  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(outcome.done.HasBeenNotified());
}

TEST_P(SchedulerTest, SlicesSpreadOverAllDevices) {
  SchedulerOptions options;
  options.batch_size = 2;
  Start(options);
  engine_.SetBatchGateOpen(false);

  Outcome& outcome = NewOutcome();
  ASSERT_TRUE(Submit(&outcome, "abcdefghijkl").ok());
  engine_.AwaitBatchesStarted(devices());
  std::set<std::string> used;
  for (const BatchRecord& batch : engine_.batches()) used.insert(batch.device);
  engine_.SetBatchGateOpen(true);
  outcome.done.WaitForNotification();

  const std::vector<std::string> names = DeviceNames(devices());
  EXPECT_EQ(used, std::set<std::string>(names.begin(), names.end()));
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  ExpectSameScores(outcome.result->result, ReferenceResult(Input("abcdefghijkl")));
}

TEST_P(SchedulerTest, SmallRequestFinishesBeforeLargeOne) {
  SchedulerOptions options;
  options.batch_size = 2;
  Start(options);
  engine_.SetBatchGateOpen(false);

  // Every worker is blocked in a batch of the large request.
  Outcome& large = NewOutcome();
  ASSERT_TRUE(Submit(&large, std::string(400, 'l')).ok());
  engine_.AwaitBatchesStarted(devices());
  Outcome& small = NewOutcome();
  ASSERT_TRUE(Submit(&small, "ss").ok());

  // The worker freed by the first batch prepares the small request, and the
  // next batch belongs to it.
  engine_.AllowBatches(1);
  engine_.AwaitBatchesStarted(devices() + 1);
  const BatchRecord next = engine_.batches().at(devices());
  ASSERT_EQ(next.slices.size(), 1u);
  EXPECT_EQ(next.slices[0].prompt, "ss");

  // Release the batches in flight but no new batch of the large request.
  engine_.AllowBatches(devices() + 1);
  small.done.WaitForNotification();
  EXPECT_TRUE(small.result.ok()) << small.result.status();
  EXPECT_FALSE(large.done.HasBeenNotified());

  engine_.SetBatchGateOpen(true);
  large.done.WaitForNotification();
  EXPECT_TRUE(large.result.ok()) << large.result.status();
  EXPECT_EQ(finish_order(), (std::vector<std::string>{"ss", std::string(400, 'l')}));
}

TEST_P(SchedulerTest, DrainRejectsNewAndFinishesRunning) {
  Start();
  engine_.SetBatchGateOpen(false);
  Outcome& running = NewOutcome();
  ASSERT_TRUE(Submit(&running, "abcdef").ok());
  engine_.AwaitBatchesStarted(1);

  std::thread drainer([this] { scheduler_->Drain(absl::Seconds(60)); });
  clock_.BlockUntilTimedWaiters(1);
  Outcome& rejected = NewOutcome();
  const absl::Status status = Submit(&rejected, "new");
  engine_.SetBatchGateOpen(true);
  running.done.WaitForNotification();
  drainer.join();

  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("server is draining"));
  EXPECT_TRUE(running.result.ok()) << running.result.status();
  EXPECT_TRUE(scheduler_->draining());
}

TEST_P(SchedulerTest, DrainTimeoutEndsUnfinishedRequests) {
  SchedulerOptions options;
  options.batch_size = 1;
  Start(options);
  engine_.SetBatchGateOpen(false);
  Outcome& running = NewOutcome();
  ASSERT_TRUE(Submit(&running, "abcdefghij").ok());
  engine_.AwaitBatchesStarted(devices());
  Outcome& queued = NewOutcome();
  ASSERT_TRUE(Submit(&queued, "queued").ok());

  std::thread drainer([this] { scheduler_->Drain(absl::Seconds(5)); });
  clock_.BlockUntilTimedWaiters(1);
  clock_.AdvanceTime(absl::Seconds(6));
  running.done.WaitForNotification();
  queued.done.WaitForNotification();
  engine_.SetBatchGateOpen(true);
  drainer.join();

  EXPECT_EQ(running.result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(running.result.status().message(), HasSubstr("drain timeout of 5s"));
  EXPECT_EQ(queued.result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(engine_.batches_started(), devices());
  EXPECT_EQ(scheduler_->queue_depth(), 0);
  EXPECT_EQ(scheduler_->active_requests(), 0);
}

TEST_P(SchedulerTest, MetricsCountRequestsAndBatches) {
  SchedulerOptions options;
  options.batch_size = 2;
  Start(options);
  engine_.set_batch_duration(&clock_, absl::Seconds(1));

  Outcome& first = NewOutcome();
  Outcome& second = NewOutcome();
  Outcome& bad = NewOutcome();
  ASSERT_TRUE(Submit(&first, "abcdef").ok());
  first.done.WaitForNotification();
  ASSERT_TRUE(Submit(&second, "wxyz").ok());
  second.done.WaitForNotification();
  EXPECT_EQ(Submit(&bad, "bad prompt").code(), absl::StatusCode::kInvalidArgument);

  const prometheus::Registry& registry = *metrics_->registry();
  const double batches = engine_.batches_started();
  EXPECT_EQ(MetricValue(registry, "atman_requests_total", {{"model", kModel}, {"code", "OK"}}), 2);
  EXPECT_EQ(MetricValue(registry, "atman_requests_total", {{"code", "INVALID_ARGUMENT"}}), 1);
  EXPECT_EQ(MetricValue(registry, "atman_request_latency_seconds", {{"model", kModel}}), 2);
  EXPECT_EQ(MetricValue(registry, "atman_queue_time_seconds"), 2);
  EXPECT_EQ(MetricValue(registry, "atman_compute_time_seconds"), 2);
  EXPECT_EQ(MetricValue(registry, "atman_forward_passes_total"), batches + 2);
  EXPECT_EQ(MetricValue(registry, "atman_perturbations_total"), 10);
  EXPECT_EQ(MetricValue(registry, "atman_batch_size"), batches);
  EXPECT_GE(MetricValue(registry, "atman_device_busy_seconds_total"), batches);
  EXPECT_EQ(MetricValue(registry, "atman_queue_depth"), 0);
  EXPECT_EQ(MetricValue(registry, "atman_inflight_requests"), 0);
}

TEST_P(SchedulerTest, PrepareFailureEndsRequest) {
  Start();
  Outcome& outcome = NewOutcome();
  ASSERT_TRUE(Submit(&outcome, "fail here").ok());
  outcome.done.WaitForNotification();

  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(outcome.result.status().message(), HasSubstr("preparing"));
  EXPECT_EQ(engine_.batches_started(), 0);
}

TEST_P(SchedulerTest, BatchFailureEndsRequest) {
  Start();
  engine_.set_batch_error(absl::InternalError("device lost"));
  Outcome& outcome = NewOutcome();
  ASSERT_TRUE(Submit(&outcome, "abcdef").ok());
  outcome.done.WaitForNotification();

  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(outcome.result.status().message(), HasSubstr("device lost"));
}

TEST_P(SchedulerTest, UnknownModelIsNotFound) {
  Start();
  Outcome& outcome = NewOutcome();
  const absl::Status status = Submit(&outcome, "abc", absl::InfiniteFuture(), nullptr, "other");

  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("loaded models: m"));
}

INSTANTIATE_TEST_SUITE_P(Devices, SchedulerTest, ::testing::Values(1, 3),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat(info.param, "Devices");
                         });

// Scores must not depend on the number of devices, the batch size or which
// requests share a batch.
class SplitSweepTest : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(SplitSweepTest, ScoresMatchSingleBatchReference) {
  const auto [device_count, batch_size] = GetParam();
  FakeClock clock;
  FakeEngine engine;
  SchedulerOptions options;
  options.devices = DeviceNames(device_count);
  options.batch_size = batch_size;
  Metrics metrics(options.devices);
  Scheduler::BackendsByModel backends;
  for (const std::string& device : options.devices) {
    backends[kModel].push_back(std::make_unique<FakeBackend>(device, &engine));
  }
  std::unique_ptr<Scheduler> scheduler =
      Scheduler::Create(options, std::move(backends), &clock, &metrics).value();

  const std::vector<std::string> prompts = {"abcdefghijklmnopq", "xyz", "0123456789", "k"};
  std::vector<Outcome> outcomes(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    Submission submission;
    submission.model = kModel;
    submission.input = Input(prompts[i]);
    Outcome* outcome = &outcomes[i];
    submission.on_done = [outcome](absl::StatusOr<ScheduledResult> result) {
      outcome->result = std::move(result);
      outcome->done.Notify();
    };
    ASSERT_TRUE(scheduler->Submit(std::move(submission)).ok());
  }

  for (size_t i = 0; i < prompts.size(); ++i) {
    outcomes[i].done.WaitForNotification();
    ASSERT_TRUE(outcomes[i].result.ok()) << outcomes[i].result.status();
    ExpectSameScores(outcomes[i].result->result, ReferenceResult(Input(prompts[i])));
  }
}

INSTANTIATE_TEST_SUITE_P(DevicesAndBatchSizes, SplitSweepTest,
                         ::testing::Combine(::testing::Values(1, 2, 3),
                                            ::testing::Values(1, 3, 64)));

// One device, so the order of preparation and batching is fixed.
class SingleDeviceTest : public SchedulerTest {};

TEST_P(SingleDeviceTest, PacksTwoRequestsIntoOneBatch) {
  SchedulerOptions options;
  options.batch_size = 8;
  Start(options);
  engine_.SetPrepareGateOpen(false);

  Outcome& first = NewOutcome();
  Outcome& second = NewOutcome();
  ASSERT_TRUE(Submit(&first, "aaa").ok());
  engine_.AwaitPreparesStarted(1);
  ASSERT_TRUE(Submit(&second, "bbb").ok());
  engine_.SetPrepareGateOpen(true);
  first.done.WaitForNotification();
  second.done.WaitForNotification();

  const std::vector<BatchRecord> batches = engine_.batches();
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].slices.size(), 2u);
  EXPECT_EQ(batches[0].slices[0].prompt, "aaa");
  EXPECT_EQ(batches[0].slices[1].prompt, "bbb");
  EXPECT_EQ(batches[0].rows, 6);
  ExpectSameScores(first.result->result, ReferenceResult(Input("aaa")));
  ExpectSameScores(second.result->result, ReferenceResult(Input("bbb")));
}

TEST_P(SingleDeviceTest, DeadlineEndsRequestBetweenBatches) {
  SchedulerOptions options;
  options.batch_size = 2;
  Start(options);
  engine_.set_batch_duration(&clock_, absl::Seconds(1));

  // Batches end at 1s, 2s and 3s; the check after the third batch fails.
  Outcome& outcome = NewOutcome();
  ASSERT_TRUE(Submit(&outcome, "abcdefghijkl", clock_.Now() + absl::Seconds(2.5)).ok());
  outcome.done.WaitForNotification();

  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(outcome.result.status().message(), HasSubstr("after 6 of 12 perturbations"));
  EXPECT_EQ(engine_.batches_started(), 3);
}

INSTANTIATE_TEST_SUITE_P(OneDevice, SingleDeviceTest, ::testing::Values(1));

// Two devices, one active request: the second worker is idle while the first
// is busy, so a cancelled queued request must wake it.
class IdleWorkerTest : public SchedulerTest {};

TEST_P(IdleWorkerTest, CancelWakesIdleWorker) {
  SchedulerOptions options;
  options.max_active_requests = 1;
  Start(options);
  engine_.SetBatchGateOpen(false);

  Outcome& running = NewOutcome();
  ASSERT_TRUE(Submit(&running, "a").ok());
  engine_.AwaitBatchesStarted(1);
  Outcome& queued = NewOutcome();
  auto token = std::make_shared<CancellationToken>();
  ASSERT_TRUE(Submit(&queued, "queued", absl::InfiniteFuture(), token).ok());
  token->Cancel();
  queued.done.WaitForNotification();

  EXPECT_EQ(queued.result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(running.done.HasBeenNotified());
  engine_.SetBatchGateOpen(true);
  running.done.WaitForNotification();
  EXPECT_TRUE(running.result.ok()) << running.result.status();
}

TEST_P(IdleWorkerTest, DeadlineWakesIdleWorker) {
  SchedulerOptions options;
  options.max_active_requests = 1;
  Start(options);
  engine_.SetBatchGateOpen(false);

  Outcome& running = NewOutcome();
  ASSERT_TRUE(Submit(&running, "a").ok());
  engine_.AwaitBatchesStarted(1);
  Outcome& queued = NewOutcome();
  ASSERT_TRUE(Submit(&queued, "queued", clock_.Now() + absl::Seconds(1)).ok());
  clock_.BlockUntilTimedWaiters(1);
  clock_.AdvanceTime(absl::Seconds(1));
  queued.done.WaitForNotification();

  EXPECT_EQ(queued.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(running.done.HasBeenNotified());
}

INSTANTIATE_TEST_SUITE_P(TwoDevices, IdleWorkerTest, ::testing::Values(2));

TEST(SchedulerCreateTest, RejectsBackendCountMismatch) {
  FakeClock clock;
  FakeEngine engine;
  SchedulerOptions options;
  options.devices = {"cpu:0", "cpu:1"};
  Metrics metrics(options.devices);
  Scheduler::BackendsByModel backends;
  backends[kModel].push_back(std::make_unique<FakeBackend>("cpu:0", &engine));

  const auto scheduler = Scheduler::Create(options, std::move(backends), &clock, &metrics);

  EXPECT_EQ(scheduler.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(scheduler.status().message(), HasSubstr("has 1 backends but there are 2 devices"));
}

TEST(SchedulerCreateTest, RejectsZeroQueueLimit) {
  FakeClock clock;
  FakeEngine engine;
  SchedulerOptions options;
  options.queue_limit = 0;
  Metrics metrics(options.devices);
  Scheduler::BackendsByModel backends;
  backends[kModel].push_back(std::make_unique<FakeBackend>("cpu", &engine));

  const auto scheduler = Scheduler::Create(options, std::move(backends), &clock, &metrics);

  EXPECT_EQ(scheduler.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(scheduler.status().message(), HasSubstr("queue_limit (0)"));
}

}  // namespace
}  // namespace atman::scheduler
