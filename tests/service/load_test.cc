// The real server on loopback under load: memory over many requests, scores
// under different batching and devices, cancellation, deadlines and a full
// queue.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "tests/service/service_test_support.h"

namespace atman::service_test {
namespace {

using ::testing::AnyOf;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kTwoDevices = {"cpu:0", "cpu:1"};

service::ServerOptions TwoDeviceOptions() {
  service::ServerOptions options = LoopbackOptions("");
  options.devices = kTwoDevices;
  return options;
}

TestServer StartOrFail(const service::ServerOptions& options) {
  auto started = StartTestServer(options);
  EXPECT_TRUE(started.ok()) << started.status();
  return started.ok() ? *std::move(started) : TestServer{};
}

// About 400 prompt tokens, so one request at TOKEN granularity with batch
// size 1 runs about 400 forward batches.
std::string LongPrompt() {
  std::string prompt;
  for (int i = 0; i < 12; ++i) {
    prompt += "Tom had a big red ball. He liked to kick the ball. One day, Tom kicked the ball. ";
  }
  return prompt + "Then";
}

// Perturbations run on every device so far.
double Perturbations(const service::Server& server) {
  return MetricValue(ScrapeMetrics(server), "atman_perturbations_total");
}

std::string Describe(const grpc::Status& status) {
  return std::to_string(status.error_code()) + ": " + status.error_message();
}

TEST(LoadTest, RepeatedRequestsKeepMemoryFlat) {
  TestServer server = StartOrFail(TwoDeviceOptions());
  ASSERT_NE(server.server, nullptr);
  auto stub = LoopbackStub(server.server->port());
  const v1::ExplainRequest request = TextRequest("Tom had a big red ball.", " He");

  constexpr int kRequests = 1000;
  constexpr int kWarmUpRequests = 100;
  const Clock::time_point give_up = Clock::now() + std::chrono::minutes(4);
  int64_t resident_after_warm_up = 0;
  int64_t resident_after_last = 0;
  for (int i = 1; i <= kRequests; ++i) {
    const ExplainCall call = CallExplain(*stub, request);
    ASSERT_TRUE(call.status.ok()) << "request " << i << ": " << Describe(call.status);
    ASSERT_NE(call.explanation(), nullptr) << "request " << i;
    if (i == kWarmUpRequests) resident_after_warm_up = ResidentKibibytes();
    ASSERT_LT(Clock::now(), give_up) << "only " << i << " of " << kRequests
                                     << " requests finished in 4 minutes";
  }
  resident_after_last = ResidentKibibytes();

  std::printf("Resident memory after request %d: %lld KiB; after request %d: %lld KiB (%+.2f%%)\n",
              kWarmUpRequests, static_cast<long long>(resident_after_warm_up), kRequests,
              static_cast<long long>(resident_after_last),
              100.0 * static_cast<double>(resident_after_last - resident_after_warm_up) /
                  static_cast<double>(resident_after_warm_up));
  ASSERT_GT(resident_after_warm_up, 0);
  EXPECT_LE(std::abs(resident_after_last - resident_after_warm_up),
            resident_after_warm_up / 20)
      << "resident memory changed by more than 5% between request " << kWarmUpRequests
      << " and request " << kRequests;
}

// A request of 31 units, and 15 others of different prompts and settings to
// share its batches.
v1::ExplainRequest ProbeRequest(uint32_t batch_size) {
  v1::ExplainRequest request = TextRequest(
      "Tom had a big red ball. He liked to kick the ball. One day, Tom kicked the", " ball");
  request.set_target_granularity(v1::PER_TOKEN);
  request.set_batch_size(batch_size);
  return request;
}

std::vector<v1::ExplainRequest> OtherRequests() {
  const std::vector<std::string> prompts = {
      "Once upon a time, there was a little girl named Lily.",
      "Lily and her mom went to the park. They saw a big dog.",
      "The sun was hot and the sky was blue.",
      "Ben had a toy car. He played with it every day.",
      "The cat sat on the mat and looked at the bird.",
  };
  std::vector<v1::ExplainRequest> requests;
  for (int i = 0; i < 15; ++i) {
    v1::ExplainRequest request = TextRequest(prompts[i % prompts.size()], " She");
    request.set_granularity(i % 3 == 0 ? v1::WORD : v1::TOKEN);
    request.set_batch_size(i % 2 == 0 ? 0 : 3);
    requests.push_back(request);
  }
  return requests;
}

// All scores of every explanation, target token by target token.
std::vector<double> AllScores(const v1::Explanation& explanation) {
  std::vector<double> scores;
  for (const v1::TokenExplanation& set : explanation.explanations()) {
    for (const v1::Span& span : set.spans()) scores.push_back(span.score());
  }
  return scores;
}

// Runs `probe` alone or together with 15 other requests, each on its own
// thread, and returns the probe's scores.
std::vector<double> ProbeScores(const service::Server& server, const v1::ExplainRequest& probe,
                                bool with_others) {
  auto stub = LoopbackStub(server.port());
  std::vector<std::future<ExplainCall>> others;
  if (with_others) {
    for (const v1::ExplainRequest& other : OtherRequests()) {
      others.push_back(std::async(std::launch::async, [&stub, other] {
        return CallExplain(*stub, other);
      }));
    }
  }
  const ExplainCall call = CallExplain(*stub, probe);
  for (auto& other : others) {
    const ExplainCall other_call = other.get();
    EXPECT_TRUE(other_call.status.ok()) << Describe(other_call.status);
  }
  EXPECT_TRUE(call.status.ok()) << Describe(call.status);
  if (call.explanation() == nullptr) return {};
  return AllScores(*call.explanation());
}

TEST(LoadTest, ScoresDoNotDependOnBatchingOrDevices) {
  service::ServerOptions one_device_options = LoopbackOptions("");
  one_device_options.devices = {"cpu:0"};
  TestServer one_device = StartOrFail(one_device_options);
  TestServer two_devices = StartOrFail(TwoDeviceOptions());
  ASSERT_NE(one_device.server, nullptr);
  ASSERT_NE(two_devices.server, nullptr);

  const std::vector<double> reference = ProbeScores(*one_device.server, ProbeRequest(1), false);
  ASSERT_EQ(reference.size(), 31u * 2u) << "31 units times 2 target tokens";

  for (const auto* server : {&one_device, &two_devices}) {
    for (const uint32_t batch_size : {1u, 64u}) {
      for (const bool with_others : {false, true}) {
        const std::string variant = std::string(server == &one_device ? "1 device" : "2 devices") +
                                    ", batch size " + std::to_string(batch_size) +
                                    (with_others ? ", with 15 other requests" : ", alone");
        SCOPED_TRACE(variant);
        const std::vector<double> scores =
            ProbeScores(*server->server, ProbeRequest(batch_size), with_others);
        ASSERT_EQ(scores.size(), reference.size());
        for (size_t i = 0; i < scores.size(); ++i) {
          EXPECT_NEAR(scores[i], reference[i], 1e-5) << "score " << i;
        }
      }
    }
  }
}

// A server whose single active request makes a later request wait for it.
service::ServerOptions OneActiveRequestOptions() {
  service::ServerOptions options = TwoDeviceOptions();
  options.max_active_requests = 1;
  return options;
}

// A long request with one perturbation per forward batch.
v1::ExplainRequest LongRequest() {
  v1::ExplainRequest request = TextRequest(LongPrompt(), " ball");
  request.set_batch_size(1);
  return request;
}

// Runs a small request to the end and returns its number of units.
int RunSmallRequest(v1::Explainer::Stub& stub) {
  const ExplainCall call = CallExplain(stub, TextRequest("Tom had a big red ball.", " He"));
  EXPECT_TRUE(call.status.ok()) << Describe(call.status);
  if (call.explanation() == nullptr) return 0;
  return call.explanation()->explanations(0).spans_size();
}

TEST(LoadTest, CancelledRequestStopsItsWork) {
  TestServer server = StartOrFail(OneActiveRequestOptions());
  ASSERT_NE(server.server, nullptr);
  auto stub = LoopbackStub(server.server->port());
  const double perturbations_before = Perturbations(*server.server);

  grpc::ClientContext context;
  auto reader = stub->Explain(&context, LongRequest());
  v1::ExplainResponse first;
  ASSERT_TRUE(reader->Read(&first));
  ASSERT_TRUE(first.has_progress());
  const uint32_t units_total = first.progress().units_total();
  const uint32_t units_done_at_cancel = first.progress().units_done();
  ASSERT_GE(units_total, 200u);
  context.TryCancel();
  v1::ExplainResponse ignored;
  while (reader->Read(&ignored)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);

  // With one active request allowed, this request runs only once the
  // cancelled one has ended.
  const int small_units = RunSmallRequest(*stub);
  const std::string after_follow_up = ScrapeMetrics(*server.server);
  EXPECT_EQ(MetricValue(after_follow_up, "atman_queue_depth"), 0);
  EXPECT_EQ(MetricValue(after_follow_up, "atman_inflight_requests"), 0);
  EXPECT_EQ(MetricValue(after_follow_up, "atman_requests_total",
                        {{"code", "CANCELLED"}, {"model", kModelName}}),
            1);

  // Drain joins the workers, so every batch that was started has finished
  // and been counted.
  server.server->Drain();
  const double cancelled_perturbations =
      Perturbations(*server.server) - perturbations_before - small_units;
  std::printf("Cancelled after %u of %u units; %.0f perturbations of it ran in all\n",
              units_done_at_cancel, units_total, cancelled_perturbations);
  EXPECT_LT(cancelled_perturbations, units_total / 2.0)
      << "the remaining perturbations of the cancelled request kept running";
}

TEST(LoadTest, ExpiredDeadlineStopsItsWork) {
  TestServer server = StartOrFail(OneActiveRequestOptions());
  ASSERT_NE(server.server, nullptr);
  auto stub = LoopbackStub(server.server->port());
  const double perturbations_before = Perturbations(*server.server);

  const ExplainCall call = CallExplain(*stub, LongRequest(), std::chrono::milliseconds(1));
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << call.status.error_message();

  const int small_units = RunSmallRequest(*stub);
  const std::string after_follow_up = ScrapeMetrics(*server.server);
  EXPECT_EQ(MetricValue(after_follow_up, "atman_queue_depth"), 0);
  EXPECT_EQ(MetricValue(after_follow_up, "atman_requests_total", {{"code", "OK"}}), 1)
      << "only the follow-up request may succeed";

  server.server->Drain();
  const double expired_perturbations =
      Perturbations(*server.server) - perturbations_before - small_units;
  std::printf("%.0f perturbations of the expired request ran\n", expired_perturbations);
  // Deadlines are checked between batches, so at most one batch of one
  // perturbation per device may have started before the deadline.
  EXPECT_LE(expired_perturbations, static_cast<double>(kTwoDevices.size()));
}

// An Explain call on gRPC's callback API that records how it ended.
class RecordingCall : public grpc::ClientReadReactor<v1::ExplainResponse> {
 public:
  RecordingCall(v1::Explainer::Stub& stub, const v1::ExplainRequest& request,
                absl::BlockingCounter* done)
      : done_(done), start_(Clock::now()) {
    stub.async()->Explain(&context_, &request, this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    ++messages_;
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    status_ = status;
    latency_ = Clock::now() - start_;
    done_->DecrementCount();
  }

  // Valid once `done` has reached zero.
  const grpc::Status& status() const { return status_; }
  int messages() const { return messages_; }
  Clock::duration latency() const { return latency_; }

 private:
  grpc::ClientContext context_;
  v1::ExplainResponse response_;
  absl::BlockingCounter* done_;
  Clock::time_point start_;
  int messages_ = 0;
  grpc::Status status_;
  Clock::duration latency_{};
};

TEST(LoadTest, FullQueueRejectsOverflowAtOnce) {
  service::ServerOptions options = TwoDeviceOptions();
  options.queue_limit = 16;
  options.max_active_requests = 2;
  TestServer server = StartOrFail(options);
  ASSERT_NE(server.server, nullptr);
  auto stub = LoopbackStub(server.server->port());

  constexpr int kRequests = 200;
  v1::ExplainRequest request = TextRequest(
      "Tom had a big red ball. He liked to kick the ball. One day, Tom kicked the", " ball");
  request.set_batch_size(1);
  absl::BlockingCounter done(kRequests);
  std::vector<std::unique_ptr<RecordingCall>> calls;
  for (int i = 0; i < kRequests; ++i) {
    calls.push_back(std::make_unique<RecordingCall>(*stub, request, &done));
  }
  done.Wait();

  int succeeded = 0;
  int rejected = 0;
  Clock::duration slowest_rejection{};
  Clock::duration fastest_success = Clock::duration::max();
  for (const auto& call : calls) {
    const grpc::StatusCode code = call->status().error_code();
    EXPECT_THAT(code, AnyOf(grpc::StatusCode::OK, grpc::StatusCode::RESOURCE_EXHAUSTED))
        << call->status().error_message();
    if (code == grpc::StatusCode::OK) {
      ++succeeded;
      fastest_success = std::min(fastest_success, call->latency());
    } else if (code == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++rejected;
      slowest_rejection = std::max(slowest_rejection, call->latency());
      EXPECT_EQ(call->messages(), 0) << "a rejected request must not stream progress";
      EXPECT_THAT(call->status().error_message(), ::testing::HasSubstr("queue"));
    }
  }
  const auto milliseconds = [](Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  std::printf("%d concurrent requests, queue limit 16, 2 active: %d rejected, %d succeeded; "
              "slowest rejection %.1f ms, fastest success %.1f ms\n",
              kRequests, rejected, succeeded, milliseconds(slowest_rejection),
              milliseconds(fastest_success));

  EXPECT_EQ(rejected + succeeded, kRequests);
  // The first 16 + 2 requests always fit. Later ones fit only where earlier
  // ones finished while the 200 calls were still arriving.
  EXPECT_GE(succeeded, 18);
  EXPECT_GT(rejected, 0);
  EXPECT_LT(slowest_rejection, fastest_success)
      << "a rejection took longer than computing a whole request";

  const std::string metrics = ScrapeMetrics(*server.server);
  EXPECT_EQ(MetricValue(metrics, "atman_queue_depth"), 0);
  EXPECT_EQ(MetricValue(metrics, "atman_requests_total", {{"code", "RESOURCE_EXHAUSTED"}}),
            rejected);
}

}  // namespace
}  // namespace atman::service_test
