#ifndef ATMAN_SERVER_ENGINE_ATTENTION_H_
#define ATMAN_SERVER_ENGINE_ATTENTION_H_

#include <torch/torch.h>

#include <cstdint>

#include "server/engine/types.h"

namespace atman::engine {

// Keys that each query row of ModifiedAttention ignores.
struct AttentionMask {
  // [B or 1, 1, G * Tq, Tk] bool: true where a key is in the future of the
  // query row or is padding. Rows are the G query heads of a key head
  // stacked along the query axis.
  torch::Tensor blocked;
  // [B, 1, 1, Tk] bool, true for padding keys; undefined when no row of the
  // batch has padding.
  torch::Tensor padding;
};

// Builds the mask for queries at positions start .. start + query_length - 1
// and `group` query heads per key head. key_valid: [B, Tk] bool.
AttentionMask MakeAttentionMask(const torch::Tensor& key_valid, int64_t start,
                                int64_t query_length, int64_t group);

// Causal scaled dot-product attention with one AtMan modifier per key.
//
// q: [B, H, Tq, D] for query positions start .. start + Tq - 1.
// k, v: [B, KV, Tk, D] for key positions 0 .. Tk - 1, H a multiple of KV
//   (query head h reads key head h / (H / KV)).
// modifiers: [B, Tk] float32.
// key_valid: [B, Tk] bool, false for padding past a row's length; padding is
//   excluded from the row minimum and from the softmax.
//
// kMultiplicative: s' = (s - min over all valid keys of the row) * m, then
//   scale by 1/sqrt(D), causal mask, softmax. The minimum includes keys that
//   the causal mask hides.
// kLogAdditive: s' = s / sqrt(D) + log(m), then causal mask, softmax.
//
// Scores and softmax run in float32; returns [B, H, Tq, D] in q's dtype.
torch::Tensor ModifiedAttention(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& modifiers,
                                const torch::Tensor& key_valid, int64_t start, ControlMode mode);

// The same with a mask built once per forward pass and shared by the layers.
torch::Tensor ModifiedAttention(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& modifiers,
                                const AttentionMask& mask, ControlMode mode);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_ATTENTION_H_
