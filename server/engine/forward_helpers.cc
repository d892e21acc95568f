#include "server/engine/forward_helpers.h"

#include <vector>

namespace atman::engine {

ForwardState PrepareForward(const ForwardBatch& batch, torch::Device device) {
  const int64_t rows = batch.input_ids.size(0);
  const int64_t length = batch.input_ids.size(1);
  TORCH_CHECK(static_cast<int64_t>(batch.lengths.size()) == rows, "lengths has ",
              batch.lengths.size(), " entries for ", rows, " rows");
  TORCH_CHECK(batch.start >= 0 && batch.start < length, "start ", batch.start,
              " is outside the sequence of length ", length);
  TORCH_CHECK(batch.start == 0 || static_cast<int64_t>(batch.prefix.size()) == rows,
              "a forward pass with start > 0 needs one prefix cache per row");
  TORCH_CHECK(batch.cache_out == nullptr || rows == 1, "cache output needs a single row");
  TORCH_CHECK(batch.row_starts.empty() || static_cast<int64_t>(batch.row_starts.size()) == rows,
              "row_starts needs one entry per row");

  ForwardState state;
  const auto ids = batch.input_ids.to(device, torch::kLong);
  state.computed_ids = ids.narrow(1, batch.start, length - batch.start);
  state.modifiers = batch.modifiers.to(device, torch::kFloat32);
  const auto lengths = torch::tensor(batch.lengths, torch::kLong).to(device);
  state.key_valid = torch::arange(length, ids.options()).view({1, length}) < lengths.view({rows, 1});
  state.logit_rows = batch.logit_positions.to(device, torch::kLong) - batch.start;
  TORCH_CHECK(state.logit_rows.min().item<int64_t>() >= 0,
              "logit positions must not precede the first computed position");
  return state;
}

ForwardState PrepareForward(const ForwardBatch& batch, torch::Device device, int64_t group) {
  ForwardState state = PrepareForward(batch, device);
  state.attention_mask = MakeAttentionMask(state.key_valid, batch.start,
                                           state.computed_ids.size(1), group);
  return state;
}

torch::Tensor JoinPrefix(const ForwardBatch& batch, int64_t layer, bool values,
                         const torch::Tensor& computed) {
  if (batch.start == 0) return computed;

  const auto cached = [&](const KvCache* cache) {
    const auto& tensors = values ? cache->values : cache->keys;
    return tensors[layer].narrow(1, 0, batch.start);
  };
  const int64_t rows = computed.size(0);
  bool shared = true;
  for (const KvCache* cache : batch.prefix) shared = shared && cache == batch.prefix[0];

  torch::Tensor prefix;
  if (shared) {
    prefix = cached(batch.prefix[0]).unsqueeze(0).expand({rows, -1, -1, -1});
  } else {
    std::vector<torch::Tensor> parts;
    for (const KvCache* cache : batch.prefix) parts.push_back(cached(cache));
    prefix = torch::stack(parts, 0);
  }
  auto joined = torch::cat({prefix.to(computed.scalar_type()), computed}, 2);

  for (size_t b = 0; b < batch.row_starts.size(); ++b) {
    const int64_t count = batch.row_starts[b] - batch.start;
    if (count <= 0) continue;
    const auto& tensors = values ? batch.prefix[b]->values : batch.prefix[b]->keys;
    joined[static_cast<int64_t>(b)].narrow(1, batch.start, count)
        .copy_(tensors[layer].narrow(1, batch.start, count));
  }
  return joined;
}

void StoreCache(const ForwardBatch& batch, int64_t layer, const torch::Tensor& keys,
                const torch::Tensor& values) {
  KvCache* cache = batch.cache_out;
  if (cache == nullptr) return;

  if (static_cast<int64_t>(cache->keys.size()) <= layer) {
    cache->keys.resize(layer + 1);
    cache->values.resize(layer + 1);
  }
  cache->keys[layer] = keys[0].contiguous();
  cache->values[layer] = values[0].contiguous();
  cache->length = keys.size(2);
}

torch::Tensor ProjectLogits(const ForwardBatch& batch, const ForwardState& state,
                            const torch::Tensor& hidden,
                            const std::function<torch::Tensor(const torch::Tensor&)>& project) {
  const int64_t rows = hidden.size(0);
  const int64_t count = state.logit_rows.size(1);
  const auto index = state.logit_rows.unsqueeze(-1);

  if (batch.project_all_positions) {
    const auto all = project(hidden);
    return all.gather(1, index.expand({rows, count, all.size(2)})).to(torch::kFloat32);
  }
  const auto selected = hidden.gather(1, index.expand({rows, count, hidden.size(2)}));
  return project(selected).to(torch::kFloat32);
}

std::string DtypeName(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return "float32";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kFloat16:
      return "float16";
    case torch::kFloat64:
      return "float64";
    default:
      return "unknown";
  }
}

}  // namespace atman::engine
