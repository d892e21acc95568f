// ModelReplica::RunPerturbations and the single-replica explanation loop.

#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/engine/causal_lm.h"
#include "server/engine/explainer.h"
#include "server/engine/status_macros.h"

namespace atman::engine {
namespace {

struct BatchShape {
  int64_t rows = 0;
  int64_t length = 0;
  int64_t targets = 0;
  int64_t start = std::numeric_limits<int64_t>::max();
};

BatchShape ShapeOf(const std::vector<PerturbationRef>& batch, bool reuse_prefix) {
  BatchShape shape;
  shape.rows = static_cast<int64_t>(batch.size());
  for (const PerturbationRef& ref : batch) {
    const PreparedExplanation& request = *ref.request;
    shape.length = std::max(shape.length, request.sequence_length());
    shape.targets = std::max(shape.targets, static_cast<int64_t>(request.target_ids.size()));
    shape.start = std::min<int64_t>(shape.start, request.perturbations[ref.index].first_position);
  }
  if (!reuse_prefix) shape.start = 0;
  return shape;
}

// Fills ids, modifiers, lengths and logit positions of every row.
void FillRows(const std::vector<PerturbationRef>& batch, const BatchShape& shape,
              ForwardBatch& forward, torch::Tensor& targets) {
  auto ids = torch::zeros({shape.rows, shape.length}, torch::kLong);
  auto modifiers = torch::ones({shape.rows, shape.length}, torch::kFloat32);
  auto positions = torch::zeros({shape.rows, shape.targets}, torch::kLong);
  targets = torch::zeros({shape.rows, shape.targets}, torch::kLong);
  auto ids_a = ids.accessor<int64_t, 2>();
  auto modifiers_a = modifiers.accessor<float, 2>();
  auto positions_a = positions.accessor<int64_t, 2>();
  auto targets_a = targets.accessor<int64_t, 2>();

  for (int64_t b = 0; b < shape.rows; ++b) {
    const PreparedExplanation& request = *batch[b].request;
    const Perturbation& perturbation = request.perturbations[batch[b].index];
    for (int64_t i = 0; i < request.sequence_length(); ++i) ids_a[b][i] = request.input_ids[i];
    for (const auto& [position, value] : perturbation.modifiers) modifiers_a[b][position] = value;

    const auto count = static_cast<int64_t>(request.target_ids.size());
    for (int64_t t = 0; t < shape.targets; ++t) {
      const int64_t clamped = std::min(t, count - 1);
      positions_a[b][t] = request.prompt_length() - 1 + clamped;
      targets_a[b][t] = request.target_ids[clamped];
    }
    forward.lengths.push_back(request.sequence_length());
  }
  forward.input_ids = ids;
  forward.modifiers = modifiers;
  forward.logit_positions = positions;
}

absl::Status CheckBatch(const std::vector<PerturbationRef>& batch) {
  if (batch.empty()) return absl::InvalidArgumentError("perturbation batch is empty");
  for (const PerturbationRef& ref : batch) {
    if (ref.request == nullptr || ref.index < 0 ||
        ref.index >= static_cast<int32_t>(ref.request->perturbations.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("perturbation index ", ref.index, " is out of range for its request"));
    }
  }
  return absl::OkStatus();
}

bool MixesControlModes(const std::vector<PerturbationRef>& batch) {
  for (const PerturbationRef& ref : batch) {
    if (ref.request->settings.control_mode != batch.front().request->settings.control_mode) {
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<CrossEntropies>> ModelReplica::RunPerturbations(
    const std::vector<PerturbationRef>& batch) const {
  RETURN_IF_ERROR(CheckBatch(batch));
  if (MixesControlModes(batch)) return RunPerModeGroups(batch);
  return RunSingleMode(batch);
}

// A forward pass applies one control mode, so a batch that packs requests of
// both modes runs as one pass per mode.
absl::StatusOr<std::vector<CrossEntropies>> ModelReplica::RunPerModeGroups(
    const std::vector<PerturbationRef>& batch) const {
  std::vector<CrossEntropies> results(batch.size());
  for (const ControlMode mode : {ControlMode::kMultiplicative, ControlMode::kLogAdditive}) {
    std::vector<PerturbationRef> group;
    std::vector<size_t> positions;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].request->settings.control_mode != mode) continue;
      group.push_back(batch[i]);
      positions.push_back(i);
    }
    if (group.empty()) continue;

    ASSIGN_OR_RETURN(std::vector<CrossEntropies> group_results, RunSingleMode(group));
    for (size_t i = 0; i < positions.size(); ++i) {
      results[positions[i]] = std::move(group_results[i]);
    }
  }
  return results;
}

absl::StatusOr<std::vector<CrossEntropies>> ModelReplica::RunSingleMode(
    const std::vector<PerturbationRef>& batch) const {
  const BatchShape shape = ShapeOf(batch, options_.reuse_prefix);

  ForwardBatch forward;
  forward.start = shape.start;
  forward.mode = batch.front().request->settings.control_mode;
  forward.project_all_positions = !options_.project_targets_only;
  std::vector<std::shared_ptr<const KvCache>> caches;
  if (shape.start > 0) {
    for (const PerturbationRef& ref : batch) {
      caches.push_back(ref.request->baseline_caches->Get(device_name_, *model_));
      if (caches.back() == nullptr) {
        return absl::FailedPreconditionError("perturbations ran before their baseline pass");
      }
      forward.prefix.push_back(caches.back().get());
      forward.row_starts.push_back(ref.request->perturbations[ref.index].first_position);
    }
  }
  torch::Tensor targets;
  FillRows(batch, shape, forward, targets);

  ASSIGN_OR_RETURN(const torch::Tensor logits, model_->Forward(forward));
  const auto wide = logits.to(torch::kFloat64);
  const auto ce = (torch::logsumexp(wide, -1) -
                   wide.gather(-1, targets.to(wide.device()).unsqueeze(-1)).squeeze(-1))
                      .to(torch::kCPU)
                      .contiguous();
  const auto ce_a = ce.accessor<double, 2>();

  std::vector<CrossEntropies> result(batch.size());
  for (size_t b = 0; b < batch.size(); ++b) {
    const size_t count = batch[b].request->target_ids.size();
    for (size_t t = 0; t < count; ++t) result[b].push_back(ce_a[b][t]);
  }
  return result;
}

absl::StatusOr<ExplainResult> ExplainOnReplica(const ModelReplica& replica,
                                               const ExplainInput& input, int batch_size) {
  if (batch_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size ", batch_size, " must be > 0"));
  }
  ASSIGN_OR_RETURN(const std::shared_ptr<PreparedExplanation> prepared, replica.Prepare(input));

  // Passes that start at the same position share a batch, so each batch
  // recomputes as few prefix positions as possible.
  std::vector<int32_t> order(prepared->perturbations.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return prepared->perturbations[a].first_position > prepared->perturbations[b].first_position;
  });

  std::vector<CrossEntropies> perturbed(order.size());
  for (size_t begin = 0; begin < order.size(); begin += batch_size) {
    const size_t end = std::min(order.size(), begin + batch_size);
    std::vector<PerturbationRef> batch;
    for (size_t i = begin; i < end; ++i) batch.push_back({prepared.get(), order[i]});

    ASSIGN_OR_RETURN(std::vector<CrossEntropies> results, replica.RunPerturbations(batch));
    for (size_t i = begin; i < end; ++i) perturbed[order[i]] = std::move(results[i - begin]);
  }
  return Finalize(*prepared, perturbed);
}

}  // namespace atman::engine
