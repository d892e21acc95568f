#include "client/explain_call.h"

#include <memory>

namespace atman::client {

grpc::Status CallExplain(const Connection& connection, atman::v1::Explainer::Stub& stub,
                         const atman::v1::ExplainRequest& request,
                         std::optional<std::chrono::system_clock::time_point> deadline,
                         const ProgressCallback& on_progress,
                         atman::v1::ExplainResponse* response) {
  grpc::ClientContext context;
  connection.PrepareContext(&context);
  if (deadline.has_value()) context.set_deadline(*deadline);

  std::unique_ptr<grpc::ClientReader<atman::v1::ExplainResponse>> reader =
      stub.Explain(&context, request);
  atman::v1::ExplainResponse message;
  bool has_explanation = false;
  while (reader->Read(&message)) {
    if (message.has_progress() && on_progress) on_progress(message.progress());
    if (message.has_explanation()) {
      *response = message;
      has_explanation = true;
    }
  }

  grpc::Status status = reader->Finish();
  if (status.ok() && !has_explanation) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        "the server ended the Explain stream without an explanation message");
  }
  return status;
}

}  // namespace atman::client
