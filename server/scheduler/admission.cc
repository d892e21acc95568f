#include "server/scheduler/admission.h"

#include "absl/strings/str_format.h"

namespace atman::scheduler {
namespace {

double ToMiB(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

}  // namespace

int64_t MaxRowsWithinBudget(const Backend& backend, int64_t sequence_length, int64_t max_rows,
                            int64_t budget_bytes) {
  if (max_rows < 1 || backend.EstimateBatchBytes(sequence_length, 1) > budget_bytes) return 0;

  // Binary search for the last row count that fits: `low` always fits and
  // every count above `high` does not.
  int64_t low = 1;
  int64_t high = max_rows;
  while (low < high) {
    const int64_t middle = low + (high - low + 1) / 2;
    if (backend.EstimateBatchBytes(sequence_length, middle) <= budget_bytes) {
      low = middle;
    } else {
      high = middle - 1;
    }
  }
  return low;
}

absl::Status MemoryBudgetExceededError(int64_t sequence_length, int64_t estimate_bytes,
                                       int64_t budget_bytes) {
  return absl::ResourceExhaustedError(absl::StrFormat(
      "request needs an estimated %d bytes (%.1f MiB) for a forward pass of one perturbation of "
      "%d tokens, which exceeds the per-device memory budget of %d bytes (%.1f MiB); shorten the "
      "prompt or the target, or raise the memory budget",
      estimate_bytes, ToMiB(estimate_bytes), sequence_length, budget_bytes, ToMiB(budget_bytes)));
}

}  // namespace atman::scheduler
