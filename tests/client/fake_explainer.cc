#include "tests/client/fake_explainer.h"

#include "absl/strings/str_cat.h"

namespace atman::client::testing {

grpc::Status FakeExplainer::CheckToken(const grpc::ServerContext& context) const {
  if (token_.empty()) return grpc::Status::OK;

  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end() ||
      std::string(it->second.data(), it->second.size()) != absl::StrCat("Bearer ", token_)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong bearer token");
  }
  return grpc::Status::OK;
}

grpc::Status FakeExplainer::Explain(grpc::ServerContext* context,
                                    const atman::v1::ExplainRequest* request,
                                    grpc::ServerWriter<atman::v1::ExplainResponse>* writer) {
  grpc::Status status = CheckToken(*context);
  if (!status.ok()) return status;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(*request);
  }
  if (request->model() == "missing") {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "model 'missing' is not loaded");
  }

  atman::v1::ExplainResponse response;
  for (uint32_t done = 1; done <= 2; ++done) {
    response.mutable_progress()->set_units_done(done);
    response.mutable_progress()->set_units_total(2);
    writer->Write(response);
  }

  atman::v1::Explanation* explanation = response.mutable_explanation();
  explanation->set_model("fake");
  explanation->set_target(request->target());
  atman::v1::Span* span = explanation->add_explanations()->add_spans();
  span->set_text(request->prompt().text());
  span->set_score(1.0);
  writer->Write(response);
  return grpc::Status::OK;
}

grpc::Status FakeExplainer::ListModels(grpc::ServerContext* context,
                                       const atman::v1::ListModelsRequest*,
                                       atman::v1::ListModelsResponse* response) {
  grpc::Status status = CheckToken(*context);
  if (!status.ok()) return status;

  response->add_models()->set_name("fake");
  return grpc::Status::OK;
}

std::vector<atman::v1::ExplainRequest> FakeExplainer::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

FakeServer::FakeServer(grpc::Service* service) {
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service);
  server_ = builder.BuildAndStart();
  address_ = absl::StrCat("127.0.0.1:", port);
}

FakeServer::~FakeServer() { server_->Shutdown(); }

}  // namespace atman::client::testing
