// ModifiedAttention against a direct double-precision evaluation of the
// AtMan score formulas:
//   multiplicative: s' = (s - min_c s[r, c]) * m_c / sqrt(D), the minimum
//     over every valid key of the row, masked ones included;
//   log-additive:   s' = s / sqrt(D) + log(m_c);
// then the causal mask, softmax, and the weighted sum of values.

#include "server/engine/attention.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

namespace atman::engine {
namespace {

struct Case {
  int64_t batch;
  int64_t heads;
  int64_t kv_heads;
  int64_t query_length;
  int64_t key_length;
  int64_t head_dim;
  int64_t start;
};

// q: [B, H, Tq, D], k and v: [B, KV, Tk, D], all float64.
torch::Tensor DirectAttention(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& modifiers,
                              const torch::Tensor& key_valid, int64_t start, ControlMode mode) {
  const int64_t batch = q.size(0);
  const int64_t heads = q.size(1);
  const int64_t query_length = q.size(2);
  const int64_t head_dim = q.size(3);
  const int64_t key_length = k.size(2);
  const int64_t group = heads / k.size(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  auto output = torch::zeros_like(q);
  auto qa = q.accessor<double, 4>();
  auto ka = k.accessor<double, 4>();
  auto va = v.accessor<double, 4>();
  auto ma = modifiers.accessor<double, 2>();
  auto valid = key_valid.accessor<bool, 2>();
  auto out = output.accessor<double, 4>();

  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t kv = h / group;
      for (int64_t r = 0; r < query_length; ++r) {
        std::vector<double> raw(key_length, 0.0);
        double row_min = std::numeric_limits<double>::infinity();
        for (int64_t c = 0; c < key_length; ++c) {
          for (int64_t d = 0; d < head_dim; ++d) raw[c] += qa[b][h][r][d] * ka[b][kv][c][d];
          if (valid[b][c]) row_min = std::min(row_min, raw[c]);
        }

        std::vector<double> weights(key_length, 0.0);
        double total = 0.0;
        double peak = -std::numeric_limits<double>::infinity();
        std::vector<double> scores(key_length, 0.0);
        for (int64_t c = 0; c <= std::min(start + r, key_length - 1); ++c) {
          if (!valid[b][c]) continue;
          scores[c] = mode == ControlMode::kMultiplicative
                          ? (raw[c] - row_min) * ma[b][c] * scale
                          : raw[c] * scale + std::log(ma[b][c]);
          peak = std::max(peak, scores[c]);
        }
        for (int64_t c = 0; c <= std::min(start + r, key_length - 1); ++c) {
          if (!valid[b][c]) continue;
          weights[c] = std::exp(scores[c] - peak);
          total += weights[c];
        }
        for (int64_t c = 0; c < key_length; ++c) {
          for (int64_t d = 0; d < head_dim; ++d) {
            out[b][h][r][d] += weights[c] / total * va[b][kv][c][d];
          }
        }
      }
    }
  }
  return output;
}

void CheckCase(const Case& shape, ControlMode mode) {
  torch::manual_seed(7);
  const auto options = torch::TensorOptions().dtype(torch::kFloat64);
  const auto q = torch::randn({shape.batch, shape.heads, shape.query_length, shape.head_dim}, options);
  const auto k = torch::randn({shape.batch, shape.kv_heads, shape.key_length, shape.head_dim}, options);
  const auto v = torch::randn({shape.batch, shape.kv_heads, shape.key_length, shape.head_dim}, options);
  // Modifiers in [0.05, 2) cover suppression and amplification.
  const auto modifiers = torch::rand({shape.batch, shape.key_length}, options) * 1.95 + 0.05;
  // The last row is padded: its final two keys are invalid.
  auto key_valid = torch::ones({shape.batch, shape.key_length}, torch::kBool);
  key_valid[shape.batch - 1].narrow(0, shape.key_length - 2, 2).fill_(false);

  const auto expected = DirectAttention(q, k, v, modifiers, key_valid, shape.start, mode);
  const auto actual = ModifiedAttention(q, k, v, modifiers.to(torch::kFloat32), key_valid,
                                        shape.start, mode);
  ASSERT_EQ(actual.sizes(), expected.sizes());
  // The last row's padded query positions attend to nothing valid beyond
  // their own length, so compare only the query rows inside each length.
  for (int64_t b = 0; b < shape.batch; ++b) {
    const int64_t valid_length =
        b == shape.batch - 1 ? shape.key_length - 2 - shape.start : shape.query_length;
    const double difference = (actual[b].to(torch::kFloat64).narrow(1, 0, valid_length) -
                               expected[b].narrow(1, 0, valid_length))
                                  .abs()
                                  .max()
                                  .item<double>();
    EXPECT_LT(difference, 2e-5) << ControlModeName(mode) << " row " << b << " start "
                                << shape.start;
  }
}

TEST(AttentionFormulaTest, MultiplicativeGroupedQuery) {
  CheckCase({2, 4, 2, 9, 9, 8, 0}, ControlMode::kMultiplicative);
}

TEST(AttentionFormulaTest, LogAdditiveGroupedQuery) {
  CheckCase({2, 4, 2, 9, 9, 8, 0}, ControlMode::kLogAdditive);
}

TEST(AttentionFormulaTest, MultiplicativeWithStart) {
  CheckCase({2, 6, 3, 5, 11, 4, 6}, ControlMode::kMultiplicative);
}

TEST(AttentionFormulaTest, LogAdditiveWithStart) {
  CheckCase({2, 6, 3, 5, 11, 4, 6}, ControlMode::kLogAdditive);
}

TEST(AttentionFormulaTest, MultiplicativeMinimumIncludesMaskedKeys) {
  // The query at position 1 attends to keys 0 and 1. Key 2 is hidden by the
  // causal mask, but its very low score sets the row minimum and so changes
  // the weights of the visible keys.
  const auto options = torch::TensorOptions().dtype(torch::kFloat64);
  const auto q = torch::tensor({1.0, 0.0}, options).view({1, 1, 1, 2});
  const auto k = torch::tensor({1.0, 0.0, 2.0, 0.0, -50.0, 0.0}, options).view({1, 1, 3, 2});
  const auto v = torch::tensor({1.0, 0.0, 0.0, 1.0, 5.0, 5.0}, options).view({1, 1, 3, 2});
  const auto modifiers = torch::tensor({1.0, 0.5, 1.0}, options).view({1, 3});
  const auto key_valid = torch::ones({1, 3}, torch::kBool);

  const auto expected =
      DirectAttention(q, k, v, modifiers, key_valid, 1, ControlMode::kMultiplicative);
  const auto actual = ModifiedAttention(q, k, v, modifiers.to(torch::kFloat32), key_valid, 1,
                                        ControlMode::kMultiplicative);
  EXPECT_LT((actual.to(torch::kFloat64) - expected).abs().max().item<double>(), 1e-5);
  // Shifted scores are 51 and 52 * 0.5 = 26: key 0 takes almost all weight.
  EXPECT_GT(actual[0][0][0][0].item<double>(), 0.99);
}

}  // namespace
}  // namespace atman::engine
