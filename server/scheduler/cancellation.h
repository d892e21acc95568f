#ifndef ATMAN_SERVER_SCHEDULER_CANCELLATION_H_
#define ATMAN_SERVER_SCHEDULER_CANCELLATION_H_

#include <atomic>
#include <functional>

#include "absl/synchronization/mutex.h"

namespace atman::scheduler {

// A flag that the service sets when the client cancels a request. The
// scheduler polls it between batches and registers a listener so that idle
// workers notice a cancelled request at once.
//
// Thread-safe. One token belongs to one submitted request.
class CancellationToken {
 public:
  CancellationToken() = default;
  CancellationToken(const CancellationToken&) = delete;
  CancellationToken& operator=(const CancellationToken&) = delete;

  // Marks the token cancelled and, the first time only, calls the listener.
  // The listener runs on the calling thread with the token's mutex held, so
  // Cancel must not be called from the listener.
  void Cancel();

  bool IsCancelled() const { return cancelled_.load(std::memory_order_acquire); }

  // Sets the function Cancel calls; an empty function removes it. Once
  // SetListener returns, the previous listener is not running and will not
  // run again, so its captures may be destroyed.
  void SetListener(std::function<void()> listener);

 private:
  std::atomic<bool> cancelled_{false};
  absl::Mutex mutex_;
  std::function<void()> listener_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace atman::scheduler

#endif  // ATMAN_SERVER_SCHEDULER_CANCELLATION_H_
