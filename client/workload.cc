#include "client/workload.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace atman::client {
namespace {

constexpr std::array<const char*, 96> kWords = {
    "once",   "upon",  "a",      "time",  "there",  "was",     "little", "girl",    "boy",
    "who",    "lived", "in",     "the",   "forest", "with",    "her",    "his",     "mother",
    "father", "and",   "dog",    "cat",   "one",    "day",     "she",    "he",      "went",
    "to",     "find",  "big",    "red",   "ball",   "tree",    "house",  "near",    "river",
    "saw",    "bird",  "sing",   "song",  "happy",  "sad",     "friend", "play",    "garden",
    "sun",    "moon",  "star",   "night", "sleep",  "bed",     "dream",  "rabbit",  "fox",
    "bear",   "honey", "cake",   "apple", "school", "teacher", "book",   "story",   "said",
    "asked",  "hello", "jumped", "ran",   "walked", "looked",  "smiled", "laughed", "cried",
    "gave",   "took",  "small",  "kind",  "brave",  "clever",  "funny",  "quiet",   "warm",
    "cold",   "rain",  "snow",   "hill",  "boat",   "sea",     "fish",   "under",   "over",
    "after",  "then",  "home",   "toy",   "blue",   "green"};

// Steps the SplitMix64 generator, whose output is fixed by its definition,
// unlike the std:: distributions.
uint64_t NextRandom(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

absl::StatusOr<atman::v1::Granularity> ParseMixGranularity(const std::string& text) {
  const std::string name = absl::AsciiStrToLower(text);
  if (name == "token") return atman::v1::TOKEN;
  if (name == "word") return atman::v1::WORD;
  if (name == "sentence") return atman::v1::SENTENCE;
  if (name == "paragraph") return atman::v1::PARAGRAPH;
  return absl::InvalidArgumentError(
      absl::StrCat("granularity '", text, "' is not token, word, sentence or paragraph"));
}

absl::Status ParsePositive(const std::string& text, const char* field_name, int* value) {
  if (!absl::SimpleAtoi(text, value) || *value <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field_name, " '", text, "' is not a positive integer"));
  }
  return absl::OkStatus();
}

absl::StatusOr<MixEntry> ParseMixEntry(const std::string& entry) {
  const std::vector<std::string> parts = absl::StrSplit(entry, ':');
  if (parts.size() != 2 && parts.size() != 3) {
    return absl::InvalidArgumentError("expected WORDS:GRANULARITY or WORDS:GRANULARITY:WEIGHT");
  }

  MixEntry parsed;
  absl::Status status = ParsePositive(parts[0], "word count", &parsed.words);
  if (!status.ok()) return status;

  absl::StatusOr<atman::v1::Granularity> granularity = ParseMixGranularity(parts[1]);
  if (!granularity.ok()) return granularity.status();
  parsed.granularity = *granularity;

  if (parts.size() == 3) {
    status = ParsePositive(parts[2], "weight", &parsed.weight);
    if (!status.ok()) return status;
  }
  return parsed;
}

std::string Capitalize(std::string word) {
  word[0] = absl::ascii_toupper(static_cast<unsigned char>(word[0]));
  return word;
}

}  // namespace

absl::StatusOr<std::vector<MixEntry>> ParseMix(const std::string& spec) {
  if (spec.empty()) {
    return absl::InvalidArgumentError(
        "empty --mix: pass WORDS:GRANULARITY:WEIGHT entries, e.g. 16:token:3,64:word:1");
  }

  std::vector<MixEntry> mix;
  const std::vector<std::string> entries = absl::StrSplit(spec, ',');
  for (const std::string& entry : entries) {
    absl::StatusOr<MixEntry> parsed = ParseMixEntry(entry);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid --mix entry '", entry,
                                                     "': ", parsed.status().message(),
                                                     "; e.g. --mix=16:token:3,64:word:1"));
    }
    mix.push_back(*parsed);
  }
  return mix;
}

std::string FormatMix(const std::vector<MixEntry>& mix) {
  return absl::StrJoin(mix, ",", [](std::string* out, const MixEntry& entry) {
    absl::StrAppend(out, entry.words, ":",
                    absl::AsciiStrToLower(atman::v1::Granularity_Name(entry.granularity)), ":",
                    entry.weight);
  });
}

uint64_t MixSeed(uint64_t seed, uint64_t index) {
  uint64_t state = seed ^ (index * 0xD1B54A32D192ED03ULL);
  return NextRandom(state);
}

std::string GeneratePrompt(int words, uint64_t seed) {
  uint64_t state = seed;
  std::string prompt;
  int sentence_words_left = 0;
  int paragraph_sentences_left = 0;
  bool start_of_sentence = true;

  for (int i = 0; i < words; ++i) {
    if (sentence_words_left == 0) {
      sentence_words_left = 4 + static_cast<int>(NextRandom(state) % 8);
    }
    if (paragraph_sentences_left == 0) {
      paragraph_sentences_left = 3 + static_cast<int>(NextRandom(state) % 2);
    }

    const std::string word = kWords[NextRandom(state) % kWords.size()];
    if (!prompt.empty() && prompt.back() != '\n') prompt += ' ';
    prompt += start_of_sentence ? Capitalize(word) : word;
    start_of_sentence = false;

    const bool last_word = i + 1 == words;
    if (--sentence_words_left == 0 || last_word) {
      prompt += '.';
      start_of_sentence = true;
      if (--paragraph_sentences_left == 0 && !last_word) prompt += "\n\n";
    }
  }
  return prompt;
}

const MixEntry& ChooseMixEntry(const std::vector<MixEntry>& mix, uint64_t seed) {
  uint64_t total = 0;
  for (const MixEntry& entry : mix) total += entry.weight;

  uint64_t state = seed;
  uint64_t pick = NextRandom(state) % total;
  for (const MixEntry& entry : mix) {
    if (pick < static_cast<uint64_t>(entry.weight)) return entry;
    pick -= entry.weight;
  }
  return mix.back();
}

}  // namespace atman::client
