#ifndef ATMAN_SERVER_ENGINE_CAUSAL_LM_H_
#define ATMAN_SERVER_ENGINE_CAUSAL_LM_H_

// The transformer interface used by the explainer. This header includes
// LibTorch; code outside the engine uses explainer.h instead.

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/types.h"

namespace atman::engine {

// Keys and values of every layer for one sequence: tensors of shape
// [kv_heads, length, head_dim] on the model's device, in the model's dtype.
struct KvCache {
  std::vector<torch::Tensor> keys;
  std::vector<torch::Tensor> values;
  int64_t length = 0;
};

// One batched forward pass. Row b is the sequence input_ids[b, :lengths[b]].
// Positions [0, start) are not computed: their keys and values come from
// prefix[b], which must be a cache of the same sequence with length >= start
// (computed without suppression at those positions). Positions [start, T)
// are computed with the per-key modifiers applied in every layer and head.
struct ForwardBatch {
  // [B, T] int64 on any device; padding past a row's length is ignored.
  torch::Tensor input_ids;
  // Length of each row, each in (start, T].
  std::vector<int64_t> lengths;
  int64_t start = 0;
  // One entry per row when start > 0; rows may share a cache.
  std::vector<const KvCache*> prefix;
  // Optional, one entry per row, each >= start: keys and values of row b at
  // positions [start, row_starts[b]) are also taken from prefix[b] instead
  // of the computed ones, so a row's result does not depend on the batch's
  // common start.
  std::vector<int64_t> row_starts;
  // [B, T] float32: 1 = untouched key, below 1 suppresses, above amplifies.
  torch::Tensor modifiers;
  ControlMode mode = ControlMode::kMultiplicative;
  // [B, N] int64 absolute positions in [start, lengths[b]) whose logits are
  // returned; rows with fewer positions repeat a valid one.
  torch::Tensor logit_positions;
  // Computes logits at every computed position and gathers afterwards: the
  // slow path, kept to compare against the target-only projection.
  bool project_all_positions = false;
  // When set (B must be 1) it receives the keys and values of every
  // position of the row, the prefix included.
  KvCache* cache_out = nullptr;
};

// A causal language model resident on one device. Forward is const and may
// run from one thread at a time per instance (LibTorch ops are reentrant,
// but a replica is owned by one worker).
class CausalLm {
 public:
  virtual ~CausalLm() = default;

  // Returns float32 logits [B, N, vocab] at batch.logit_positions.
  virtual absl::StatusOr<torch::Tensor> Forward(const ForwardBatch& batch) const = 0;

  // Returns the float32 embedding-table rows [T, dim] of `ids` ([T] int64),
  // the vectors fed to the first layer.
  virtual torch::Tensor InputEmbeddings(const torch::Tensor& ids) const = 0;

  // Returns a copy of this model on `device` with weights in `dtype`.
  virtual absl::StatusOr<std::unique_ptr<CausalLm>> CopyTo(torch::Device device,
                                                          torch::Dtype dtype) const = 0;

  virtual const ModelInfo& info() const = 0;
  virtual torch::Device device() const = 0;
  virtual torch::Dtype dtype() const = 0;
};

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_CAUSAL_LM_H_
