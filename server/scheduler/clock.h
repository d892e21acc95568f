#ifndef ATMAN_SERVER_SCHEDULER_CLOCK_H_
#define ATMAN_SERVER_SCHEDULER_CLOCK_H_

// Time source of the scheduler. Every read of the time and every wait with a
// deadline goes through a Clock, so tests can drive time by hand with
// FakeClock and never sleep.

#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace atman::scheduler {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;

  virtual absl::Time Now() const = 0;

  // Blocks until `condition` holds or the clock reaches `deadline`, whichever
  // comes first, and returns the value of `condition`. The caller holds
  // `mutex`, which is released while waiting and held again on return.
  // `condition` is evaluated with `mutex` held, like absl::Mutex::Await.
  virtual bool AwaitWithDeadline(absl::Mutex* mutex, const absl::Condition& condition,
                                 absl::Time deadline) = 0;
};

// Wall-clock time (absl::Now) and absl::Mutex waits.
class RealClock : public Clock {
 public:
  absl::Time Now() const override;
  bool AwaitWithDeadline(absl::Mutex* mutex, const absl::Condition& condition,
                         absl::Time deadline) override;
};

// A clock that moves only when AdvanceTime or SetTime is called. A wait ends
// when its condition is true or when the fake time reaches its deadline.
//
// Every mutex that a waiter passes to AwaitWithDeadline must stay alive while
// that wait lasts and while an AdvanceTime or SetTime call that started
// during the wait runs.
class FakeClock : public Clock {
 public:
  // Starts at an arbitrary fixed time, not at the Unix epoch.
  FakeClock();
  explicit FakeClock(absl::Time start);

  absl::Time Now() const override;
  bool AwaitWithDeadline(absl::Mutex* mutex, const absl::Condition& condition,
                         absl::Time deadline) override;

  // Moves the time forward by `duration` (must not be negative) and wakes
  // every waiter whose deadline has passed.
  void AdvanceTime(absl::Duration duration);
  // Sets the time; it must not move backwards.
  void SetTime(absl::Time time);

  // Blocks until at least `count` threads wait in AwaitWithDeadline with a
  // finite deadline. Lets a test advance the time only after the waits it
  // means to end have started.
  void BlockUntilTimedWaiters(int count);

 private:
  // One thread in AwaitWithDeadline with a finite deadline.
  struct Waiter {
    absl::Mutex* mutex = nullptr;
    absl::Time deadline;
    // Set under `*mutex` once the fake time reaches `deadline`.
    bool expired = false;
  };

  void ExpireWaiters(const std::vector<std::shared_ptr<Waiter>>& waiters);

  mutable absl::Mutex mutex_;
  absl::Time now_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::shared_ptr<Waiter>> waiters_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace atman::scheduler

#endif  // ATMAN_SERVER_SCHEDULER_CLOCK_H_
