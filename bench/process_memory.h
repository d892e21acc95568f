#ifndef ATMAN_BENCH_PROCESS_MEMORY_H_
#define ATMAN_BENCH_PROCESS_MEMORY_H_

// Memory readings for attributing a peak to one benchmark run: resident set
// size of this process from /proc (Linux only), and the CUDA caching
// allocator's peak when the build links CUDA LibTorch.

#include <cstdint>
#include <string>

namespace atman::bench {

// Returns a "kB" field of /proc/self/status (such as "VmRSS" or "VmHWM") in
// bytes, or -1 when the file or the field is missing.
int64_t ReadProcStatusBytes(const std::string& field);

// Returns freed heap memory to the OS (malloc_trim) and resets VmHWM to the
// current resident size by writing "5" to /proc/self/clear_refs (Linux 4.0
// or newer). Returns false when the reset failed, so the next VmHWM reading
// may include earlier peaks.
bool ResetPeakResidentBytes();

// Resets the peak of bytes allocated on `device` ("cuda:N"). Does nothing
// for CPU devices and in builds without CUDA.
void ResetDevicePeakBytes(const std::string& device);

// Returns the peak bytes allocated on `device` since the last reset, or -1
// for CPU devices and in builds without CUDA.
int64_t DevicePeakBytes(const std::string& device);

}  // namespace atman::bench

#endif  // ATMAN_BENCH_PROCESS_MEMORY_H_
