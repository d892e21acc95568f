#ifndef ATMAN_SERVER_ENGINE_REQUEST_TOKENS_H_
#define ATMAN_SERVER_ENGINE_REQUEST_TOKENS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/tokenizer.h"
#include "server/engine/types.h"

namespace atman::engine {

// The prompt and target of a request as token ids with their text spans.
struct RequestTokens {
  // The text spans refer to: prompt text followed by target text.
  std::string prompt_text;
  std::string target_text;
  // BOS first.
  std::vector<TokenInfo> prompt_tokens;
  std::vector<TokenInfo> target_tokens;
};

// Tokenizes prompt and target jointly: target tokens are the tokens whose
// byte span ends after the prompt. Token-id prompts keep their ids, and
// their text is the tokenizer's decoding. An empty target yields no target
// tokens. Returns INVALID_ARGUMENT for an empty prompt or bad ids.
absl::StatusOr<RequestTokens> TokenizeRequest(const ExplainInput& input,
                                              const Tokenizer& tokenizer);

// Appends generated ids to `tokens` as the target, with spans from
// incremental decoding.
void SetGeneratedTarget(const Tokenizer& tokenizer, const std::vector<int32_t>& generated,
                        RequestTokens& tokens);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_REQUEST_TOKENS_H_
