// The Prometheus endpoint of the real server on loopback.

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "prometheus/registry.h"
#include "server/service/metrics_http_server.h"
#include "tests/service/service_test_support.h"

namespace atman::service_test {
namespace {

using ::testing::HasSubstr;

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = StartTestServer();
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    ASSERT_GT(server_.server->metrics_port(), 0);
  }

  TestServer server_;
};

TEST_F(MetricsTest, RequestMovesCounters) {
  const std::map<std::string, std::string> ok_labels = {{"code", "OK"}, {"model", kModelName}};
  const std::string before = ScrapeMetrics(*server_.server);

  auto stub = LoopbackStub(server_.server->port());
  const ExplainCall call = CallExplain(*stub, TextRequest("Tom had a big red ball.", " He"));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  const std::string after = ScrapeMetrics(*server_.server);
  EXPECT_THAT(after, HasSubstr("# TYPE atman_requests_total counter"));

  EXPECT_EQ(MetricValue(after, "atman_requests_total", ok_labels),
            MetricValue(before, "atman_requests_total", ok_labels) + 1);
  EXPECT_EQ(MetricValue(after, "atman_queue_time_seconds_count"),
            MetricValue(before, "atman_queue_time_seconds_count") + 1);
  // The counter counts forward batches, not perturbations, so it moves by
  // at least one preparation pass and one batch.
  EXPECT_GE(MetricValue(after, "atman_forward_passes_total"),
            MetricValue(before, "atman_forward_passes_total") + 2);
  // One perturbation per unit.
  EXPECT_EQ(MetricValue(after, "atman_perturbations_total"),
            MetricValue(before, "atman_perturbations_total") +
                call.explanation()->explanations(0).spans_size());
}

TEST_F(MetricsTest, OtherPathIsNotFound) {
  for (const std::string path : {"/", "/metricsx", "/health"}) {
    SCOPED_TRACE(path);
    const auto response = HttpGet(server_.server->metrics_port(), path);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status_code, 404);
  }
  const auto metrics = HttpGet(server_.server->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->status_code, 200);
}

TEST_F(MetricsTest, BusyPortIsUnavailable) {
  const int busy_port = server_.server->metrics_port();
  const auto second = service::MetricsHttpServer::Start(std::make_shared<prometheus::Registry>(),
                                                        "127.0.0.1", busy_port);
  ASSERT_FALSE(second.ok()) << "a second server started on the busy port " << busy_port;
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(absl::StrCat(busy_port)));
}

}  // namespace
}  // namespace atman::service_test
