#include "server/scheduler/engine_backend.h"

#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/engine/status_macros.h"

namespace atman::scheduler {
namespace {

static_assert(std::is_same_v<CrossEntropies, engine::CrossEntropies>,
              "scheduler and engine cross entropies must have one type");

// A prepared request of the engine.
class EnginePreparedWork : public PreparedWork {
 public:
  explicit EnginePreparedWork(std::shared_ptr<engine::PreparedExplanation> prepared)
      : prepared_(std::move(prepared)) {}

  int64_t perturbation_count() const override {
    return static_cast<int64_t>(prepared_->perturbations.size());
  }
  int64_t sequence_length() const override { return prepared_->sequence_length(); }
  int64_t preparation_passes() const override { return prepared_->forward_passes; }

  const engine::PreparedExplanation& prepared() const { return *prepared_; }

 private:
  std::shared_ptr<engine::PreparedExplanation> prepared_;
};

absl::StatusOr<const EnginePreparedWork*> AsEngineWork(const PreparedWork* work) {
  const auto* engine_work = dynamic_cast<const EnginePreparedWork*>(work);
  if (engine_work == nullptr) {
    return absl::InternalError(
        "a prepared request given to the engine backend was not prepared "
        "by an engine backend");
  }
  return engine_work;
}

}  // namespace

EngineBackend::EngineBackend(const engine::ModelReplica* replica,
                             std::shared_ptr<const engine::Tokenizer> tokenizer)
    : replica_(replica), tokenizer_(std::move(tokenizer)) {}

const std::string& EngineBackend::device() const { return replica_->device_name(); }

absl::StatusOr<int64_t> EngineBackend::EstimateSequenceLength(
    const engine::ExplainInput& input) const {
  int64_t prompt_tokens = static_cast<int64_t>(input.prompt_token_ids.size());
  if (input.prompt_is_text) {
    ASSIGN_OR_RETURN(prompt_tokens, CountTokens(input.prompt_text));
  }

  int64_t target_tokens = static_cast<int64_t>(input.max_new_tokens);
  if (!input.target.empty()) {
    ASSIGN_OR_RETURN(target_tokens, CountTokens(input.target));
  }

  // BOS + prompt + target - 1, plus one token of slack: the prompt and the
  // target are encoded apart here, and encoding them together can differ by
  // a token where they merge.
  return prompt_tokens + target_tokens + 1;
}

absl::StatusOr<int64_t> EngineBackend::CountTokens(absl::string_view text) const {
  ASSIGN_OR_RETURN(const std::vector<engine::EncodedToken> tokens, tokenizer_->Encode(text));
  return static_cast<int64_t>(tokens.size());
}

int64_t EngineBackend::EstimateBatchBytes(int64_t sequence_length, int64_t rows) const {
  return engine::EstimateBatchBytes(replica_->info(), sequence_length, rows);
}

absl::StatusOr<std::shared_ptr<PreparedWork>> EngineBackend::Prepare(
    const engine::ExplainInput& input) {
  ASSIGN_OR_RETURN(std::shared_ptr<engine::PreparedExplanation> prepared, replica_->Prepare(input));
  return std::make_shared<EnginePreparedWork>(std::move(prepared));
}

absl::StatusOr<std::vector<CrossEntropies>> EngineBackend::RunBatch(
    const std::vector<Slice>& slices) {
  batch_refs_.clear();
  for (const Slice& slice : slices) {
    ASSIGN_OR_RETURN(const EnginePreparedWork* work, AsEngineWork(slice.work));
    for (int64_t index = slice.begin; index < slice.end; ++index) {
      batch_refs_.push_back({&work->prepared(), static_cast<int32_t>(index)});
    }
  }
  return replica_->RunPerturbations(batch_refs_);
}

absl::StatusOr<engine::ExplainResult> EngineBackend::Finalize(
    const PreparedWork& work, const std::vector<CrossEntropies>& perturbed) const {
  ASSIGN_OR_RETURN(const EnginePreparedWork* engine_work, AsEngineWork(&work));
  return engine::Finalize(engine_work->prepared(), perturbed);
}

Scheduler::BackendsByModel MakeEngineBackends(
    const std::map<std::string, std::unique_ptr<engine::LoadedModel>>& models) {
  Scheduler::BackendsByModel backends;
  for (const auto& [name, model] : models) {
    std::vector<std::unique_ptr<Backend>>& replicas = backends[name];
    for (const std::unique_ptr<engine::ModelReplica>& replica : model->replicas) {
      replicas.push_back(std::make_unique<EngineBackend>(replica.get(), model->tokenizer));
    }
  }
  return backends;
}

}  // namespace atman::scheduler
