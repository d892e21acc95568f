#ifndef ATMAN_SERVER_SERVICE_EXPLAIN_REACTOR_H_
#define ATMAN_SERVER_SERVICE_EXPLAIN_REACTOR_H_

#include <memory>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "atman/v1/atman.pb.h"
#include "server/scheduler/cancellation.h"
#include "server/scheduler/scheduler.h"
#include "server/service/explainer_service.h"

namespace atman::service {

// One Explain call: validates the request, submits it to the scheduler and
// streams progress and the final explanation. Scheduler callbacks arrive on
// worker threads; at most one write is in flight, and progress messages
// that arrive while one is pending replace each other. Deletes itself when
// gRPC reports the call done.
class ExplainReactor final : public grpc::ServerWriteReactor<v1::ExplainResponse> {
 public:
  // Starts the call; `state` may be null while models load.
  ExplainReactor(grpc::CallbackServerContext* context, const v1::ExplainRequest* request,
                 const ServingState* state);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  absl::Status Start(const v1::ExplainRequest& request);
  absl::StatusOr<std::string> ResolveModel(const std::string& requested) const;
  void OnProgress(const scheduler::Progress& progress);
  void OnFinished(absl::StatusOr<scheduler::ScheduledResult> result);
  void FinishWithError(const absl::Status& status);
  // Starts the next write or the finish when no write is in flight.
  void Flush();

  grpc::CallbackServerContext* context_;
  const ServingState* state_;
  std::shared_ptr<scheduler::CancellationToken> cancellation_ =
      std::make_shared<scheduler::CancellationToken>();
  std::string model_;
  uint32_t max_new_tokens_ = 0;
  uint32_t batch_size_ = 0;
  // Set once the request reached the scheduler, which then counts its
  // outcome in the metrics, rejection included.
  bool submitted_ = false;

  absl::Mutex mutex_;
  bool writing_ ABSL_GUARDED_BY(mutex_) = false;
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
  std::optional<v1::ExplainResponse> pending_progress_ ABSL_GUARDED_BY(mutex_);
  std::optional<v1::ExplainResponse> final_response_ ABSL_GUARDED_BY(mutex_);
  std::optional<grpc::Status> final_status_ ABSL_GUARDED_BY(mutex_);
  // The message being written; gRPC needs it alive until OnWriteDone.
  v1::ExplainResponse in_flight_;
};

}  // namespace atman::service

#endif  // ATMAN_SERVER_SERVICE_EXPLAIN_REACTOR_H_
