#include "client/render_models.h"

#include <gtest/gtest.h>

#include <string>

namespace atman::client {
namespace {

TEST(RenderModelsTableTest, ListsEveryColumn) {
  atman::v1::ListModelsResponse response;
  atman::v1::ModelDescription* model = response.add_models();
  model->set_name("stories15M");
  model->set_version("3");
  model->set_architecture("llama");
  model->set_context_length(256);
  model->set_vocab_size(32000);
  model->set_parameters(15'200'000);
  model->set_dtype("float32");
  model->add_devices("cpu:0");
  model->add_devices("cpu:1");
  model->set_is_default(true);
  response.add_models()->set_name("other");

  const std::string table = RenderModelsTable(response);

  EXPECT_EQ(table.rfind("default  name", 0), 0u) << table;
  for (const std::string text :
       {"stories15M", "llama", "256", "32000", "15.2M", "float32", "cpu:0,cpu:1", "other"}) {
    EXPECT_NE(table.find(text), std::string::npos) << text;
  }
  EXPECT_NE(table.find("\n*        stories15M"), std::string::npos) << table;
}

TEST(RenderModelsTableTest, EmptyList) {
  EXPECT_EQ(RenderModelsTable(atman::v1::ListModelsResponse()), "No models are loaded.\n");
}

TEST(FormatParameterCountTest, Units) {
  EXPECT_EQ(FormatParameterCount(512), "512");
  EXPECT_EQ(FormatParameterCount(15'200'000), "15.2M");
  EXPECT_EQ(FormatParameterCount(6'740'000'000), "6.74B");
}

}  // namespace
}  // namespace atman::client
