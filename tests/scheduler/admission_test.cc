#include "server/scheduler/admission.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/scheduler/fake_backend.h"

namespace atman::scheduler {
namespace {

using ::testing::HasSubstr;

TEST(MaxRowsWithinBudgetTest, FindsLargestFittingBatch) {
  fakes::FakeEngine engine;
  engine.set_bytes_per_token_row(10);
  fakes::FakeBackend backend("cpu", &engine);

  // One row of 100 tokens is 1000 bytes.
  EXPECT_EQ(MaxRowsWithinBudget(backend, 100, 64, 999), 0);
  EXPECT_EQ(MaxRowsWithinBudget(backend, 100, 64, 1000), 1);
  EXPECT_EQ(MaxRowsWithinBudget(backend, 100, 64, 7999), 7);
  EXPECT_EQ(MaxRowsWithinBudget(backend, 100, 64, 64000), 64);
  EXPECT_EQ(MaxRowsWithinBudget(backend, 100, 64, int64_t{1} << 40), 64);
  EXPECT_EQ(MaxRowsWithinBudget(backend, 100, 0, int64_t{1} << 40), 0);
}

TEST(MemoryBudgetExceededErrorTest, StatesEstimateAndBudget) {
  const absl::Status status = MemoryBudgetExceededError(512, 3 * 1048576, 1048576);

  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("3145728 bytes (3.0 MiB)"));
  EXPECT_THAT(status.message(), HasSubstr("512 tokens"));
  EXPECT_THAT(status.message(), HasSubstr("1048576 bytes (1.0 MiB)"));
}

}  // namespace
}  // namespace atman::scheduler
