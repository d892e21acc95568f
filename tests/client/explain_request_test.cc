#include "client/explain_request.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace atman::client {
namespace {

absl::StatusOr<BuiltRequest> Build(const std::vector<std::string>& args) {
  ExplainFlags values;
  FlagSet flags("explain");
  AddExplainRequestFlags(flags, &values);
  absl::Status status = flags.Parse(args);
  if (!status.ok()) return status;
  return BuildExplainRequest(values, flags);
}

TEST(BuildExplainRequestTest, SetsEveryField) {
  const absl::StatusOr<BuiltRequest> built =
      Build({"--prompt=Hello world", "--target= there", "--model=m", "--max_new_tokens=4",
             "--granularity=custom", "--delimiter=,", "--control_mode=log_additive",
             "--control_factor=-2", "--similarity_threshold=0.7", "--noscale_by_similarity",
             "--target_granularity=per_token", "--postprocessing=square", "--normalize",
             "--batch_size=8"});
  ASSERT_TRUE(built.ok()) << built.status();

  const atman::v1::ExplainRequest& request = built->request;
  EXPECT_EQ(request.prompt().text(), "Hello world");
  EXPECT_EQ(built->prompt_text, "Hello world");
  EXPECT_EQ(request.target(), " there");
  EXPECT_EQ(request.model(), "m");
  EXPECT_EQ(request.max_new_tokens(), 4u);
  EXPECT_EQ(request.granularity(), atman::v1::CUSTOM);
  EXPECT_EQ(request.delimiter(), ",");
  EXPECT_EQ(request.control_mode(), atman::v1::LOG_ADDITIVE);
  EXPECT_FLOAT_EQ(request.control_factor(), -2.0f);
  EXPECT_FLOAT_EQ(request.similarity_threshold(), 0.7f);
  EXPECT_TRUE(request.has_scale_by_similarity());
  EXPECT_FALSE(request.scale_by_similarity());
  EXPECT_EQ(request.target_granularity(), atman::v1::PER_TOKEN);
  EXPECT_EQ(request.postprocessing(), atman::v1::SQUARE);
  EXPECT_TRUE(request.normalize());
  EXPECT_EQ(request.batch_size(), 8u);
}

TEST(BuildExplainRequestTest, UnsetOptionsStayUnset) {
  const absl::StatusOr<BuiltRequest> built = Build({"--prompt=Hi"});
  ASSERT_TRUE(built.ok()) << built.status();

  EXPECT_FALSE(built->request.has_control_factor());
  EXPECT_FALSE(built->request.has_similarity_threshold());
  EXPECT_FALSE(built->request.has_scale_by_similarity());
  EXPECT_EQ(built->request.granularity(), atman::v1::GRANULARITY_UNSPECIFIED);
  EXPECT_EQ(built->request.postprocessing(), atman::v1::POSTPROCESSING_UNSPECIFIED);
}

TEST(BuildExplainRequestTest, PromptIds) {
  const absl::StatusOr<BuiltRequest> built = Build({"--prompt_ids=1, 2,30"});
  ASSERT_TRUE(built.ok()) << built.status();

  ASSERT_EQ(built->request.prompt().token_ids().ids_size(), 3);
  EXPECT_EQ(built->request.prompt().token_ids().ids(2), 30);
  EXPECT_TRUE(built->prompt_text.empty());
}

TEST(BuildExplainRequestTest, PromptFile) {
  const std::string path = ::testing::TempDir() + "/prompt.txt";
  std::ofstream(path) << "From a file\n";
  const absl::StatusOr<BuiltRequest> built = Build({"--prompt_file=" + path});
  ASSERT_TRUE(built.ok()) << built.status();

  EXPECT_EQ(built->request.prompt().text(), "From a file\n");
}

TEST(BuildExplainRequestTest, ErrorsNameTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "exactly one of --prompt"},
      {{"--prompt=a", "--prompt_ids=1"}, "exactly one of --prompt"},
      {{"--prompt_ids=1,,2"}, "--prompt_ids element ''"},
      {{"--prompt_ids=1,-3"}, "--prompt_ids element '-3'"},
      {{"--prompt=a", "--granularity=letter"}, "--granularity=letter"},
      {{"--prompt=a", "--control_mode=add"}, "--control_mode=add"},
      {{"--prompt=a", "--target_granularity=all"}, "--target_granularity=all"},
      {{"--prompt=a", "--postprocessing=cube"}, "--postprocessing=cube"},
      {{"--prompt=a", "--max_new_tokens=-1"}, "--max_new_tokens=-1"},
      {{"--prompt=a", "--batch_size=99999999999"}, "--batch_size=99999999999"},
      {{"--prompt_file=/nonexistent/prompt.txt"}, "--prompt_file=/nonexistent/prompt.txt"},
  };
  for (const auto& [args, expected] : cases) {
    const absl::StatusOr<BuiltRequest> built = Build(args);
    ASSERT_FALSE(built.ok()) << expected;
    EXPECT_EQ(built.status().code(), absl::StatusCode::kInvalidArgument) << expected;
    EXPECT_NE(built.status().message().find(expected), std::string::npos)
        << built.status().message();
  }
}

}  // namespace
}  // namespace atman::client
