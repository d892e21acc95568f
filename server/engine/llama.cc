#include "server/engine/llama.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/engine/attention.h"
#include "server/engine/forward_helpers.h"

namespace atman::engine {
namespace {

namespace F = torch::nn::functional;

torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  const auto variance = x.pow(2).mean(-1, /*keepdim=*/true);
  return x * torch::rsqrt(variance + eps) * weight.to(torch::kFloat32);
}

class LlamaModel : public CausalLm {
 public:
  LlamaModel(LlamaConfig config, LlamaWeights weights, ModelInfo info)
      : config_(config), weights_(std::move(weights)), info_(std::move(info)) {
    BuildRopeTables();
  }

  absl::StatusOr<torch::Tensor> Forward(const ForwardBatch& batch) const override {
    try {
      return ForwardImpl(batch);
    } catch (const c10::Error& error) {
      return absl::InternalError(
          absl::StrCat("Llama forward pass failed: ", error.what_without_backtrace()));
    }
  }

  torch::Tensor InputEmbeddings(const torch::Tensor& ids) const override {
    torch::NoGradGuard no_grad;
    return weights_.token_embedding.index_select(0, ids.to(device())).to(torch::kFloat32);
  }

  absl::StatusOr<std::unique_ptr<CausalLm>> CopyTo(torch::Device device,
                                                   torch::Dtype dtype) const override {
    try {
      LlamaWeights copy = MapWeights([&](const torch::Tensor& t) {
        return t.to(device, dtype).contiguous();
      });
      ModelInfo info = info_;
      info.dtype = DtypeName(dtype);
      return std::unique_ptr<CausalLm>(new LlamaModel(config_, std::move(copy), std::move(info)));
    } catch (const c10::Error& error) {
      return absl::InternalError(absl::StrCat("copying model '", info_.name, "' to ",
                                              device.str(), " failed: ",
                                              error.what_without_backtrace()));
    }
  }

  const ModelInfo& info() const override { return info_; }
  torch::Device device() const override { return weights_.token_embedding.device(); }
  torch::Dtype dtype() const override { return weights_.token_embedding.scalar_type(); }

 private:
  template <typename Fn>
  LlamaWeights MapWeights(Fn fn) const {
    LlamaWeights out;
    out.token_embedding = fn(weights_.token_embedding);
    for (const auto& layer : weights_.layers) {
      out.layers.push_back({fn(layer.attention_norm), fn(layer.wq), fn(layer.wk), fn(layer.wv),
                            fn(layer.wo), fn(layer.ffn_norm), fn(layer.w1), fn(layer.w2),
                            fn(layer.w3)});
    }
    out.final_norm = fn(weights_.final_norm);
    const bool tied = weights_.output.is_same(weights_.token_embedding);
    out.output = tied ? out.token_embedding : fn(weights_.output);
    return out;
  }

  void BuildRopeTables() {
    const int64_t head_dim = config_.dim / config_.heads;
    const auto options = torch::TensorOptions().dtype(torch::kFloat64);
    const auto index = torch::arange(0, head_dim / 2, options);
    const auto frequencies = torch::pow(config_.rope_theta, -2.0 * index / head_dim);
    const auto positions = torch::arange(0, config_.context_length, options);
    const auto angles = torch::outer(positions, frequencies);
    const auto device = weights_.token_embedding.device();
    cos_ = angles.cos().to(device, torch::kFloat32);
    sin_ = angles.sin().to(device, torch::kFloat32);
  }

  // x: [B, Tq, heads, head_dim] float32 for positions start .. start+Tq-1.
  torch::Tensor ApplyRope(const torch::Tensor& x, int64_t start) const {
    const int64_t length = x.size(1);
    const int64_t half = x.size(3) / 2;
    const auto cos = cos_.narrow(0, start, length).view({1, length, 1, half});
    const auto sin = sin_.narrow(0, start, length).view({1, length, 1, half});
    if (config_.rope_style == RopeStyle::kRotateHalf) {
      const auto first = x.narrow(3, 0, half);
      const auto second = x.narrow(3, half, half);
      return torch::cat({first * cos - second * sin, second * cos + first * sin}, 3);
    }
    const auto pairs = x.view({x.size(0), length, x.size(2), half, 2});
    const auto even = pairs.select(4, 0);
    const auto odd = pairs.select(4, 1);
    return torch::stack({even * cos - odd * sin, even * sin + odd * cos}, 4).view(x.sizes());
  }

  torch::Tensor Linear(const torch::Tensor& x, const torch::Tensor& weight) const {
    return F::linear(x.to(weight.scalar_type()), weight).to(torch::kFloat32);
  }

  torch::Tensor Attention(const LlamaLayerWeights& layer, int64_t index, const torch::Tensor& h,
                          const ForwardBatch& batch, const ForwardState& state) const {
    const int64_t b = h.size(0);
    const int64_t length = h.size(1);
    const int64_t head_dim = config_.dim / config_.heads;

    auto q = Linear(h, layer.wq).view({b, length, config_.heads, head_dim});
    auto k = Linear(h, layer.wk).view({b, length, config_.kv_heads, head_dim});
    auto v = Linear(h, layer.wv).view({b, length, config_.kv_heads, head_dim});
    q = ApplyRope(q, batch.start).transpose(1, 2);
    k = ApplyRope(k, batch.start).transpose(1, 2).to(dtype());
    v = v.transpose(1, 2).to(dtype());

    const auto keys = JoinPrefix(batch, index, /*values=*/false, k);
    const auto values = JoinPrefix(batch, index, /*values=*/true, v);
    StoreCache(batch, index, keys, values);

    const auto attended =
        ModifiedAttention(q, keys, values, state.modifiers, state.attention_mask, batch.mode);
    return Linear(attended.transpose(1, 2).reshape({b, length, config_.dim}), layer.wo);
  }

  torch::Tensor FeedForward(const LlamaLayerWeights& layer, const torch::Tensor& h) const {
    const auto gate = Linear(h, layer.w1);
    const auto up = Linear(h, layer.w3);
    return Linear(torch::silu(gate) * up, layer.w2);
  }

  torch::Tensor ForwardImpl(const ForwardBatch& batch) const {
    torch::InferenceMode inference;
    const ForwardState state =
        PrepareForward(batch, device(), config_.heads / config_.kv_heads);

    auto x = weights_.token_embedding.index_select(0, state.computed_ids.reshape({-1}))
                 .view({state.computed_ids.size(0), state.computed_ids.size(1), config_.dim})
                 .to(torch::kFloat32);
    for (size_t i = 0; i < weights_.layers.size(); ++i) {
      const auto& layer = weights_.layers[i];
      x = x + Attention(layer, static_cast<int64_t>(i), RmsNorm(x, layer.attention_norm,
                                                                config_.norm_eps),
                        batch, state);
      x = x + FeedForward(layer, RmsNorm(x, layer.ffn_norm, config_.norm_eps));
    }

    const auto project = [&](const torch::Tensor& hidden) {
      return Linear(RmsNorm(hidden, weights_.final_norm, config_.norm_eps), weights_.output);
    };
    return ProjectLogits(batch, state, x, project);
  }

  LlamaConfig config_;
  LlamaWeights weights_;
  ModelInfo info_;
  torch::Tensor cos_;
  torch::Tensor sin_;
};

absl::Status CheckShape(const torch::Tensor& t, std::vector<int64_t> shape,
                        const std::string& name) {
  if (!t.defined() || t.sizes() != c10::IntArrayRef(shape)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight '", name, "' has shape ", t.defined() ? c10::str(t.sizes()) : "(missing)",
        ", expected ", c10::str(c10::IntArrayRef(shape))));
  }
  return absl::OkStatus();
}

absl::Status CheckWeights(const LlamaConfig& c, const LlamaWeights& w) {
  const int64_t head_dim = c.dim / c.heads;
  const int64_t kv_dim = c.kv_heads * head_dim;
  absl::Status status = CheckShape(w.token_embedding, {c.vocab_size, c.dim}, "token_embedding");
  for (size_t i = 0; i < w.layers.size() && status.ok(); ++i) {
    const auto& l = w.layers[i];
    const std::string p = absl::StrCat("layers.", i, ".");
    for (const auto& [t, shape, name] :
         std::vector<std::tuple<torch::Tensor, std::vector<int64_t>, std::string>>{
             {l.attention_norm, {c.dim}, "attention_norm"},
             {l.wq, {c.dim, c.dim}, "wq"},
             {l.wk, {kv_dim, c.dim}, "wk"},
             {l.wv, {kv_dim, c.dim}, "wv"},
             {l.wo, {c.dim, c.dim}, "wo"},
             {l.ffn_norm, {c.dim}, "ffn_norm"},
             {l.w1, {c.hidden_dim, c.dim}, "w1"},
             {l.w2, {c.dim, c.hidden_dim}, "w2"},
             {l.w3, {c.hidden_dim, c.dim}, "w3"}}) {
      status.Update(CheckShape(t, shape, p + name));
    }
  }
  status.Update(CheckShape(w.final_norm, {c.dim}, "final_norm"));
  status.Update(CheckShape(w.output, {c.vocab_size, c.dim}, "output"));
  return status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CausalLm>> MakeLlama(const LlamaConfig& config,
                                                    LlamaWeights weights, ModelInfo info,
                                                    torch::Dtype dtype) {
  if (config.heads <= 0 || config.kv_heads <= 0 || config.dim % config.heads != 0 ||
      config.heads % config.kv_heads != 0 || (config.dim / config.heads) % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid Llama shape: dim ", config.dim, ", heads ", config.heads, ", kv_heads ",
        config.kv_heads, "; dim must divide into heads of even size and heads into kv_heads"));
  }
  if (static_cast<int64_t>(weights.layers.size()) != config.layers) {
    return absl::InvalidArgumentError(absl::StrCat("Llama has ", weights.layers.size(),
                                                   " layers of weights, config says ",
                                                   config.layers));
  }
  const absl::Status shapes = CheckWeights(config, weights);
  if (!shapes.ok()) return shapes;

  info.dtype = DtypeName(dtype);
  LlamaModel cpu_model(config, std::move(weights), std::move(info));
  return cpu_model.CopyTo(torch::kCPU, dtype);
}

}  // namespace atman::engine
