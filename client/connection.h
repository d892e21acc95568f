// gRPC channel, credentials and per-call metadata shared by all subcommands.
#ifndef ATMAN_CLIENT_CONNECTION_H_
#define ATMAN_CLIENT_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/flags.h"

namespace atman::client {

struct ConnectionOptions {
  // host:port of the atman server.
  std::string server = "127.0.0.1:50051";
  // PEM file of the root certificates. When set, the channel uses TLS.
  std::string tls_ca;
  // PEM files of the client certificate and key for mutual TLS, both or neither.
  std::string tls_cert;
  std::string tls_key;
  // File whose first line is the bearer token sent with every call.
  std::string token_file;
  // Max size of a sent or received gRPC message, in bytes.
  int64_t max_message_bytes = 4 * 1024 * 1024;
};

// Registers --server, --tls_ca, --tls_cert, --tls_key, --token_file and
// --max_message_bytes.
void AddConnectionFlags(FlagSet& flags, ConnectionOptions* options);

// An open channel plus the metadata every call must carry. Thread-safe: the
// channel may be shared, and PrepareContext only reads.
class Connection {
 public:
  // Reads the credential files and creates the channel. Returns
  // INVALID_ARGUMENT when an option is invalid or a file cannot be read.
  // Connecting happens lazily on the first call.
  static absl::StatusOr<std::unique_ptr<Connection>> Create(const ConnectionOptions& options);

  // Adds the authorization metadata, if any, to a call's context.
  void PrepareContext(grpc::ClientContext* context) const;

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  Connection(std::shared_ptr<grpc::Channel> channel, std::string authorization)
      : channel_(std::move(channel)), authorization_(std::move(authorization)) {}

  std::shared_ptr<grpc::Channel> channel_;
  // "Bearer <token>", or empty when no token file was given. Never logged.
  std::string authorization_;
};

// Returns the name of a gRPC status code, e.g. "INVALID_ARGUMENT".
std::string StatusCodeName(grpc::StatusCode code);

}  // namespace atman::client

#endif  // ATMAN_CLIENT_CONNECTION_H_
