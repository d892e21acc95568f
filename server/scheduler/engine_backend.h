#ifndef ATMAN_SERVER_SCHEDULER_ENGINE_BACKEND_H_
#define ATMAN_SERVER_SCHEDULER_ENGINE_BACKEND_H_

// Backend implemented with the engine's ModelReplica. Kept apart from the
// scheduler core so that the core and its tests do not link LibTorch.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/explainer.h"
#include "server/engine/model_repository.h"
#include "server/engine/tokenizer.h"
#include "server/scheduler/backend.h"
#include "server/scheduler/scheduler.h"

namespace atman::scheduler {

// Runs one model on one device through an engine::ModelReplica.
//
// Thread-safety: as Backend. `replica` and `tokenizer` are shared with the
// other devices' backends and must outlive this object.
class EngineBackend : public Backend {
 public:
  EngineBackend(const engine::ModelReplica* replica,
                std::shared_ptr<const engine::Tokenizer> tokenizer);

  const std::string& device() const override;
  absl::StatusOr<int64_t> EstimateSequenceLength(const engine::ExplainInput& input) const override;
  int64_t EstimateBatchBytes(int64_t sequence_length, int64_t rows) const override;
  absl::StatusOr<std::shared_ptr<PreparedWork>> Prepare(const engine::ExplainInput& input) override;
  absl::StatusOr<std::vector<CrossEntropies>> RunBatch(const std::vector<Slice>& slices) override;
  absl::StatusOr<engine::ExplainResult> Finalize(
      const PreparedWork& work, const std::vector<CrossEntropies>& perturbed) const override;

 private:
  absl::StatusOr<int64_t> CountTokens(absl::string_view text) const;

  const engine::ModelReplica* replica_;
  std::shared_ptr<const engine::Tokenizer> tokenizer_;
  // Reused across batches so that a batch allocates no new buffer.
  std::vector<engine::PerturbationRef> batch_refs_;
};

// Creates one backend per replica of every model, in the order of the
// models' device lists. `models` must outlive the backends.
Scheduler::BackendsByModel MakeEngineBackends(
    const std::map<std::string, std::unique_ptr<engine::LoadedModel>>& models);

}  // namespace atman::scheduler

#endif  // ATMAN_SERVER_SCHEDULER_ENGINE_BACKEND_H_
