// An in-process Explainer server on 127.0.0.1 for client tests.
#ifndef ATMAN_TESTS_CLIENT_FAKE_EXPLAINER_H_
#define ATMAN_TESTS_CLIENT_FAKE_EXPLAINER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "atman/v1/atman.grpc.pb.h"

namespace atman::client::testing {

// Responds to Explain with two progress messages and an explanation of one span
// per request, or NOT_FOUND for the model "missing". With a token set, calls
// without `authorization: Bearer <token>` get UNAUTHENTICATED. Thread-safe.
class FakeExplainer final : public atman::v1::Explainer::Service {
 public:
  explicit FakeExplainer(std::string token = "") : token_(std::move(token)) {}

  grpc::Status Explain(grpc::ServerContext* context, const atman::v1::ExplainRequest* request,
                       grpc::ServerWriter<atman::v1::ExplainResponse>* writer) override;
  grpc::Status ListModels(grpc::ServerContext* context, const atman::v1::ListModelsRequest*,
                          atman::v1::ListModelsResponse* response) override;

  // Returns the Explain requests received so far.
  std::vector<atman::v1::ExplainRequest> requests() const;

 private:
  grpc::Status CheckToken(const grpc::ServerContext& context) const;

  const std::string token_;
  mutable std::mutex mutex_;
  std::vector<atman::v1::ExplainRequest> requests_;
};

// Runs `service` on an unused port of 127.0.0.1 until destroyed.
class FakeServer {
 public:
  explicit FakeServer(grpc::Service* service);
  ~FakeServer();

  // host:port of the server.
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace atman::client::testing

#endif  // ATMAN_TESTS_CLIENT_FAKE_EXPLAINER_H_
