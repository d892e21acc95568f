// The request mix of `atman bench`: parsing --mix and generating prompts.
#ifndef ATMAN_CLIENT_WORKLOAD_H_
#define ATMAN_CLIENT_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "atman/v1/atman.pb.h"

namespace atman::client {

// One kind of request in the mix.
struct MixEntry {
  // Prompt length in words.
  int words = 0;
  atman::v1::Granularity granularity = atman::v1::TOKEN;
  // Relative frequency: the entry's probability is weight / sum of weights.
  int weight = 1;
};

// Parses "WORDS:GRANULARITY:WEIGHT[,...]", e.g. "16:token:3,64:word:1".
// The weight may be left out and is then 1. Granularity is token, word,
// sentence or paragraph. Custom is rejected because it needs a delimiter. Returns
// INVALID_ARGUMENT naming the bad entry and the part of it that is wrong.
absl::StatusOr<std::vector<MixEntry>> ParseMix(const std::string& spec);

// Returns the request mix as a spec string that ParseMix accepts.
std::string FormatMix(const std::vector<MixEntry>& mix);

// Returns a 64-bit seed derived from both inputs with the SplitMix64 finaliser.
uint64_t MixSeed(uint64_t seed, uint64_t index);

// Returns `words` words from a built-in list of children's-story words,
// formed into sentences of 4 to 11 words with a blank line after every 3 or 4
// sentences, so sentence and paragraph granularities see several units. The
// same `seed` always gives the same text on every platform.
std::string GeneratePrompt(int words, uint64_t seed);

// Picks an entry of a non-empty `mix` by weight, the same one for the same `seed`.
const MixEntry& ChooseMixEntry(const std::vector<MixEntry>& mix, uint64_t seed);

}  // namespace atman::client

#endif  // ATMAN_CLIENT_WORKLOAD_H_
