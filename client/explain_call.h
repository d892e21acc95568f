// One Explain RPC read to the end of its stream, for `explain` and `bench`.
#ifndef ATMAN_CLIENT_EXPLAIN_CALL_H_
#define ATMAN_CLIENT_EXPLAIN_CALL_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <optional>

#include "atman/v1/atman.grpc.pb.h"
#include "client/connection.h"

namespace atman::client {

using ProgressCallback = std::function<void(const atman::v1::Progress&)>;

// Sends `request`, calls `on_progress` (when set) for each progress message
// and stores the final message in `response`. Returns the RPC status, or
// INTERNAL when the stream ended OK without an explanation. `deadline`, when
// set, becomes the gRPC deadline of the call. Blocks until the stream ends.
grpc::Status CallExplain(const Connection& connection, atman::v1::Explainer::Stub& stub,
                         const atman::v1::ExplainRequest& request,
                         std::optional<std::chrono::system_clock::time_point> deadline,
                         const ProgressCallback& on_progress, atman::v1::ExplainResponse* response);

}  // namespace atman::client

#endif  // ATMAN_CLIENT_EXPLAIN_CALL_H_
