#ifndef ATMAN_SERVER_ENGINE_FORWARD_HELPERS_H_
#define ATMAN_SERVER_ENGINE_FORWARD_HELPERS_H_

// Steps of ForwardBatch handling that every CausalLm shares: input checks,
// prefix keys and values, cache output, and the logit projection.

#include <torch/torch.h>

#include <functional>
#include <string>

#include "server/engine/attention.h"
#include "server/engine/causal_lm.h"

namespace atman::engine {

struct ForwardState {
  // [B, T - start] ids of the computed positions.
  torch::Tensor computed_ids;
  // [B, T] float32 modifiers on the model's device.
  torch::Tensor modifiers;
  // [B, T] bool, false past each row's length.
  torch::Tensor key_valid;
  // [B, N] indices into the computed positions whose logits are returned.
  torch::Tensor logit_rows;
  // Built once per pass by the model from its head grouping.
  AttentionMask attention_mask;
};

// Moves the batch's tensors to `device` and derives masks and indices.
// Throws c10::Error on inconsistent shapes.
ForwardState PrepareForward(const ForwardBatch& batch, torch::Device device);

// Returns the state with the attention mask for `group` query heads per key
// head filled in.
ForwardState PrepareForward(const ForwardBatch& batch, torch::Device device, int64_t group);

// Prepends the cached keys (or values) of positions [0, start) of each row
// to `computed` ([B, KV, T - start, D]) and returns [B, KV, T, D].
torch::Tensor JoinPrefix(const ForwardBatch& batch, int64_t layer, bool values,
                         const torch::Tensor& computed);

// Stores a layer's keys and values ([1, KV, T, D]) in batch.cache_out, if set.
void StoreCache(const ForwardBatch& batch, int64_t layer, const torch::Tensor& keys,
                const torch::Tensor& values);

// Applies `project` (final norm and output projection, [.., dim] -> [.., V])
// at the logit positions only, or at every computed position when
// batch.project_all_positions is set. Returns float32 [B, N, V].
torch::Tensor ProjectLogits(const ForwardBatch& batch, const ForwardState& state,
                            const torch::Tensor& hidden,
                            const std::function<torch::Tensor(const torch::Tensor&)>& project);

std::string DtypeName(torch::Dtype dtype);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_FORWARD_HELPERS_H_
