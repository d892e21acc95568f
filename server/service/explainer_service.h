#ifndef ATMAN_SERVER_SERVICE_EXPLAINER_SERVICE_H_
#define ATMAN_SERVER_SERVICE_EXPLAINER_SERVICE_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "atman/v1/atman.grpc.pb.h"
#include "server/engine/model_repository.h"
#include "server/scheduler/clock.h"
#include "server/scheduler/metrics.h"
#include "server/scheduler/scheduler.h"
#include "server/service/authorization.h"

namespace atman::service {

// Everything the handlers need once the models are loaded. Immutable after
// it is published, so handlers read it without locks.
struct ServingState {
  const std::map<std::string, std::unique_ptr<engine::LoadedModel>>* models = nullptr;
  std::string default_model;
  scheduler::Scheduler* scheduler = nullptr;
  scheduler::Metrics* metrics = nullptr;
  scheduler::Clock* clock = nullptr;
  // The server's batch size flag, reported in the effective settings.
  uint32_t batch_size = 0;
  // Null when the server accepts calls without a token.
  const TokenAuthorizer* authorizer = nullptr;
};

// The atman.v1.Explainer service on gRPC's callback API. Until a
// ServingState is published every call gets UNAVAILABLE.
//
// Thread-safe.
class ExplainerService final : public v1::Explainer::CallbackService {
 public:
  ExplainerService() = default;

  // Makes `state` visible to new calls. `state` must outlive the service.
  void Publish(const ServingState* state) { state_.store(state, std::memory_order_release); }

  grpc::ServerWriteReactor<v1::ExplainResponse>* Explain(
      grpc::CallbackServerContext* context, const v1::ExplainRequest* request) override;

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;

 private:
  std::atomic<const ServingState*> state_{nullptr};
};

}  // namespace atman::service

#endif  // ATMAN_SERVER_SERVICE_EXPLAINER_SERVICE_H_
