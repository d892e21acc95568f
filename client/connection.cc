#include "client/connection.h"

#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace atman::client {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("failed to read --", flag, "=", path, ": the file is missing or unreadable"));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Returns the first line of the token file, without surrounding whitespace.
absl::StatusOr<std::string> ReadToken(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path, "token_file");
  if (!contents.ok()) return contents.status();

  const std::string first_line = contents->substr(0, contents->find('\n'));
  std::string token(absl::StripAsciiWhitespace(first_line));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --token_file=", path, ": its first line is empty; put the token there"));
  }
  return token;
}

absl::Status ValidateOptions(const ConnectionOptions& options) {
  if (options.server.empty()) {
    return absl::InvalidArgumentError("missing --server: pass host:port, e.g. 127.0.0.1:50051");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key must be given together for mutual TLS");
  }
  if (!options.tls_cert.empty() && options.tls_ca.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert needs --tls_ca, the root certificates that verify the server");
  }
  if (options.max_message_bytes <= 0 ||
      options.max_message_bytes > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --max_message_bytes=", options.max_message_bytes,
                     ": expected a size in bytes from 1 to ", std::numeric_limits<int>::max()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> CreateCredentials(
    const ConnectionOptions& options) {
  if (options.tls_ca.empty()) return grpc::InsecureChannelCredentials();

  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> root = ReadFile(options.tls_ca, "tls_ca");
  if (!root.ok()) return root.status();
  ssl.pem_root_certs = *root;

  if (!options.tls_cert.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(options.tls_cert, "tls_cert");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(options.tls_key, "tls_key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

void AddConnectionFlags(FlagSet& flags, ConnectionOptions* options) {
  flags.AddString("server", &options->server, "host:port of the atman server");
  flags.AddString("tls_ca", &options->tls_ca,
                  "PEM file of root certificates; when set, connect with TLS");
  flags.AddString("tls_cert", &options->tls_cert,
                  "PEM client certificate for mutual TLS (needs --tls_key and --tls_ca)");
  flags.AddString("tls_key", &options->tls_key, "PEM private key of --tls_cert");
  flags.AddString("token_file", &options->token_file,
                  "file whose first line is sent as `authorization: Bearer <token>`");
  flags.AddInt("max_message_bytes", &options->max_message_bytes,
               "max size of a sent or received gRPC message, in bytes");
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Create(const ConnectionOptions& options) {
  absl::Status valid = ValidateOptions(options);
  if (!valid.ok()) return valid;

  std::string authorization;
  if (!options.token_file.empty()) {
    absl::StatusOr<std::string> token = ReadToken(options.token_file);
    if (!token.ok()) return token.status();
    authorization = absl::StrCat("Bearer ", *token);
  }

  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      CreateCredentials(options);
  if (!credentials.ok()) return credentials.status();

  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  arguments.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  // A channel of its own connection, so each load generator worker really
  // opens one instead of sharing the process-wide subchannel pool.
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);

  auto channel = grpc::CreateCustomChannel(options.server, *credentials, arguments);
  return std::unique_ptr<Connection>(new Connection(std::move(channel), authorization));
}

void Connection::PrepareContext(grpc::ClientContext* context) const {
  if (!authorization_.empty()) context->AddMetadata("authorization", authorization_);
}

std::string StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return absl::StrCat("CODE_", static_cast<int>(code));
  }
}

}  // namespace atman::client
