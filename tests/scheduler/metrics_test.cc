#include "server/scheduler/metrics.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace atman::scheduler {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RecordsPerDeviceSeries) {
  Metrics metrics({"cpu:0", "cpu:1"});
  metrics.RecordBatch(1, 8, absl::Milliseconds(250));
  metrics.RecordPreparation(1, 3, absl::Milliseconds(250));

  bool found = false;
  for (const auto& family : metrics.registry()->Collect()) {
    if (family.name != "atman_forward_passes_total") continue;
    ASSERT_EQ(family.metric.size(), 2u);
    for (const auto& metric : family.metric) {
      ASSERT_EQ(metric.label.size(), 1u);
      EXPECT_EQ(metric.label[0].name, "device");
      EXPECT_EQ(metric.counter.value, metric.label[0].value == "cpu:1" ? 4 : 0);
    }
    found = true;
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace atman::scheduler
