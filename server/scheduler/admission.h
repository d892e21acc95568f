#ifndef ATMAN_SERVER_SCHEDULER_ADMISSION_H_
#define ATMAN_SERVER_SCHEDULER_ADMISSION_H_

// Memory admission: how many perturbations of a request fit in one forward
// batch on a device, and the error for a request that never fits.

#include <cstdint>

#include "absl/status/status.h"
#include "server/scheduler/backend.h"

namespace atman::scheduler {

// Largest batch size used when the configured batch size is 0 and only the
// memory budget limits it. Larger batches stop paying on CPUs: with
// stories260K under 8 concurrent requests on 2 cores, batches sized by a
// 4 GiB budget (about 1,000 rows) gave 1.4 requests/s and batches of 32 gave
// 4.6 (`atman bench --concurrency=8`, 15 s each).
inline constexpr int64_t kMaxBatchSizeFromBudget = 32;

// Returns the largest number of rows r in [1, max_rows] for which
// backend.EstimateBatchBytes(sequence_length, r) <= budget_bytes, or 0 when
// not even one row fits. Relies on the estimate growing with the row count.
int64_t MaxRowsWithinBudget(const Backend& backend, int64_t sequence_length, int64_t max_rows,
                            int64_t budget_bytes);

// RESOURCE_EXHAUSTED for a request whose one-row batch of `sequence_length`
// tokens needs `estimate_bytes`, more than `budget_bytes`. The message states
// both in bytes and MiB.
absl::Status MemoryBudgetExceededError(int64_t sequence_length, int64_t estimate_bytes,
                                       int64_t budget_bytes);

}  // namespace atman::scheduler

#endif  // ATMAN_SERVER_SCHEDULER_ADMISSION_H_
