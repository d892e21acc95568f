#include "client/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"

namespace atman::client {

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;

  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const size_t index = static_cast<size_t>(std::clamp(rank, 1.0, double(sorted.size()))) - 1;
  return sorted[index];
}

LatencySummary SummarizeLatencies(std::vector<double> latencies_ms) {
  std::sort(latencies_ms.begin(), latencies_ms.end());
  LatencySummary summary;
  summary.p50_ms = Percentile(latencies_ms, 50);
  summary.p95_ms = Percentile(latencies_ms, 95);
  summary.p99_ms = Percentile(latencies_ms, 99);
  summary.max_ms = latencies_ms.empty() ? 0 : latencies_ms.back();
  return summary;
}

double Throughput(const BenchReport& report) {
  return report.elapsed_s > 0 ? report.succeeded / report.elapsed_s : 0;
}

std::string FormatReportText(const BenchReport& report) {
  std::string text;
  absl::StrAppendFormat(&text, "concurrency:      %d\n", report.concurrency);
  absl::StrAppendFormat(
      &text, "rate:             %s\n",
      report.rate > 0 ? absl::StrFormat("%g req/s", report.rate) : std::string("closed loop"));
  absl::StrAppendFormat(&text, "mix:              %s\n", report.mix);
  absl::StrAppendFormat(&text, "requests sent:    %d\n", report.sent);
  absl::StrAppendFormat(&text, "succeeded:        %d\n", report.succeeded);
  absl::StrAppendFormat(&text, "elapsed:          %.3f s\n", report.elapsed_s);
  absl::StrAppendFormat(&text, "throughput:       %.3f req/s\n", Throughput(report));
  absl::StrAppendFormat(&text, "latency p50:      %.3f ms\n", report.latency.p50_ms);
  absl::StrAppendFormat(&text, "latency p95:      %.3f ms\n", report.latency.p95_ms);
  absl::StrAppendFormat(&text, "latency p99:      %.3f ms\n", report.latency.p99_ms);
  absl::StrAppendFormat(&text, "latency max:      %.3f ms\n", report.latency.max_ms);

  text += report.errors.empty() ? "errors:           none\n" : "errors:\n";
  for (const auto& [code, count] : report.errors) {
    absl::StrAppendFormat(&text, "  %-22s %d\n", code, count);
  }
  return text;
}

std::string FormatReportJson(const BenchReport& report) {
  nlohmann::json json = {
      {"concurrency", report.concurrency},
      {"rate", report.rate},
      {"mix", report.mix},
      {"sent", report.sent},
      {"succeeded", report.succeeded},
      {"elapsed_s", report.elapsed_s},
      {"throughput_rps", Throughput(report)},
      {"latency_ms",
       {{"p50", report.latency.p50_ms},
        {"p95", report.latency.p95_ms},
        {"p99", report.latency.p99_ms},
        {"max", report.latency.max_ms}}},
      {"errors", nlohmann::json(report.errors)},
  };
  return json.dump();
}

}  // namespace atman::client
