#ifndef ATMAN_SERVER_SCHEDULER_METRICS_H_
#define ATMAN_SERVER_SCHEDULER_METRICS_H_

// Prometheus metrics of the scheduler. docs/metrics.md lists each metric with
// its type, labels and unit.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace atman::scheduler {

// Owns a registry with every scheduler metric. Per-device series are created
// up front for the devices given to the constructor, so recording a batch
// takes no lock beyond the counters' own atomics and allocates nothing.
//
// Thread-safe: prometheus-cpp metrics and families are thread-safe.
class Metrics {
 public:
  // `devices` are the device names, in the order of the scheduler's device
  // indices.
  explicit Metrics(const std::vector<std::string>& devices);

  // The registry to expose, and to which other layers may add their own
  // metrics.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // Counts a request that ended with `code` without being accepted (rejected
  // by validation or admission).
  void RecordRejected(const std::string& model, absl::StatusCode code);
  // Counts an accepted request that ended with `code` after `latency`, the
  // time from submission to the final callback.
  void RecordFinished(const std::string& model, absl::StatusCode code, absl::Duration latency);
  // Time a request waited in the queue before a worker took it.
  void RecordQueueTime(absl::Duration wait);
  // Time from a worker taking a request to its last perturbation finishing.
  void RecordComputeTime(absl::Duration compute);

  void SetQueueDepth(int64_t depth);
  void SetInflightRequests(int64_t count);

  // Records a preparation (tokenization, generation, baseline) on device
  // `device_index` that ran `forward_passes` passes in `busy` time.
  void RecordPreparation(int device_index, int64_t forward_passes, absl::Duration busy);
  // Records one forward batch of `rows` perturbations on device
  // `device_index` that took `busy`.
  void RecordBatch(int device_index, int64_t rows, absl::Duration busy);

 private:
  void RegisterRequestMetrics();
  void RegisterDeviceMetrics(const std::vector<std::string>& devices);

  struct DeviceSeries {
    prometheus::Counter* forward_passes = nullptr;
    prometheus::Counter* perturbations = nullptr;
    prometheus::Counter* busy_seconds = nullptr;
  };

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* latency_ = nullptr;
  prometheus::Histogram* queue_time_ = nullptr;
  prometheus::Histogram* compute_time_ = nullptr;
  prometheus::Gauge* queue_depth_ = nullptr;
  prometheus::Gauge* inflight_ = nullptr;
  prometheus::Histogram* batch_size_ = nullptr;
  std::vector<DeviceSeries> devices_;
};


}  // namespace atman::scheduler

#endif  // ATMAN_SERVER_SCHEDULER_METRICS_H_
