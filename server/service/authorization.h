#ifndef ATMAN_SERVER_SERVICE_AUTHORIZATION_H_
#define ATMAN_SERVER_SERVICE_AUTHORIZATION_H_

#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace atman::service {

// Bearer tokens accepted by the server. Immutable and thread-safe.
class TokenAuthorizer {
 public:
  // Reads one token per line; blank lines and lines starting with '#' are
  // skipped. An unreadable or empty file is an error.
  static absl::StatusOr<TokenAuthorizer> FromFile(const std::string& path);

  // OK when the call carries `authorization: Bearer <token>` with an
  // accepted token; UNAUTHENTICATED otherwise. The token is never logged.
  absl::Status Check(const grpc::CallbackServerContext& context) const;

 private:
  std::vector<std::string> tokens_;
};

}  // namespace atman::service

#endif  // ATMAN_SERVER_SERVICE_AUTHORIZATION_H_
