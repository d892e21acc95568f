#include "bench/process_memory.h"

#include <malloc.h>

#include <fstream>
#include <sstream>

#ifdef ATMAN_BENCH_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/torch.h>
#endif

namespace atman::bench {
namespace {

#ifdef ATMAN_BENCH_HAS_CUDA
// Returns the CUDA device index of "cuda" or "cuda:N", or -1 for other devices.
int CudaIndex(const std::string& device) {
  if (device.rfind("cuda", 0) != 0) return -1;
  const torch::Device parsed(device);
  return parsed.has_index() ? parsed.index() : 0;
}
#endif

}  // namespace

int64_t ReadProcStatusBytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string prefix = field + ":";
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::istringstream value(line.substr(prefix.size()));
    int64_t kilobytes = -1;
    value >> kilobytes;
    return kilobytes < 0 ? -1 : kilobytes * 1024;
  }
  return -1;
}

bool ResetPeakResidentBytes() {
  malloc_trim(0);
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  clear_refs.close();
  return !clear_refs.fail();
}

void ResetDevicePeakBytes(const std::string& device) {
#ifdef ATMAN_BENCH_HAS_CUDA
  const int index = CudaIndex(device);
  if (index >= 0) c10::cuda::CUDACachingAllocator::resetPeakStats(index);
#else
  (void)device;
#endif
}

int64_t DevicePeakBytes(const std::string& device) {
#ifdef ATMAN_BENCH_HAS_CUDA
  const int index = CudaIndex(device);
  if (index < 0) return -1;
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
  const auto aggregate = static_cast<size_t>(c10::cuda::CUDACachingAllocator::StatType::AGGREGATE);
  return stats.allocated_bytes[aggregate].peak;
#else
  (void)device;
  return -1;
#endif
}

}  // namespace atman::bench
