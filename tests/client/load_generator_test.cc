#include "client/load_generator.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>

#include "client/explain_call.h"
#include "tests/client/fake_explainer.h"

namespace atman::client {
namespace {

using testing::FakeExplainer;
using testing::FakeServer;

LoadOptions OptionsFor(const FakeServer& server) {
  LoadOptions options;
  options.connection.server = server.address();
  options.concurrency = 3;
  options.duration_s = 60;
  options.max_requests = 12;
  options.mix = {MixEntry{8, atman::v1::TOKEN, 1}, MixEntry{20, atman::v1::WORD, 1}};
  options.target = " end";
  return options;
}

TEST(RunLoadTest, ClosedLoopStopsAtMaxRequests) {
  FakeExplainer service;
  FakeServer server(&service);

  const absl::StatusOr<BenchReport> report = RunLoad(OptionsFor(server));

  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->sent, 12);
  EXPECT_EQ(report->succeeded, 12);
  EXPECT_TRUE(report->errors.empty());
  EXPECT_GT(report->latency.max_ms, 0);
  EXPECT_LE(report->latency.p50_ms, report->latency.p99_ms);
  EXPECT_EQ(service.requests().size(), 12u);
}

TEST(RunLoadTest, SendsTheMixGranularities) {
  FakeExplainer service;
  FakeServer server(&service);

  ASSERT_TRUE(RunLoad(OptionsFor(server)).ok());

  std::set<int> granularities;
  for (const atman::v1::ExplainRequest& request : service.requests()) {
    granularities.insert(request.granularity());
    EXPECT_EQ(request.target(), " end");
    EXPECT_FALSE(request.prompt().text().empty());
  }
  EXPECT_EQ(granularities, (std::set<int>{atman::v1::TOKEN, atman::v1::WORD}));
}

TEST(RunLoadTest, CountsErrorsByCodeName) {
  FakeExplainer service;
  FakeServer server(&service);
  LoadOptions options = OptionsFor(server);
  options.model = "missing";

  const absl::StatusOr<BenchReport> report = RunLoad(options);

  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->sent, 12);
  EXPECT_EQ(report->succeeded, 0);
  EXPECT_EQ(report->errors.at("NOT_FOUND"), 12);
}

TEST(RunLoadTest, OpenLoopStopsAtMaxRequests) {
  FakeExplainer service;
  FakeServer server(&service);
  LoadOptions options = OptionsFor(server);
  // Fast enough that the test never waits long for the schedule.
  options.rate = 1000;

  const absl::StatusOr<BenchReport> report = RunLoad(options);

  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->sent, 12);
  EXPECT_EQ(report->succeeded, 12);
}

TEST(RunLoadTest, InvalidOptionsAreRejected) {
  LoadOptions options;
  options.mix = {MixEntry{8, atman::v1::TOKEN, 1}};

  options.concurrency = 0;
  EXPECT_NE(RunLoad(options).status().message().find("--concurrency=0"), std::string::npos);
  options.concurrency = 1;
  options.duration_s = 0;
  EXPECT_NE(RunLoad(options).status().message().find("--duration_s=0"), std::string::npos);
  options.duration_s = 1;
  options.rate = -1;
  EXPECT_NE(RunLoad(options).status().message().find("--rate=-1"), std::string::npos);
}

TEST(BuildLoadRequestTest, DeterministicPerIndex) {
  LoadOptions options;
  options.mix = {MixEntry{8, atman::v1::TOKEN, 1}, MixEntry{30, atman::v1::SENTENCE, 2}};

  for (uint64_t index = 0; index < 10; ++index) {
    EXPECT_EQ(BuildLoadRequest(options, index).SerializeAsString(),
              BuildLoadRequest(options, index).SerializeAsString());
  }
  EXPECT_NE(BuildLoadRequest(options, 0).prompt().text(),
            BuildLoadRequest(options, 1).prompt().text());
}

TEST(CallExplainTest, ReportsProgressAndSendsToken) {
  FakeExplainer service("secret-token");
  FakeServer server(&service);
  const std::string token_file = ::testing::TempDir() + "/token.txt";
  std::ofstream(token_file) << "secret-token\nsecond line is ignored\n";
  ConnectionOptions options;
  options.server = server.address();
  options.token_file = token_file;
  absl::StatusOr<std::unique_ptr<Connection>> connection = Connection::Create(options);
  ASSERT_TRUE(connection.ok()) << connection.status();
  auto stub = atman::v1::Explainer::NewStub((*connection)->channel());
  atman::v1::ExplainRequest request;
  request.mutable_prompt()->set_text("Once upon a time");

  std::vector<uint32_t> done;
  atman::v1::ExplainResponse response;
  const grpc::Status status = CallExplain(
      **connection, *stub, request, std::nullopt,
      [&done](const atman::v1::Progress& progress) { done.push_back(progress.units_done()); },
      &response);

  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(done, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(response.explanation().explanations(0).spans(0).text(), "Once upon a time");
}

TEST(CallExplainTest, MissingTokenIsUnauthenticated) {
  FakeExplainer service("secret-token");
  FakeServer server(&service);
  ConnectionOptions options;
  options.server = server.address();
  absl::StatusOr<std::unique_ptr<Connection>> connection = Connection::Create(options);
  ASSERT_TRUE(connection.ok());
  auto stub = atman::v1::Explainer::NewStub((*connection)->channel());

  atman::v1::ExplainResponse response;
  const grpc::Status status = CallExplain(**connection, *stub, atman::v1::ExplainRequest(),
                                          std::nullopt, nullptr, &response);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(StatusCodeName(status.error_code()), "UNAUTHENTICATED");
}

TEST(ConnectionTest, InvalidOptionsNameTheFlag) {
  ConnectionOptions options;
  options.tls_cert = "cert.pem";
  EXPECT_NE(Connection::Create(options).status().message().find("--tls_key"), std::string::npos);

  options = ConnectionOptions();
  options.token_file = "/nonexistent/token";
  EXPECT_NE(Connection::Create(options).status().message().find("--token_file=/nonexistent/token"),
            std::string::npos);

  options = ConnectionOptions();
  options.max_message_bytes = 0;
  EXPECT_NE(Connection::Create(options).status().message().find("--max_message_bytes=0"),
            std::string::npos);
}

}  // namespace
}  // namespace atman::client
