#include "server/service/explainer_service.h"

#include "server/service/explain_reactor.h"
#include "server/service/request_conversion.h"
#include "server/service/status_conversion.h"

namespace atman::service {

grpc::ServerWriteReactor<v1::ExplainResponse>* ExplainerService::Explain(
    grpc::CallbackServerContext* context, const v1::ExplainRequest* request) {
  return new ExplainReactor(context, request, state_.load(std::memory_order_acquire));
}

grpc::ServerUnaryReactor* ExplainerService::ListModels(grpc::CallbackServerContext* context,
                                                       const v1::ListModelsRequest* /*request*/,
                                                       v1::ListModelsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const ServingState* state = state_.load(std::memory_order_acquire);
  if (state == nullptr) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "server is still loading models; retry when health is SERVING"));
    return reactor;
  }

  if (state->authorizer != nullptr) {
    const absl::Status authorized = state->authorizer->Check(*context);
    if (!authorized.ok()) {
      reactor->Finish(ToGrpcStatus(authorized));
      return reactor;
    }
  }
  for (const auto& [name, model] : *state->models) {
    FillModelDescription(model->info, model->devices, name == state->default_model,
                         response->add_models());
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace atman::service
