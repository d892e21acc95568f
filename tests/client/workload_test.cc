#include "client/workload.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "absl/strings/str_split.h"

namespace atman::client {
namespace {

TEST(ParseMixTest, ParsesEntries) {
  const absl::StatusOr<std::vector<MixEntry>> mix = ParseMix("16:token:3,64:word:1,8:Sentence");

  ASSERT_TRUE(mix.ok()) << mix.status();
  ASSERT_EQ(mix->size(), 3u);
  EXPECT_EQ((*mix)[0].words, 16);
  EXPECT_EQ((*mix)[0].granularity, atman::v1::TOKEN);
  EXPECT_EQ((*mix)[0].weight, 3);
  EXPECT_EQ((*mix)[1].granularity, atman::v1::WORD);
  EXPECT_EQ((*mix)[2].granularity, atman::v1::SENTENCE);
  EXPECT_EQ((*mix)[2].weight, 1);
}

TEST(ParseMixTest, BadSpecsNameTheBadPart) {
  const std::map<std::string, std::string> cases = {
      {"", "empty --mix"},
      {"16:token:3,x:word:1", "word count 'x'"},
      {"16:token:3,64:letter:1", "granularity 'letter'"},
      {"16:token:0", "weight '0'"},
      {"16:token:-2", "weight '-2'"},
      {"16:custom:1", "granularity 'custom'"},
      {"16", "entry '16'"},
      {"16:token:1:9", "entry '16:token:1:9'"},
      {"16:token:1,", "entry ''"},
      {"0:token:1", "word count '0'"},
  };
  for (const auto& [spec, expected] : cases) {
    const absl::StatusOr<std::vector<MixEntry>> mix = ParseMix(spec);
    ASSERT_FALSE(mix.ok()) << spec;
    EXPECT_EQ(mix.status().code(), absl::StatusCode::kInvalidArgument) << spec;
    EXPECT_NE(mix.status().message().find(expected), std::string::npos)
        << spec << " gave: " << mix.status().message();
  }
}

TEST(ParseMixTest, FormatRoundTrips) {
  const absl::StatusOr<std::vector<MixEntry>> mix = ParseMix("16:token:3,64:paragraph:1");
  ASSERT_TRUE(mix.ok());

  EXPECT_EQ(FormatMix(*mix), "16:token:3,64:paragraph:1");
}

TEST(GeneratePromptTest, SameSeedSameText) {
  EXPECT_EQ(GeneratePrompt(50, 42), GeneratePrompt(50, 42));
  EXPECT_NE(GeneratePrompt(50, 42), GeneratePrompt(50, 43));
}

TEST(GeneratePromptTest, FixedOutputForSeed) {
  // The text depends only on the seed, so runs on other machines send the
  // same prompts. Changing this text changes every benchmark's workload.
  EXPECT_EQ(GeneratePrompt(12, 7),
            "Ran kind school cold one red jumped sad play brave funny. Little.");
}

TEST(GeneratePromptTest, HasRequestedWordCount) {
  for (int words : {1, 16, 64, 200}) {
    const std::string prompt = GeneratePrompt(words, 5);
    const std::vector<std::string> parts =
        absl::StrSplit(prompt, absl::ByAnyChar(" \n"), absl::SkipEmpty());
    EXPECT_EQ(static_cast<int>(parts.size()), words) << prompt;
  }
}

TEST(GeneratePromptTest, LongPromptHasSentencesAndParagraphs) {
  const std::string prompt = GeneratePrompt(200, 9);

  EXPECT_NE(prompt.find(". "), std::string::npos);
  EXPECT_NE(prompt.find(".\n\n"), std::string::npos);
  EXPECT_EQ(prompt.find("  "), std::string::npos);
}

TEST(ChooseMixEntryTest, FollowsWeights) {
  const absl::StatusOr<std::vector<MixEntry>> mix = ParseMix("1:token:3,2:word:1");
  ASSERT_TRUE(mix.ok());

  int first = 0;
  for (uint64_t i = 0; i < 4000; ++i) {
    if (ChooseMixEntry(*mix, MixSeed(1, i)).words == 1) ++first;
  }
  EXPECT_GT(first, 2800);
  EXPECT_LT(first, 3200);
}

TEST(ChooseMixEntryTest, Deterministic) {
  const absl::StatusOr<std::vector<MixEntry>> mix = ParseMix("1:token:1,2:word:1,3:word:1");
  ASSERT_TRUE(mix.ok());

  for (uint64_t i = 0; i < 20; ++i) {
    EXPECT_EQ(ChooseMixEntry(*mix, MixSeed(3, i)).words, ChooseMixEntry(*mix, MixSeed(3, i)).words);
  }
}

}  // namespace
}  // namespace atman::client
