#include "client/flags.h"

#include <gtest/gtest.h>

#include <string>

namespace atman::client {
namespace {

struct Values {
  std::string name = "default";
  int64_t count = 1;
  double rate = 0.5;
  bool verbose = false;
  bool color = true;
};

FlagSet MakeFlags(Values* values) {
  FlagSet flags("test");
  flags.AddString("name", &values->name, "a name");
  flags.AddInt("count", &values->count, "a count");
  flags.AddDouble("rate", &values->rate, "a rate");
  flags.AddBool("verbose", &values->verbose, "verbose output");
  flags.AddBool("color", &values->color, "colour output");
  return flags;
}

TEST(FlagSetTest, ParsesAllForms) {
  Values values;
  FlagSet flags = MakeFlags(&values);

  ASSERT_TRUE(
      flags.Parse({"--name=x=y", "--count", "7", "--rate=2.5", "--verbose", "--nocolor"}).ok());
  EXPECT_EQ(values.name, "x=y");
  EXPECT_EQ(values.count, 7);
  EXPECT_EQ(values.rate, 2.5);
  EXPECT_TRUE(values.verbose);
  EXPECT_FALSE(values.color);
  EXPECT_TRUE(flags.WasSet("count"));
  EXPECT_TRUE(flags.WasSet("color"));
}

TEST(FlagSetTest, UnsetFlagsKeepDefaults) {
  Values values;
  FlagSet flags = MakeFlags(&values);

  ASSERT_TRUE(flags.Parse({"--verbose=false"}).ok());
  EXPECT_EQ(values.name, "default");
  EXPECT_FALSE(values.verbose);
  EXPECT_FALSE(flags.WasSet("name"));
  EXPECT_TRUE(flags.WasSet("verbose"));
}

TEST(FlagSetTest, ErrorsNameFlagAndValue) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--unknown=1"}, "unknown flag --unknown"},
      {{"--count=abc"}, "invalid value 'abc' for --count"},
      {{"--rate=fast"}, "invalid value 'fast' for --rate"},
      {{"--verbose=maybe"}, "invalid value 'maybe' for --verbose"},
      {{"--count"}, "missing value for --count"},
      {{"positional"}, "unexpected argument 'positional'"},
      {{"--nocount"}, "unknown flag --nocount"},
  };
  for (const auto& [args, expected] : cases) {
    Values values;
    FlagSet flags = MakeFlags(&values);
    const absl::Status status = flags.Parse(args);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << args[0];
    EXPECT_NE(status.message().find(expected), std::string::npos) << status.message();
  }
}

TEST(FlagSetTest, HelpIsRecorded) {
  Values values;
  FlagSet flags = MakeFlags(&values);

  ASSERT_TRUE(flags.Parse({"--help"}).ok());
  EXPECT_TRUE(flags.help_requested());
  EXPECT_NE(flags.Usage().find("--count (default 1)"), std::string::npos);
}

}  // namespace
}  // namespace atman::client
