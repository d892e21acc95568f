// The GPT-2 byte-level BPE tokenizer against reference tokenizations of the
// genuine GPT-2 vocabulary and merges.

#include "server/engine/gpt2_bpe_tokenizer.h"

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/engine/hf/test_checkpoints.h"

namespace atman::engine {
namespace {

using ::atman::testing::Gpt2TinyDir;

const Tokenizer& Gpt2Tokenizer() {
  static const Tokenizer* const tokenizer = [] {
    auto loaded =
        LoadGpt2BpeTokenizer(Gpt2TinyDir() + "/vocab.json", Gpt2TinyDir() + "/merges.txt");
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return loaded.ok() ? std::move(loaded).value().release() : nullptr;
  }();
  return *tokenizer;
}

std::vector<int32_t> Ids(const std::vector<EncodedToken>& tokens) {
  std::vector<int32_t> ids;
  for (const EncodedToken& token : tokens) ids.push_back(token.id);
  return ids;
}

std::vector<std::string> Pieces(const std::string& text) {
  std::vector<std::string> pieces;
  for (const auto& [begin, end] : SplitGpt2Pretokens(text)) {
    pieces.push_back(text.substr(begin, end - begin));
  }
  return pieces;
}

// Checks that the token spans tile `text` in order and that decoding the ids
// gives `text` back.
void ExpectSpansCoverText(const Tokenizer& tokenizer, const std::string& text,
                          const std::vector<EncodedToken>& tokens) {
  size_t expected_begin = 0;
  for (const EncodedToken& token : tokens) {
    EXPECT_EQ(token.byte_begin, expected_begin) << "token " << token.id << " in '" << text << "'";
    EXPECT_GT(token.byte_end, token.byte_begin) << "token " << token.id << " in '" << text << "'";
    expected_begin = token.byte_end;
  }
  EXPECT_EQ(expected_begin, text.size()) << text;
  EXPECT_EQ(tokenizer.Decode(Ids(tokens)), text);
}

TEST(Gpt2BpeTokenizerTest, ReferenceTokenizations) {
  const Tokenizer& tokenizer = Gpt2Tokenizer();
  const auto reference = atman::testing::ReadJsonFile(Gpt2TinyDir() + "/reference.json");
  ASSERT_EQ(reference["tokenizations"].size(), 10u);

  for (const auto& entry : reference["tokenizations"]) {
    const std::string text = entry["text"].get<std::string>();
    auto tokens = tokenizer.Encode(text);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    EXPECT_EQ(Ids(*tokens), entry["ids"].get<std::vector<int32_t>>()) << "text: " << text;
    ExpectSpansCoverText(tokenizer, text, *tokens);
  }
}

TEST(Gpt2BpeTokenizerTest, ReferencePrompt) {
  const auto reference = atman::testing::ReadJsonFile(Gpt2TinyDir() + "/reference.json");
  auto tokens = Gpt2Tokenizer().Encode(reference["prompt"].get<std::string>());
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(Ids(*tokens), reference["ids"].get<std::vector<int32_t>>());
}

TEST(Gpt2BpeTokenizerTest, SpecialIdsAndVocabularySize) {
  const Tokenizer& tokenizer = Gpt2Tokenizer();
  EXPECT_EQ(tokenizer.bos_id(), 50256);
  EXPECT_EQ(tokenizer.eos_id(), 50256);
  EXPECT_EQ(tokenizer.vocab_size(), 50257);
  EXPECT_EQ(tokenizer.PieceText(50256), "<|endoftext|>");
  EXPECT_EQ(tokenizer.PieceText(995), " world");
}

TEST(Gpt2BpeTokenizerTest, ByteOffsetsOfMultibyteTokens) {
  // "é" is two bytes; 🦄 is four bytes split over three tokens.
  const std::string text = "caf\xC3\xA9 \xF0\x9F\xA6\x84";
  auto tokens = Gpt2Tokenizer().Encode(text);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ExpectSpansCoverText(Gpt2Tokenizer(), text, *tokens);
  ASSERT_GE(tokens->size(), 2u);
  EXPECT_EQ(tokens->back().byte_end, text.size());
}

TEST(Gpt2BpeTokenizerTest, PretokenizerWhitespaceRules) {
  EXPECT_EQ(Pieces("a  b"), (std::vector<std::string>{"a", " ", " b"}));
  EXPECT_EQ(Pieces("a \t b"), (std::vector<std::string>{"a", " \t", " b"}));
  EXPECT_EQ(Pieces("a\tb"), (std::vector<std::string>{"a", "\t", "b"}));
  EXPECT_EQ(Pieces("end   "), (std::vector<std::string>{"end", "   "}));
  EXPECT_EQ(Pieces("\r\nx"), (std::vector<std::string>{"\r", "\n", "x"}));
  EXPECT_EQ(Pieces(" "), (std::vector<std::string>{" "}));
  EXPECT_EQ(Pieces(""), (std::vector<std::string>{}));
}

TEST(Gpt2BpeTokenizerTest, PretokenizerClasses) {
  EXPECT_EQ(Pieces("it's they'll I'M"),
            (std::vector<std::string>{"it", "'s", " they", "'ll", " I", "'", "M"}));
  EXPECT_EQ(Pieces("abc123 45x"), (std::vector<std::string>{"abc", "123", " 45", "x"}));
  EXPECT_EQ(Pieces("hi!? (ok)"), (std::vector<std::string>{"hi", "!?", " (", "ok", ")"}));
  // U+00A0 is whitespace; U+200B (zero width space) is not.
  EXPECT_EQ(Pieces("a\xC2\xA0" "b"), (std::vector<std::string>{"a", "\xC2\xA0", "b"}));
  EXPECT_EQ(Pieces("a\xE2\x80\x8B" "b"),
            (std::vector<std::string>{"a", "\xE2\x80\x8B", "b"}));
  // Letters and numbers outside ASCII: Cyrillic, CJK, Arabic-Indic digits.
  EXPECT_EQ(Pieces("\xD0\xBC\xD0\xB8\xD1\x80 \xE6\x97\xA5\xD9\xA3"),
            (std::vector<std::string>{"\xD0\xBC\xD0\xB8\xD1\x80", " \xE6\x97\xA5", "\xD9\xA3"}));
}

TEST(Gpt2BpeTokenizerTest, InvalidUtf8IsEncodedByteForByte) {
  const std::string text = "ok\xFF\xC3";
  auto tokens = Gpt2Tokenizer().Encode(text);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  size_t covered = 0;
  for (const EncodedToken& token : *tokens) covered = token.byte_end;
  EXPECT_EQ(covered, text.size());
  // Decoding replaces each invalid byte with U+FFFD.
  EXPECT_EQ(Gpt2Tokenizer().Decode(Ids(*tokens)), "ok\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Gpt2BpeTokenizerTest, LongWhitespaceRun) {
  const std::string text = "a" + std::string(20000, ' ') + "b";
  auto tokens = Gpt2Tokenizer().Encode(text);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ExpectSpansCoverText(Gpt2Tokenizer(), text, *tokens);
}

TEST(Gpt2BpeTokenizerTest, RepeatedEncodeIsStable) {
  const std::string text = "repeat repeat repeat";
  auto first = Gpt2Tokenizer().Encode(text);
  auto second = Gpt2Tokenizer().Encode(text);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(Ids(*first), Ids(*second));
  EXPECT_EQ(Ids(*first), (std::vector<int32_t>{44754, 9585, 9585}));
}

TEST(Gpt2BpeTokenizerTest, ConcurrentEncodeMatchesSerial) {
  const auto reference = atman::testing::ReadJsonFile(Gpt2TinyDir() + "/reference.json");
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> expected;
  for (const auto& entry : reference["tokenizations"]) {
    texts.push_back(entry["text"].get<std::string>());
    expected.push_back(entry["ids"].get<std::vector<int32_t>>());
  }

  // Each thread encodes every text many times, in a different order, so the
  // shared piece cache is read and written concurrently.
  constexpr int kThreads = 4;
  std::vector<std::vector<std::vector<int32_t>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        results[t].assign(texts.size(), {});
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t index = (i + t) % texts.size();
          auto tokens = Gpt2Tokenizer().Encode(texts[index]);
          if (tokens.ok()) results[t][index] = Ids(*tokens);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int t = 0; t < kThreads; ++t) {
    for (size_t i = 0; i < texts.size(); ++i) {
      EXPECT_EQ(results[t][i], expected[i]) << "thread " << t << ", text: " << texts[i];
    }
  }
}

TEST(Gpt2BpeTokenizerTest, MissingVocabularyIsNotFound) {
  const std::string folder = atman::testing::MakeTempDir("bpe_missing");
  auto loaded = LoadGpt2BpeTokenizer(folder + "/vocab.json", Gpt2TinyDir() + "/merges.txt");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound) << loaded.status();
}

TEST(Gpt2BpeTokenizerTest, MalformedMergeLine) {
  const std::string folder = atman::testing::MakeTempDir("bpe_merges");
  std::ofstream(folder + "/merges.txt") << "#version: 0.2\nh e\nthree parts here\n";
  auto loaded = LoadGpt2BpeTokenizer(Gpt2TinyDir() + "/vocab.json", folder + "/merges.txt");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << loaded.status();
  EXPECT_NE(std::string(loaded.status().message()).find("line 3"), std::string::npos)
      << loaded.status();
}

TEST(Gpt2BpeTokenizerTest, VocabularyWithoutByteSymbols) {
  const std::string folder = atman::testing::MakeTempDir("bpe_vocab");
  std::ofstream(folder + "/vocab.json") << R"({"a": 0, "<|endoftext|>": 1})";
  std::ofstream(folder + "/merges.txt") << "#version: 0.2\n";
  auto loaded = LoadGpt2BpeTokenizer(folder + "/vocab.json", folder + "/merges.txt");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << loaded.status();
}

}  // namespace
}  // namespace atman::engine
