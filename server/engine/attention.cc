#include "server/engine/attention.h"

#include <cmath>
#include <limits>

namespace atman::engine {

torch::Tensor ModifiedAttention(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& modifiers,
                                const torch::Tensor& key_valid, int64_t start, ControlMode mode) {
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
  const auto grouped_q = q.to(torch::kFloat32).reshape({batch, kv_heads, group * query_length, head_dim});
  auto scores = torch::matmul(grouped_q, k.to(torch::kFloat32).transpose(-1, -2));

  const auto valid = key_valid.view({batch, 1, 1, key_length});
  const auto factor = modifiers.to(torch::kFloat32).view({batch, 1, 1, key_length});
  if (mode == ControlMode::kMultiplicative) {
    const auto row_min =
        scores.masked_fill(valid.logical_not(), std::numeric_limits<float>::infinity())
            .amin(-1, /*keepdim=*/true);
    scores = (scores - row_min).mul_(factor).mul_(scale);
  } else {
    scores = scores.mul_(scale).add_(factor.log());
  }

  const auto options = torch::TensorOptions().dtype(torch::kLong).device(q.device());
  const auto query_positions = torch::arange(start, start + query_length, options);
  const auto key_positions = torch::arange(key_length, options);
  const auto causal = key_positions.view({1, key_length}) <= query_positions.view({query_length, 1});
  const auto allowed = causal.repeat({group, 1}).view({1, 1, group * query_length, key_length})
                           .logical_and(valid);
  scores.masked_fill_(allowed.logical_not(), -std::numeric_limits<float>::infinity());

  const auto probabilities = torch::softmax(scores, -1);
  const auto output = torch::matmul(probabilities, v.to(torch::kFloat32));
  return output.view({batch, heads, query_length, head_dim}).to(q.scalar_type());
}

}  // namespace atman::engine
