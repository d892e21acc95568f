#include "server/scheduler/clock.h"

#include <thread>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/scheduler/cancellation.h"

namespace atman::scheduler {
namespace {

TEST(FakeClockTest, AdvanceTimeMovesNow) {
  FakeClock clock(absl::FromUnixSeconds(100));
  clock.AdvanceTime(absl::Seconds(2.5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100) + absl::Seconds(2.5));
}

TEST(FakeClockTest, AwaitEndsWhenTimeReachesDeadline) {
  FakeClock clock;
  absl::Mutex mutex;
  bool never = false;
  bool result = true;
  const absl::Time deadline = clock.Now() + absl::Seconds(1);

  std::thread waiter([&] {
    absl::MutexLock lock(&mutex);
    result = clock.AwaitWithDeadline(&mutex, absl::Condition(&never), deadline);
  });
  clock.BlockUntilTimedWaiters(1);
  clock.AdvanceTime(absl::Milliseconds(500));
  clock.AdvanceTime(absl::Milliseconds(500));
  waiter.join();

  EXPECT_FALSE(result);
}

TEST(FakeClockTest, AwaitEndsWhenConditionHolds) {
  FakeClock clock;
  absl::Mutex mutex;
  bool ready = false;
  bool result = false;

  std::thread waiter([&] {
    absl::MutexLock lock(&mutex);
    result = clock.AwaitWithDeadline(&mutex, absl::Condition(&ready), clock.Now() + absl::Hours(1));
  });
  clock.BlockUntilTimedWaiters(1);
  {
    absl::MutexLock lock(&mutex);
    ready = true;
  }
  waiter.join();

  EXPECT_TRUE(result);
}

TEST(FakeClockTest, AwaitWithPastDeadlineReturnsAtOnce) {
  FakeClock clock;
  absl::Mutex mutex;
  bool never = false;

  absl::MutexLock lock(&mutex);
  EXPECT_FALSE(clock.AwaitWithDeadline(&mutex, absl::Condition(&never), clock.Now()));
}

TEST(RealClockTest, AwaitWithPastDeadlineReturnsAtOnce) {
  RealClock clock;
  absl::Mutex mutex;
  bool never = false;
  bool ready = true;

  absl::MutexLock lock(&mutex);
  EXPECT_FALSE(clock.AwaitWithDeadline(&mutex, absl::Condition(&never), clock.Now()));
  EXPECT_TRUE(clock.AwaitWithDeadline(&mutex, absl::Condition(&ready), clock.Now()));
}

TEST(CancellationTokenTest, CancelCallsListenerOnce) {
  CancellationToken token;
  int calls = 0;
  token.SetListener([&calls] { ++calls; });

  token.Cancel();
  token.Cancel();

  EXPECT_TRUE(token.IsCancelled());
  EXPECT_EQ(calls, 1);
}

TEST(CancellationTokenTest, RemovedListenerIsNotCalled) {
  CancellationToken token;
  int calls = 0;
  token.SetListener([&calls] { ++calls; });
  token.SetListener(nullptr);

  token.Cancel();

  EXPECT_TRUE(token.IsCancelled());
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace atman::scheduler
