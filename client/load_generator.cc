#include "client/load_generator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/explain_call.h"

namespace atman::client {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Max --concurrency, because each worker uses one thread and one connection.
constexpr int64_t kMaxConcurrency = 4096;

// State shared by the workers of one run. Only next_index changes, atomically.
struct RunPlan {
  const LoadOptions* options = nullptr;
  SteadyClock::time_point start;
  SteadyClock::time_point end;
  std::atomic<int64_t> next_index{0};
};

// Measurements of one worker, merged after all workers have joined.
struct WorkerResult {
  int64_t sent = 0;
  int64_t succeeded = 0;
  std::vector<double> latencies_ms;
  std::map<std::string, int64_t> errors;
};

std::chrono::system_clock::time_point RequestDeadline(const RunPlan& plan) {
  const auto remaining = plan.end - SteadyClock::now();
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      remaining + std::chrono::duration<double>(kDrainGraceSeconds));
  if (plan.options->deadline_ms > 0) {
    timeout = std::min(timeout, std::chrono::milliseconds(plan.options->deadline_ms));
  }
  return std::chrono::system_clock::now() + timeout;
}

// Returns the scheduled start of request `index`, or now in closed loop.
SteadyClock::time_point ScheduledStart(const RunPlan& plan, int64_t index) {
  if (plan.options->rate <= 0) return SteadyClock::now();

  const std::chrono::duration<double> offset(static_cast<double>(index) / plan.options->rate);
  return plan.start + std::chrono::duration_cast<SteadyClock::duration>(offset);
}

// Returns the status code of the call.
grpc::StatusCode SendOne(const RunPlan& plan, const Connection& connection,
                         atman::v1::Explainer::Stub& stub, int64_t index,
                         SteadyClock::time_point scheduled, WorkerResult& result) {
  const atman::v1::ExplainRequest request = BuildLoadRequest(*plan.options, index);
  atman::v1::ExplainResponse response;

  ++result.sent;
  const grpc::Status status =
      CallExplain(connection, stub, request, RequestDeadline(plan), nullptr, &response);
  const std::chrono::duration<double, std::milli> latency = SteadyClock::now() - scheduled;

  if (status.ok()) {
    ++result.succeeded;
    result.latencies_ms.push_back(latency.count());
  } else {
    ++result.errors[StatusCodeName(status.error_code())];
  }
  return status.error_code();
}

// After UNAVAILABLE (server gone, draining or still loading) a worker waits
// before its next request, doubling the wait up to a limit, so a dead
// server is not flooded with calls that fail at once.
constexpr std::chrono::milliseconds kFirstBackoff(10);
constexpr std::chrono::milliseconds kMaxBackoff(1000);

void RunWorker(RunPlan& plan, const Connection& connection, WorkerResult& result) {
  auto stub = atman::v1::Explainer::NewStub(connection.channel());
  const int64_t max_requests = plan.options->max_requests;

  std::chrono::milliseconds backoff(0);
  while (true) {
    const int64_t index = plan.next_index.fetch_add(1);
    if (max_requests > 0 && index >= max_requests) return;

    const SteadyClock::time_point scheduled =
        std::max(ScheduledStart(plan, index), SteadyClock::now() + backoff);
    if (scheduled >= plan.end) return;
    std::this_thread::sleep_until(scheduled);

    const grpc::StatusCode code = SendOne(plan, connection, *stub, index, scheduled, result);
    if (code == grpc::StatusCode::UNAVAILABLE) {
      backoff = std::min(kMaxBackoff, std::max(kFirstBackoff, backoff * 2));
    } else {
      backoff = std::chrono::milliseconds(0);
    }
  }
}

BenchReport MergeResults(const LoadOptions& options, const std::vector<WorkerResult>& results,
                         double elapsed_s) {
  BenchReport report;
  report.concurrency = options.concurrency;
  report.rate = options.rate;
  report.mix = FormatMix(options.mix);
  report.elapsed_s = elapsed_s;

  std::vector<double> latencies_ms;
  for (const WorkerResult& result : results) {
    report.sent += result.sent;
    report.succeeded += result.succeeded;
    latencies_ms.insert(latencies_ms.end(), result.latencies_ms.begin(), result.latencies_ms.end());
    for (const auto& [code, count] : result.errors) report.errors[code] += count;
  }
  report.latency = SummarizeLatencies(std::move(latencies_ms));
  return report;
}

}  // namespace

absl::Status ValidateLoadOptions(const LoadOptions& options) {
  if (options.concurrency < 1 || options.concurrency > kMaxConcurrency) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --concurrency=", options.concurrency,
                                                   ": expected 1 to ", kMaxConcurrency));
  }
  if (!(options.rate >= 0) || std::isinf(options.rate)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --rate=", options.rate, ": expected requests per second >= 0 (0 = closed loop)"));
  }
  if (!(options.duration_s > 0) || std::isinf(options.duration_s)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --duration_s=", options.duration_s,
                                                   ": expected a positive number of seconds"));
  }
  if (options.max_requests < 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --max_requests=", options.max_requests,
                                                   ": expected >= 0 (0 = no limit)"));
  }
  if (options.deadline_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --deadline_ms=", options.deadline_ms, ": expected >= 0 (0 = none)"));
  }
  if (options.mix.empty()) {
    return absl::InvalidArgumentError("empty request mix: pass --mix, e.g. 16:token:3,64:word:1");
  }
  return absl::OkStatus();
}

atman::v1::ExplainRequest BuildLoadRequest(const LoadOptions& options, uint64_t index) {
  const uint64_t seed = MixSeed(options.seed, index);
  const MixEntry& entry = ChooseMixEntry(options.mix, seed);

  atman::v1::ExplainRequest request;
  request.set_model(options.model);
  request.mutable_prompt()->set_text(GeneratePrompt(entry.words, MixSeed(seed, 1)));
  request.set_target(options.target);
  request.set_max_new_tokens(options.max_new_tokens);
  request.set_granularity(entry.granularity);
  return request;
}

absl::StatusOr<BenchReport> RunLoad(const LoadOptions& options) {
  absl::Status valid = ValidateLoadOptions(options);
  if (!valid.ok()) return valid;

  std::vector<std::unique_ptr<Connection>> connections;
  for (int64_t i = 0; i < options.concurrency; ++i) {
    absl::StatusOr<std::unique_ptr<Connection>> connection = Connection::Create(options.connection);
    if (!connection.ok()) return connection.status();
    connections.push_back(std::move(*connection));
  }

  RunPlan plan;
  plan.options = &options;
  plan.start = SteadyClock::now();
  plan.end = plan.start + std::chrono::duration_cast<SteadyClock::duration>(
                              std::chrono::duration<double>(options.duration_s));

  std::vector<WorkerResult> results(options.concurrency);
  std::vector<std::thread> workers;
  for (int64_t i = 0; i < options.concurrency; ++i) {
    workers.emplace_back(RunWorker, std::ref(plan), std::cref(*connections[i]),
                         std::ref(results[i]));
  }
  for (std::thread& worker : workers) worker.join();

  const std::chrono::duration<double> elapsed = SteadyClock::now() - plan.start;
  return MergeResults(options, results, elapsed.count());
}

}  // namespace atman::client
