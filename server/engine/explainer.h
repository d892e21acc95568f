#ifndef ATMAN_SERVER_ENGINE_EXPLAINER_H_
#define ATMAN_SERVER_ENGINE_EXPLAINER_H_

// The AtMan explainer: turns a request into perturbations, runs them on a
// model replica, and turns cross entropies into scores. This header does not
// include LibTorch, gRPC or protobuf.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/engine/types.h"

namespace atman::engine {

class CausalLm;
class Tokenizer;
struct KvCache;

// Exact speed-ups; switching one off never changes a score beyond rounding.
struct EngineOptions {
  // Reuse the baseline's keys and values before a pass's first suppressed
  // position instead of recomputing them.
  bool reuse_prefix = true;
  // Compute vocabulary logits only at positions that predict target tokens.
  bool project_targets_only = true;
};

// One forward pass of an explanation: unit `unit_index` suppressed.
struct Perturbation {
  int32_t unit_index = 0;
  // Smallest input position whose modifier is not 1.
  int32_t first_position = 0;
  // (input position, modifier) for every suppressed position, sorted.
  std::vector<std::pair<int32_t, float>> modifiers;
};

// Baseline keys and values of one request, per device, created on demand.
class BaselineCaches {
 public:
  BaselineCaches();
  ~BaselineCaches();

  // Stores the cache computed on `device`.
  void Put(const std::string& device, std::shared_ptr<const KvCache> cache);
  // Returns the cache for `device`, copying it from another device when
  // needed; nullptr when no cache exists yet.
  std::shared_ptr<const KvCache> Get(const std::string& device, const CausalLm& model);

 private:
  absl::Mutex mutex_;
  std::vector<std::pair<std::string, std::shared_ptr<const KvCache>>> caches_
      ABSL_GUARDED_BY(mutex_);
};

// A request after tokenization, target generation, unit cutting and the
// baseline pass. Immutable once Prepare returns, except for the caches.
struct PreparedExplanation {
  std::string model;
  std::string model_version;
  ExplainSettings settings;
  // Text the spans refer to: prompt text followed by target text.
  std::string prompt_text;
  std::string target_text;
  bool generated = false;
  // Prompt tokens with BOS first, then the target tokens.
  std::vector<TokenInfo> prompt_tokens;
  std::vector<TokenInfo> target_tokens;
  // BOS + prompt + target[:-1].
  std::vector<int32_t> input_ids;
  std::vector<int32_t> target_ids;
  std::vector<Unit> units;
  std::vector<Perturbation> perturbations;
  std::vector<double> baseline_cross_entropy;
  int64_t forward_passes = 0;
  std::shared_ptr<BaselineCaches> baseline_caches;

  int64_t prompt_length() const { return static_cast<int64_t>(prompt_tokens.size()); }
  int64_t sequence_length() const { return static_cast<int64_t>(input_ids.size()); }
};

// Cross entropies of one perturbation: one value per target token, in nats.
using CrossEntropies = std::vector<double>;

// Reference to one perturbation of a prepared request, for batching.
struct PerturbationRef {
  const PreparedExplanation* request = nullptr;
  int32_t index = 0;
};

// One model on one device. Not thread-safe: one worker uses it at a time.
class ModelReplica {
 public:
  // `info` names the model in results; empty = the model's own info.
  ModelReplica(std::string device_name, std::unique_ptr<CausalLm> model,
               std::shared_ptr<const Tokenizer> tokenizer, EngineOptions options,
               ModelInfo info = {});
  ~ModelReplica();

  // Tokenizes, generates the target when it is empty, cuts units, builds the
  // perturbations and runs the baseline pass on this replica.
  absl::StatusOr<std::shared_ptr<PreparedExplanation>> Prepare(const ExplainInput& input) const;

  // Runs perturbations of one or more prepared requests as one batch and
  // returns their cross entropies in the order given.
  absl::StatusOr<std::vector<CrossEntropies>> RunPerturbations(
      const std::vector<PerturbationRef>& batch) const;

  // Returns the greedy continuation ids of `ids` (BOS included), stopping at
  // EOS (not included) or after max_new_tokens.
  absl::StatusOr<std::vector<int32_t>> Generate(const std::vector<int32_t>& ids,
                                                int64_t max_new_tokens) const;

  const std::string& device_name() const { return device_name_; }
  const ModelInfo& info() const { return info_; }
  const CausalLm& model() const { return *model_; }

 private:
  absl::Status RunBaseline(PreparedExplanation& prepared) const;
  absl::StatusOr<std::vector<CrossEntropies>> RunPerModeGroups(
      const std::vector<PerturbationRef>& batch) const;
  absl::StatusOr<std::vector<CrossEntropies>> RunSingleMode(
      const std::vector<PerturbationRef>& batch) const;

  std::string device_name_;
  std::unique_ptr<CausalLm> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  EngineOptions options_;
  ModelInfo info_;
};

// Checks a request against the model without running it: settings, lengths,
// token ids. Returns INVALID_ARGUMENT or OUT_OF_RANGE naming the field.
absl::Status ValidateInput(const ExplainInput& input, const ModelInfo& info,
                           const Tokenizer& tokenizer);

// Estimated peak bytes of one forward batch of `batch_size` rows of
// `sequence_length` tokens on `info`'s model, in float32.
int64_t EstimateBatchBytes(const ModelInfo& info, int64_t sequence_length, int64_t batch_size);

// Combines the cross entropies of every perturbation (indexed like
// prepared.perturbations) into the final scores with post-processing.
absl::StatusOr<ExplainResult> Finalize(const PreparedExplanation& prepared,
                                       const std::vector<CrossEntropies>& perturbed);

// Runs a whole explanation on one replica in batches of `batch_size`.
absl::StatusOr<ExplainResult> ExplainOnReplica(const ModelReplica& replica,
                                               const ExplainInput& input, int batch_size);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_EXPLAINER_H_
