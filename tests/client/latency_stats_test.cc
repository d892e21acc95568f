#include "client/latency_stats.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace atman::client {
namespace {

TEST(PercentileTest, NearestRankOnTenValues) {
  const std::vector<double> sorted = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

  EXPECT_EQ(Percentile(sorted, 50), 5);
  EXPECT_EQ(Percentile(sorted, 95), 10);
  EXPECT_EQ(Percentile(sorted, 10), 1);
  EXPECT_EQ(Percentile(sorted, 11), 2);
  EXPECT_EQ(Percentile(sorted, 100), 10);
}

TEST(PercentileTest, HundredValues) {
  std::vector<double> sorted;
  for (int i = 1; i <= 100; ++i) sorted.push_back(i);

  EXPECT_EQ(Percentile(sorted, 50), 50);
  EXPECT_EQ(Percentile(sorted, 95), 95);
  EXPECT_EQ(Percentile(sorted, 99), 99);
}

TEST(PercentileTest, SingleAndEmpty) {
  EXPECT_EQ(Percentile({7.5}, 50), 7.5);
  EXPECT_EQ(Percentile({7.5}, 99), 7.5);
  EXPECT_EQ(Percentile({}, 50), 0);
}

TEST(SummarizeLatenciesTest, SortsBeforeRanking) {
  const LatencySummary summary = SummarizeLatencies({30, 10, 20, 40});

  EXPECT_EQ(summary.p50_ms, 20);
  EXPECT_EQ(summary.p95_ms, 40);
  EXPECT_EQ(summary.p99_ms, 40);
  EXPECT_EQ(summary.max_ms, 40);
}

BenchReport SampleReport() {
  BenchReport report;
  report.concurrency = 4;
  report.mix = "16:token:3";
  report.sent = 12;
  report.succeeded = 10;
  report.elapsed_s = 2;
  report.latency = SummarizeLatencies({5, 6, 7});
  report.errors["RESOURCE_EXHAUSTED"] = 2;
  return report;
}

TEST(BenchReportTest, ThroughputIsSucceededPerSecond) {
  EXPECT_DOUBLE_EQ(Throughput(SampleReport()), 5.0);
  EXPECT_EQ(Throughput(BenchReport()), 0.0);
}

TEST(BenchReportTest, JsonHasAllFields) {
  const nlohmann::json json = nlohmann::json::parse(FormatReportJson(SampleReport()));

  EXPECT_EQ(json["sent"], 12);
  EXPECT_EQ(json["succeeded"], 10);
  EXPECT_DOUBLE_EQ(json["throughput_rps"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(json["latency_ms"]["p50"].get<double>(), 6.0);
  EXPECT_DOUBLE_EQ(json["latency_ms"]["max"].get<double>(), 7.0);
  EXPECT_EQ(json["errors"]["RESOURCE_EXHAUSTED"], 2);
  EXPECT_EQ(json["mix"], "16:token:3");
}

TEST(BenchReportTest, JsonErrorsIsObjectWhenEmpty) {
  const nlohmann::json json = nlohmann::json::parse(FormatReportJson(BenchReport()));

  EXPECT_TRUE(json["errors"].is_object());
}

TEST(BenchReportTest, TextNamesErrorCodes) {
  const std::string text = FormatReportText(SampleReport());

  EXPECT_NE(text.find("RESOURCE_EXHAUSTED"), std::string::npos);
  EXPECT_NE(text.find("throughput:       5.000 req/s"), std::string::npos);
  EXPECT_NE(text.find("latency p50:      6.000 ms"), std::string::npos);
}

}  // namespace
}  // namespace atman::client
