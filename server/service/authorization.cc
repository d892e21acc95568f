#include "server/service/authorization.h"

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace atman::service {
namespace {

// Compares in time that depends only on the lengths, not on where the
// strings first differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return difference == 0;
}

}  // namespace

absl::StatusOr<TokenAuthorizer> TokenAuthorizer::FromFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("cannot read the auth token file '", path, "'"));
  }
  TokenAuthorizer authorizer;
  std::string line;
  while (std::getline(file, line)) {
    const absl::string_view token = absl::StripAsciiWhitespace(line);
    if (token.empty() || absl::StartsWith(token, "#")) continue;
    authorizer.tokens_.emplace_back(token);
  }
  if (authorizer.tokens_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("auth token file '", path, "' has no token; put one token per line"));
  }
  return authorizer;
}

absl::Status TokenAuthorizer::Check(const grpc::CallbackServerContext& context) const {
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find("authorization");
  if (found == metadata.end()) {
    return absl::UnauthenticatedError(
        "missing 'authorization' metadata; send 'authorization: Bearer <token>'");
  }
  absl::string_view value(found->second.data(), found->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ")) {
    return absl::UnauthenticatedError(
        "'authorization' metadata is not a bearer token; send 'authorization: Bearer <token>'");
  }
  for (const std::string& token : tokens_) {
    if (ConstantTimeEquals(value, token)) return absl::OkStatus();
  }
  return absl::UnauthenticatedError("bearer token is not accepted; check the token file");
}

}  // namespace atman::service
