// Turns the flags of `atman explain` into an ExplainRequest.
#ifndef ATMAN_CLIENT_EXPLAIN_REQUEST_H_
#define ATMAN_CLIENT_EXPLAIN_REQUEST_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "atman/v1/atman.pb.h"
#include "client/flags.h"

namespace atman::client {

// Flag values of `atman explain` that go into the request. An empty enum
// name leaves the field unspecified, so the server applies its default.
struct ExplainFlags {
  std::string prompt;
  std::string prompt_file;
  std::string prompt_ids;
  std::string target;
  std::string model;
  int64_t max_new_tokens = 0;
  std::string granularity;
  std::string delimiter;
  std::string control_mode;
  double control_factor = 0.1;
  double similarity_threshold = 0;
  bool scale_by_similarity = true;
  std::string target_granularity;
  std::string postprocessing;
  bool normalize = false;
  int64_t batch_size = 0;
};

// Registers the request flags on `flags`.
void AddExplainRequestFlags(FlagSet& flags, ExplainFlags* values);

// A request and the prompt text it carries (empty for token ids).
struct BuiltRequest {
  atman::v1::ExplainRequest request;
  std::string prompt_text;
};

// Builds the request. Optional fields are set only when `flags` saw their
// flag. Returns INVALID_ARGUMENT naming the flag and value when a value is
// invalid, when not exactly one prompt flag is given, or when --prompt_file
// cannot be read.
absl::StatusOr<BuiltRequest> BuildExplainRequest(const ExplainFlags& values, const FlagSet& flags);

// Parses "1,2,3" into token ids. An error names the bad element.
absl::StatusOr<atman::v1::TokenIds> ParseTokenIds(const std::string& text);

}  // namespace atman::client

#endif  // ATMAN_CLIENT_EXPLAIN_REQUEST_H_
