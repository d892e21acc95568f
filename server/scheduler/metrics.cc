#include "server/scheduler/metrics.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace atman::scheduler {
namespace {

// Request-level durations span a few milliseconds (a short prompt on a GPU)
// to minutes (a long prompt on a CPU).
prometheus::Histogram::BucketBoundaries SecondsBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,   0.25,  0.5,
          1.0,   2.5,    5.0,   10.0, 25.0,  60.0, 120.0, 300.0, 600.0};
}

prometheus::Histogram::BucketBoundaries BatchSizeBuckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
}

}  // namespace

Metrics::Metrics(const std::vector<std::string>& devices)
    : registry_(std::make_shared<prometheus::Registry>()) {
  RegisterRequestMetrics();
  RegisterDeviceMetrics(devices);
}

void Metrics::RegisterRequestMetrics() {
  requests_ = &prometheus::BuildCounter()
                   .Name("atman_requests_total")
                   .Help("Explain requests that reached the scheduler, by model and final status")
                   .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("atman_request_latency_seconds")
                  .Help("Seconds from submission to the final result of accepted requests")
                  .Register(*registry_);
  queue_time_ = &prometheus::BuildHistogram()
                     .Name("atman_queue_time_seconds")
                     .Help("Seconds requests waited in the queue before a worker took them")
                     .Register(*registry_)
                     .Add({}, SecondsBuckets());
  compute_time_ = &prometheus::BuildHistogram()
                       .Name("atman_compute_time_seconds")
                       .Help("Seconds from a worker taking a request to its result, if successful")
                       .Register(*registry_)
                       .Add({}, SecondsBuckets());
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("atman_queue_depth")
                      .Help("Requests waiting in the queue")
                      .Register(*registry_)
                      .Add({});
  inflight_ = &prometheus::BuildGauge()
                   .Name("atman_inflight_requests")
                   .Help("Requests taken from the queue and being prepared or computed")
                   .Register(*registry_)
                   .Add({});
}

void Metrics::RegisterDeviceMetrics(const std::vector<std::string>& devices) {
  batch_size_ = &prometheus::BuildHistogram()
                     .Name("atman_batch_size")
                     .Help("Perturbations per forward batch")
                     .Register(*registry_)
                     .Add({}, BatchSizeBuckets());
  auto& passes = prometheus::BuildCounter()
                     .Name("atman_forward_passes_total")
                     .Help("Forward passes run, by device: batches, baseline and generation passes")
                     .Register(*registry_);
  auto& perturbations = prometheus::BuildCounter()
                            .Name("atman_perturbations_total")
                            .Help("Perturbations (suppressed units) computed, by device")
                            .Register(*registry_);
  auto& busy = prometheus::BuildCounter()
                   .Name("atman_device_busy_seconds_total")
                   .Help("Seconds a device spent preparing requests and running batches")
                   .Register(*registry_);

  for (const std::string& device : devices) {
    const prometheus::Labels labels = {{"device", device}};
    devices_.push_back({&passes.Add(labels), &perturbations.Add(labels), &busy.Add(labels)});
  }
}

void Metrics::RecordRejected(const std::string& model, absl::StatusCode code) {
  requests_->Add({{"model", model}, {"code", absl::StatusCodeToString(code)}}).Increment();
}

void Metrics::RecordFinished(const std::string& model, absl::StatusCode code,
                             absl::Duration latency) {
  requests_->Add({{"model", model}, {"code", absl::StatusCodeToString(code)}}).Increment();
  latency_->Add({{"model", model}}, SecondsBuckets()).Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::RecordQueueTime(absl::Duration wait) {
  queue_time_->Observe(absl::ToDoubleSeconds(wait));
}

void Metrics::RecordComputeTime(absl::Duration compute) {
  compute_time_->Observe(absl::ToDoubleSeconds(compute));
}

void Metrics::SetQueueDepth(int64_t depth) { queue_depth_->Set(static_cast<double>(depth)); }

void Metrics::SetInflightRequests(int64_t count) { inflight_->Set(static_cast<double>(count)); }

void Metrics::RecordPreparation(int device_index, int64_t forward_passes, absl::Duration busy) {
  const DeviceSeries& series = devices_.at(device_index);
  series.forward_passes->Increment(static_cast<double>(forward_passes));
  series.busy_seconds->Increment(absl::ToDoubleSeconds(busy));
}

void Metrics::RecordBatch(int device_index, int64_t rows, absl::Duration busy) {
  const DeviceSeries& series = devices_.at(device_index);
  series.forward_passes->Increment();
  series.perturbations->Increment(static_cast<double>(rows));
  series.busy_seconds->Increment(absl::ToDoubleSeconds(busy));
  batch_size_->Observe(static_cast<double>(rows));
}

}  // namespace atman::scheduler
