// Percentiles and the report of `atman bench`.
#ifndef ATMAN_CLIENT_LATENCY_STATS_H_
#define ATMAN_CLIENT_LATENCY_STATS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace atman::client {

// Returns the nearest-rank percentile `p` (0 < p <= 100) of ascending
// `sorted`: the smallest value with at least p% of the values at or below it.
// Returns 0 for an empty vector.
double Percentile(const std::vector<double>& sorted, double p);

struct LatencySummary {
  double p50_ms = 0;
  double p95_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};

// Sorts `latencies_ms` and summarises it.
LatencySummary SummarizeLatencies(std::vector<double> latencies_ms);

struct BenchReport {
  // Settings the run used, repeated in the report.
  int64_t concurrency = 0;
  double rate = 0;
  std::string mix;

  int64_t sent = 0;
  int64_t succeeded = 0;
  // Wall time from the first request to the end of the last one, in seconds.
  double elapsed_s = 0;
  // Of succeeded requests only.
  LatencySummary latency;
  // Failed requests per gRPC status code name.
  std::map<std::string, int64_t> errors;
};

// Returns succeeded requests per second of elapsed time, or 0 when no time passed.
double Throughput(const BenchReport& report);

// Returns a human-readable report, one value per line.
std::string FormatReportText(const BenchReport& report);

// Returns the report as one JSON object on one line.
std::string FormatReportJson(const BenchReport& report);

}  // namespace atman::client

#endif  // ATMAN_CLIENT_LATENCY_STATS_H_
