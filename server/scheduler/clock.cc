#include "server/scheduler/clock.h"

#include <algorithm>
#include <utility>

#include "glog/logging.h"

namespace atman::scheduler {

absl::Time RealClock::Now() const { return absl::Now(); }

bool RealClock::AwaitWithDeadline(absl::Mutex* mutex, const absl::Condition& condition,
                                  absl::Time deadline) {
  return mutex->AwaitWithDeadline(condition, deadline);
}

FakeClock::FakeClock() : FakeClock(absl::FromUnixSeconds(1'700'000'000)) {}

FakeClock::FakeClock(absl::Time start) : now_(start) {}

absl::Time FakeClock::Now() const {
  absl::MutexLock lock(&mutex_);
  return now_;
}

bool FakeClock::AwaitWithDeadline(absl::Mutex* mutex, const absl::Condition& condition,
                                  absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) {
    mutex->Await(condition);
    return true;
  }

  auto waiter = std::make_shared<Waiter>();
  waiter->mutex = mutex;
  waiter->deadline = deadline;
  {
    absl::MutexLock lock(&mutex_);
    if (now_ >= deadline) return condition.Eval();
    waiters_.push_back(waiter);
  }

  // `expired` is written only under `*mutex`, so absl::Mutex re-evaluates
  // this condition when ExpireWaiters releases `*mutex`.
  const Waiter* state = waiter.get();
  auto done = [&condition, state]() { return state->expired || condition.Eval(); };
  mutex->Await(absl::Condition(&done));
  const bool result = condition.Eval();

  {
    absl::MutexLock lock(&mutex_);
    waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), waiter), waiters_.end());
  }
  return result;
}

void FakeClock::AdvanceTime(absl::Duration duration) {
  CHECK_GE(duration, absl::ZeroDuration()) << "FakeClock cannot move backwards";
  SetTime(Now() + duration);
}

void FakeClock::SetTime(absl::Time time) {
  std::vector<std::shared_ptr<Waiter>> expired;
  {
    absl::MutexLock lock(&mutex_);
    CHECK_GE(time, now_) << "FakeClock cannot move backwards";
    now_ = time;
    for (const auto& waiter : waiters_) {
      if (waiter->deadline <= now_) expired.push_back(waiter);
    }
  }

  // The waiters' mutexes are taken after mutex_ is released because waiters
  // take mutex_ while holding their own mutex.
  ExpireWaiters(expired);
}

void FakeClock::ExpireWaiters(const std::vector<std::shared_ptr<Waiter>>& waiters) {
  for (const auto& waiter : waiters) {
    absl::MutexLock lock(waiter->mutex);
    waiter->expired = true;
  }
}

void FakeClock::BlockUntilTimedWaiters(int count) {
  absl::MutexLock lock(&mutex_);
  auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return static_cast<int>(waiters_.size()) >= count;
  };
  mutex_.Await(absl::Condition(&enough));
}

}  // namespace atman::scheduler
