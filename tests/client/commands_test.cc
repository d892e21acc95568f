#include "client/commands.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/client/fake_explainer.h"

namespace atman::client {
namespace {

using testing::FakeExplainer;
using testing::FakeServer;

struct CommandResult {
  int exit_code = 0;
  std::string out;
  std::string err;
};

CommandResult RunCommand(int (*command)(const std::vector<std::string>&),
                         const std::vector<std::string>& args) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  CommandResult result;
  result.exit_code = command(args);
  result.out = ::testing::internal::GetCapturedStdout();
  result.err = ::testing::internal::GetCapturedStderr();
  return result;
}

class CommandsTest : public ::testing::Test {
 protected:
  FakeExplainer service_;
  FakeServer server_{&service_};
  std::string server_flag_ = "--server=" + server_.address();
};

TEST_F(CommandsTest, ExplainPrintsPlainText) {
  const CommandResult result = RunCommand(
      RunExplainCommand, {server_flag_, "--prompt=Once upon", "--target= a", "--color=never"});

  EXPECT_EQ(result.exit_code, kExitSuccess) << result.err;
  EXPECT_NE(result.out.find("Once upon[+1]"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find('\x1b'), std::string::npos);
}

TEST_F(CommandsTest, ExplainColorAlwaysUsesAnsi) {
  const CommandResult result =
      RunCommand(RunExplainCommand, {server_flag_, "--prompt=Once", "--color=always"});

  EXPECT_EQ(result.exit_code, kExitSuccess) << result.err;
  EXPECT_NE(result.out.find("\x1b[48;2;"), std::string::npos);
}

TEST_F(CommandsTest, ExplainJsonKeepsProtoFieldNames) {
  const CommandResult result =
      RunCommand(RunExplainCommand, {server_flag_, "--prompt=Once", "--format=json"});

  ASSERT_EQ(result.exit_code, kExitSuccess) << result.err;
  const nlohmann::json json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["explanation"]["model"], "fake");
  EXPECT_EQ(json["explanation"]["explanations"][0]["target_token_index"], 0);
  EXPECT_EQ(json["explanation"]["explanations"][0]["spans"][0]["text"], "Once");
}

TEST_F(CommandsTest, ExplainWritesHtml) {
  const std::string path = ::testing::TempDir() + "/explanation.html";
  const CommandResult result =
      RunCommand(RunExplainCommand, {server_flag_, "--prompt=<b>bold</b>", "--html=" + path});

  ASSERT_EQ(result.exit_code, kExitSuccess) << result.err;
  std::stringstream html;
  html << std::ifstream(path).rdbuf();
  EXPECT_EQ(html.str().rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.str().find("&lt;b&gt;bold&lt;/b&gt;"), std::string::npos);
}

TEST_F(CommandsTest, ExplainShowsProgress) {
  const CommandResult result =
      RunCommand(RunExplainCommand, {server_flag_, "--prompt=Once", "--progress"});

  EXPECT_EQ(result.exit_code, kExitSuccess);
  EXPECT_NE(result.err.find("2/2 units 100%"), std::string::npos) << result.err;
}

TEST_F(CommandsTest, ExplainRpcErrorExitsOne) {
  const CommandResult result =
      RunCommand(RunExplainCommand, {server_flag_, "--prompt=Once", "--model=missing"});

  EXPECT_EQ(result.exit_code, kExitFailure);
  EXPECT_NE(result.err.find("NOT_FOUND: model 'missing' is not loaded"), std::string::npos)
      << result.err;
}

TEST_F(CommandsTest, ExplainBadFlagExitsTwo) {
  const CommandResult result =
      RunCommand(RunExplainCommand, {server_flag_, "--prompt=Once", "--granularity=letter"});

  EXPECT_EQ(result.exit_code, kExitUsage);
  EXPECT_NE(result.err.find("--granularity=letter"), std::string::npos);
  EXPECT_TRUE(service_.requests().empty());
}

TEST_F(CommandsTest, ModelsTextAndJson) {
  const CommandResult text = RunCommand(RunModelsCommand, {server_flag_});
  const CommandResult json = RunCommand(RunModelsCommand, {server_flag_, "--format=json"});

  EXPECT_EQ(text.exit_code, kExitSuccess) << text.err;
  EXPECT_NE(text.out.find("fake"), std::string::npos);
  ASSERT_EQ(json.exit_code, kExitSuccess) << json.err;
  EXPECT_EQ(nlohmann::json::parse(json.out)["models"][0]["name"], "fake");
  EXPECT_EQ(nlohmann::json::parse(json.out)["models"][0]["is_default"], false);
}

TEST_F(CommandsTest, BenchPrintsJsonReport) {
  const CommandResult result = RunCommand(
      RunBenchCommand, {server_flag_, "--concurrency=2", "--max_requests=5", "--duration_s=60",
                        "--mix=8:token:1,16:sentence:2", "--format=json"});

  ASSERT_EQ(result.exit_code, kExitSuccess) << result.err;
  const nlohmann::json json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["sent"], 5);
  EXPECT_EQ(json["succeeded"], 5);
  EXPECT_EQ(json["mix"], "8:token:1,16:sentence:2");
}

TEST_F(CommandsTest, BenchBadMixExitsTwo) {
  const CommandResult result = RunCommand(RunBenchCommand, {server_flag_, "--mix=8:token:x"});

  EXPECT_EQ(result.exit_code, kExitUsage);
  EXPECT_NE(result.err.find("weight 'x'"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace atman::client
