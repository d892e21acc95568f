#include "server/service/explain_reactor.h"

#include <chrono>
#include <utility>

#include <glog/logging.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "server/engine/explainer.h"
#include "server/service/request_conversion.h"
#include "server/service/status_conversion.h"

namespace atman::service {
namespace {

// gRPC reports "no deadline" as a time point far in the future.
absl::Time DeadlineOf(const grpc::CallbackServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline >= std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 10)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

}  // namespace

ExplainReactor::ExplainReactor(grpc::CallbackServerContext* context,
                               const v1::ExplainRequest* request, const ServingState* state)
    : context_(context), state_(state) {
  const absl::Status status = Start(*request);
  if (status.ok()) return;

  VLOG(1) << "Rejected Explain for model \"" << request->model() << "\": " << status;
  if (state_ != nullptr && !submitted_) state_->metrics->RecordRejected(model_, status.code());
  FinishWithError(status);
}

absl::StatusOr<std::string> ExplainReactor::ResolveModel(const std::string& requested) const {
  const std::string name = requested.empty() ? state_->default_model : requested;
  if (state_->models->count(name) > 0) return name;

  std::vector<std::string> loaded;
  for (const auto& [model_name, model] : *state_->models) loaded.push_back(model_name);
  return absl::NotFoundError(absl::StrCat("model '", name, "' is not loaded; loaded models: ",
                                          absl::StrJoin(loaded, ", "),
                                          " (empty model = default '", state_->default_model,
                                          "')"));
}

absl::Status ExplainReactor::Start(const v1::ExplainRequest& request) {
  if (state_ == nullptr) {
    return absl::UnavailableError("server is still loading models; retry when health is SERVING");
  }
  if (state_->authorizer != nullptr) {
    const absl::Status authorized = state_->authorizer->Check(*context_);
    if (!authorized.ok()) return authorized;
  }
  if (state_->scheduler->draining()) {
    return absl::UnavailableError("server is draining; send the request to another replica");
  }
  absl::StatusOr<std::string> model = ResolveModel(request.model());
  if (!model.ok()) return model.status();
  model_ = *model;

  absl::StatusOr<engine::ExplainInput> input = ToExplainInput(request);
  if (!input.ok()) return input.status();
  const engine::LoadedModel& loaded = *state_->models->at(model_);
  const absl::Status valid = engine::ValidateInput(*input, loaded.info, *loaded.tokenizer);
  if (!valid.ok()) return valid;

  max_new_tokens_ = request.max_new_tokens();
  batch_size_ = request.batch_size() > 0 ? request.batch_size() : state_->batch_size;
  VLOG(1) << "Explain for model \"" << model_ << "\" from " << context_->peer();

  scheduler::Submission submission;
  submission.model = model_;
  submission.input = *std::move(input);
  submission.deadline = DeadlineOf(*context_);
  submission.cancellation = cancellation_;
  submission.batch_size = request.batch_size();
  submission.on_progress = [this](const scheduler::Progress& progress) { OnProgress(progress); };
  submission.on_done = [this](absl::StatusOr<scheduler::ScheduledResult> result) {
    OnFinished(std::move(result));
  };
  submitted_ = true;
  return state_->scheduler->Submit(std::move(submission));
}

void ExplainReactor::OnProgress(const scheduler::Progress& progress) {
  v1::ExplainResponse response;
  response.mutable_progress()->set_units_done(static_cast<uint32_t>(progress.units_done));
  response.mutable_progress()->set_units_total(static_cast<uint32_t>(progress.units_total));
  {
    absl::MutexLock lock(&mutex_);
    pending_progress_ = std::move(response);
  }
  Flush();
}

void ExplainReactor::OnFinished(absl::StatusOr<scheduler::ScheduledResult> result) {
  if (!result.ok()) {
    VLOG(1) << "Explain for model \"" << model_ << "\" ended: " << result.status();
    FinishWithError(result.status());
    return;
  }

  v1::ExplainResponse response;
  v1::Explanation* explanation = response.mutable_explanation();
  FillExplanation(result->result, explanation);
  *explanation->mutable_settings() =
      ToEffectiveSettings(result->result.settings, max_new_tokens_, batch_size_);
  explanation->mutable_timing()->set_queue_ms(absl::ToDoubleMilliseconds(result->queue_time));
  explanation->mutable_timing()->set_compute_ms(absl::ToDoubleMilliseconds(result->compute_time));
  // Perturbation passes count once each, however they were batched.
  explanation->mutable_timing()->set_forward_passes(result->result.forward_passes);
  {
    absl::MutexLock lock(&mutex_);
    final_response_ = std::move(response);
  }
  Flush();
}

void ExplainReactor::FinishWithError(const absl::Status& status) {
  {
    absl::MutexLock lock(&mutex_);
    final_status_ = ToGrpcStatus(status);
  }
  Flush();
}

void ExplainReactor::Flush() {
  enum class Action { kNone, kWrite, kWriteAndFinish, kFinish };
  Action action = Action::kNone;
  grpc::Status status;
  {
    absl::MutexLock lock(&mutex_);
    if (writing_ || finished_) return;
    if (final_status_.has_value()) {
      finished_ = true;
      status = *final_status_;
      action = Action::kFinish;
    } else if (pending_progress_.has_value()) {
      in_flight_ = std::move(*pending_progress_);
      pending_progress_.reset();
      writing_ = true;
      action = Action::kWrite;
    } else if (final_response_.has_value()) {
      in_flight_ = std::move(*final_response_);
      final_response_.reset();
      finished_ = true;
      action = Action::kWriteAndFinish;
    }
  }

  // gRPC calls are made without the mutex, because a reaction may run on
  // another thread at once and take it.
  switch (action) {
    case Action::kWrite:
      StartWrite(&in_flight_);
      break;
    case Action::kWriteAndFinish:
      StartWriteAndFinish(&in_flight_, grpc::WriteOptions(), grpc::Status::OK);
      break;
    case Action::kFinish:
      Finish(status);
      break;
    case Action::kNone:
      break;
  }
}

void ExplainReactor::OnWriteDone(bool ok) {
  if (!ok) cancellation_->Cancel();
  {
    absl::MutexLock lock(&mutex_);
    writing_ = false;
  }
  Flush();
}

void ExplainReactor::OnCancel() {
  VLOG(1) << "Client cancelled Explain for model \"" << model_ << "\"";
  cancellation_->Cancel();
}

void ExplainReactor::OnDone() { delete this; }

}  // namespace atman::service
