#include "server/engine/attention.h"

#include <cmath>
#include <limits>

namespace atman::engine {

AttentionMask MakeAttentionMask(const torch::Tensor& key_valid, int64_t start,
                                int64_t query_length, int64_t group) {
  const int64_t batch = key_valid.size(0);
  const int64_t key_length = key_valid.size(1);
  const auto options = torch::TensorOptions().dtype(torch::kLong).device(key_valid.device());
  const auto query_positions = torch::arange(start, start + query_length, options);
  const auto key_positions = torch::arange(key_length, options);
  const auto future = key_positions.view({1, key_length}) > query_positions.view({query_length, 1});

  AttentionMask mask;
  mask.blocked = future.repeat({group, 1}).view({1, 1, group * query_length, key_length});
  if (!key_valid.all().item<bool>()) {
    mask.padding = key_valid.logical_not().view({batch, 1, 1, key_length});
    mask.blocked = mask.blocked.logical_or(mask.padding);
  }
  return mask;
}

torch::Tensor ModifiedAttention(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& modifiers,
                                const torch::Tensor& key_valid, int64_t start, ControlMode mode) {
  const int64_t group = q.size(1) / k.size(1);
  return ModifiedAttention(q, k, v, modifiers,
                           MakeAttentionMask(key_valid, start, q.size(2), group), mode);
}

torch::Tensor ModifiedAttention(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& modifiers,
                                const AttentionMask& mask, ControlMode mode) {
  const int64_t batch = q.size(0);
  const int64_t heads = q.size(1);
  const int64_t query_length = q.size(2);
  const int64_t head_dim = q.size(3);
  const int64_t kv_heads = k.size(1);
  const int64_t key_length = k.size(2);
  const int64_t group = heads / kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));

  // Query heads that share a key head are stacked along the row axis, so one
  // matmul per key head serves the whole group without copying keys.
  const auto grouped_q =
      q.to(torch::kFloat32).reshape({batch, kv_heads, group * query_length, head_dim});
  auto scores = torch::matmul(grouped_q, k.to(torch::kFloat32).transpose(-1, -2));

  // The scores are updated in place: each step is one pass over the largest
  // tensor of the layer.
  const auto factor = modifiers.to(torch::kFloat32).view({batch, 1, 1, key_length});
  if (mode == ControlMode::kMultiplicative) {
    // The minimum runs over every key of the row, the causally hidden ones
    // included, but not over padding.
    const auto row_min =
        mask.padding.defined()
            ? scores.masked_fill(mask.padding, std::numeric_limits<float>::infinity())
                  .amin(-1, /*keepdim=*/true)
            : scores.amin(-1, /*keepdim=*/true);
    scores.sub_(row_min).mul_(factor * scale);
  } else {
    scores.mul_(scale).add_(factor.log());
  }
  scores.masked_fill_(mask.blocked, -std::numeric_limits<float>::infinity());

  const auto probabilities = torch::softmax(scores, -1);
  const auto output = torch::matmul(probabilities, v.to(torch::kFloat32));
  return output.view({batch, heads, query_length, head_dim}).to(q.scalar_type());
}

}  // namespace atman::engine
