#ifndef ATMAN_SERVER_SERVICE_STATUS_CONVERSION_H_
#define ATMAN_SERVER_SERVICE_STATUS_CONVERSION_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace atman::service {

// Converts an absl::Status to the grpc::Status sent to the client: the one
// place where the two meet. Codes map one to one; the message is kept.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace atman::service

#endif  // ATMAN_SERVER_SERVICE_STATUS_CONVERSION_H_
