#include "server/engine/request_tokens.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/engine/utf8.h"

namespace atman::engine {
namespace {

// A token with its span in bytes of the joined text.
struct ByteToken {
  int32_t id = 0;
  size_t begin = 0;
  size_t end = 0;
};

TokenInfo ToTokenInfo(const ByteToken& token, absl::string_view text,
                      const CodePointIndex& index) {
  TokenInfo info;
  info.id = token.id;
  const int32_t start = index.Floor(std::min(token.begin, text.size()));
  const int32_t end = std::max(start, index.Ceil(std::min(token.end, text.size())));
  info.start = start;
  info.length = end - start;
  const size_t byte_begin = index.ByteOffset(start);
  info.text = std::string(text.substr(byte_begin, index.ByteOffset(end) - byte_begin));
  return info;
}

// Byte spans of `ids` from the growth of the decoded text, id by id.
std::vector<ByteToken> SpansByDecoding(const Tokenizer& tokenizer,
                                       const std::vector<int32_t>& prefix,
                                       const std::vector<int32_t>& ids, size_t offset) {
  std::vector<int32_t> sequence = prefix;
  size_t previous = tokenizer.Decode(sequence).size();
  const size_t base = previous;
  std::vector<ByteToken> tokens;
  for (int32_t id : ids) {
    sequence.push_back(id);
    const size_t length = std::max(previous, tokenizer.Decode(sequence).size());
    tokens.push_back({id, offset + previous - base, offset + length - base});
    previous = length;
  }
  return tokens;
}

TokenInfo BosToken(const Tokenizer& tokenizer) {
  TokenInfo bos;
  bos.id = tokenizer.bos_id();
  return bos;
}

absl::Status CheckTokenIds(const std::vector<int32_t>& ids, const Tokenizer& tokenizer) {
  if (ids.empty()) {
    return absl::InvalidArgumentError(
        "prompt.token_ids is empty: send at least one token id to explain");
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= tokenizer.vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompt.token_ids[", i, "] = ", ids[i], " is outside the vocabulary; ids must be in [0, ",
          tokenizer.vocab_size(), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ByteToken>> EncodeBytes(const Tokenizer& tokenizer,
                                                   absl::string_view text) {
  auto encoded = tokenizer.Encode(text);
  if (!encoded.ok()) return encoded.status();
  std::vector<ByteToken> tokens;
  for (const EncodedToken& token : *encoded) {
    tokens.push_back({token.id, token.byte_begin, token.byte_end});
  }
  return tokens;
}

}  // namespace

absl::StatusOr<RequestTokens> TokenizeRequest(const ExplainInput& input,
                                              const Tokenizer& tokenizer) {
  RequestTokens result;
  std::vector<ByteToken> prompt;
  if (input.prompt_is_text) {
    if (input.prompt_text.empty()) {
      return absl::InvalidArgumentError(
          "prompt.text is empty: there is nothing to explain after BOS; send a non-empty prompt");
    }
    result.prompt_text = input.prompt_text;
  } else {
    const absl::Status ids_status = CheckTokenIds(input.prompt_token_ids, tokenizer);
    if (!ids_status.ok()) return ids_status;
    result.prompt_text = tokenizer.Decode(input.prompt_token_ids);
    prompt = SpansByDecoding(tokenizer, {}, input.prompt_token_ids, 0);
  }
  result.target_text = input.target;

  const std::string joined = result.prompt_text + result.target_text;
  std::vector<ByteToken> target;
  if (input.prompt_is_text || !input.target.empty()) {
    auto encoded = EncodeBytes(tokenizer, joined);
    if (!encoded.ok()) return encoded.status();
    const size_t prompt_bytes = result.prompt_text.size();
    const auto split = std::find_if(encoded->begin(), encoded->end(),
                                    [&](const ByteToken& t) { return t.end > prompt_bytes; });
    if (input.prompt_is_text) prompt.assign(encoded->begin(), split);
    target.assign(split, encoded->end());
  }

  const CodePointIndex index(joined);
  result.prompt_tokens.push_back(BosToken(tokenizer));
  for (const ByteToken& token : prompt) {
    result.prompt_tokens.push_back(ToTokenInfo(token, joined, index));
  }
  for (const ByteToken& token : target) {
    result.target_tokens.push_back(ToTokenInfo(token, joined, index));
  }
  if (result.prompt_tokens.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt '", result.prompt_text, "' has no tokens of its own once joined with the target; ",
        "send a longer prompt"));
  }
  return result;
}

void SetGeneratedTarget(const Tokenizer& tokenizer, const std::vector<int32_t>& generated,
                        RequestTokens& tokens) {
  std::vector<int32_t> prompt_ids;
  for (size_t i = 1; i < tokens.prompt_tokens.size(); ++i) {
    prompt_ids.push_back(tokens.prompt_tokens[i].id);
  }
  const std::string decoded_prompt = tokenizer.Decode(prompt_ids);
  std::vector<int32_t> all = prompt_ids;
  all.insert(all.end(), generated.begin(), generated.end());
  const std::string decoded = tokenizer.Decode(all);
  tokens.target_text =
      decoded.size() >= decoded_prompt.size() ? decoded.substr(decoded_prompt.size()) : decoded;

  const std::string joined = tokens.prompt_text + tokens.target_text;
  const CodePointIndex index(joined);
  for (const ByteToken& token :
       SpansByDecoding(tokenizer, prompt_ids, generated, tokens.prompt_text.size())) {
    tokens.target_tokens.push_back(ToTokenInfo(token, joined, index));
  }
}

}  // namespace atman::engine
