#include "server/scheduler/cancellation.h"

#include <utility>

namespace atman::scheduler {

void CancellationToken::Cancel() {
  absl::MutexLock lock(&mutex_);
  if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
  if (listener_) listener_();
}

void CancellationToken::SetListener(std::function<void()> listener) {
  std::function<void()> previous;
  {
    absl::MutexLock lock(&mutex_);
    previous = std::exchange(listener_, std::move(listener));
  }
  // The previous listener's captures are destroyed here, outside the mutex.
}

}  // namespace atman::scheduler
