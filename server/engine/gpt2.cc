#include "server/engine/gpt2.h"

#include <string>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/engine/attention.h"
#include "server/engine/forward_helpers.h"
#include "server/engine/status_macros.h"

namespace atman::engine {
namespace {

namespace F = torch::nn::functional;

class Gpt2Model : public CausalLm {
 public:
  Gpt2Model(Gpt2Config config, Gpt2Weights weights, ModelInfo info)
      : config_(config), weights_(std::move(weights)), info_(std::move(info)) {}

  absl::StatusOr<torch::Tensor> Forward(const ForwardBatch& batch) const override {
    const int64_t length = batch.input_ids.defined() ? batch.input_ids.size(-1) : 0;
    if (length > config_.context_length) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input of ", length, " positions exceeds the ", config_.context_length,
          " learned positions of this GPT-2 model; shorten the prompt or target"));
    }
    try {
      return ForwardImpl(batch);
    } catch (const c10::Error& error) {
      return absl::InternalError(
          absl::StrCat("GPT-2 forward pass failed: ", error.what_without_backtrace()));
    }
  }

  // Returns token-embedding rows only: position embeddings are added inside
  // the forward pass, and similarity between tokens should not depend on
  // where they stand.
  torch::Tensor InputEmbeddings(const torch::Tensor& ids) const override {
    torch::NoGradGuard no_grad;
    return weights_.token_embedding.index_select(0, ids.to(device())).to(torch::kFloat32);
  }

  absl::StatusOr<std::unique_ptr<CausalLm>> CopyTo(torch::Device device,
                                                   torch::Dtype dtype) const override {
    try {
      Gpt2Weights copy = MapWeights([&](const torch::Tensor& t) {
        return t.to(device, dtype).contiguous();
      });
      ModelInfo info = info_;
      info.dtype = DtypeName(dtype);
      return std::unique_ptr<CausalLm>(new Gpt2Model(config_, std::move(copy), std::move(info)));
    } catch (const c10::Error& error) {
      return absl::InternalError(absl::StrCat("copying a GPT-2 model to ", device.str(),
                                              " failed: ", error.what_without_backtrace()));
    }
  }

  const ModelInfo& info() const override { return info_; }
  torch::Device device() const override { return weights_.token_embedding.device(); }
  torch::Dtype dtype() const override { return weights_.token_embedding.scalar_type(); }

 private:
  template <typename Fn>
  Gpt2Weights MapWeights(Fn fn) const {
    Gpt2Weights out;
    out.token_embedding = fn(weights_.token_embedding);
    out.position_embedding = fn(weights_.position_embedding);
    for (const auto& l : weights_.layers) {
      out.layers.push_back({fn(l.norm1_weight), fn(l.norm1_bias), fn(l.qkv_weight),
                            fn(l.qkv_bias), fn(l.attention_out_weight), fn(l.attention_out_bias),
                            fn(l.norm2_weight), fn(l.norm2_bias), fn(l.fc_weight), fn(l.fc_bias),
                            fn(l.fc_out_weight), fn(l.fc_out_bias)});
    }
    out.final_norm_weight = fn(weights_.final_norm_weight);
    out.final_norm_bias = fn(weights_.final_norm_bias);
    const bool tied = weights_.output.is_same(weights_.token_embedding);
    out.output = tied ? out.token_embedding : fn(weights_.output);
    return out;
  }

  // Affine maps run in the weights' dtype; the residual stream stays float32.
  static torch::Tensor Linear(const torch::Tensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias = torch::Tensor()) {
    return F::linear(x.to(weight.scalar_type()), weight, bias).to(torch::kFloat32);
  }

  torch::Tensor LayerNorm(const torch::Tensor& x, const torch::Tensor& weight,
                          const torch::Tensor& bias) const {
    return torch::layer_norm(x, {config_.dim}, weight.to(torch::kFloat32),
                             bias.to(torch::kFloat32), config_.norm_eps);
  }

  torch::Tensor Attention(const Gpt2LayerWeights& layer, int64_t index, const torch::Tensor& h,
                          const ForwardBatch& batch, const ForwardState& state) const {
    const int64_t rows = h.size(0);
    const int64_t length = h.size(1);
    const int64_t head_dim = config_.dim / config_.heads;

    const auto qkv = Linear(h, layer.qkv_weight, layer.qkv_bias)
                         .view({rows, length, 3, config_.heads, head_dim});
    const auto q = qkv.select(2, 0).transpose(1, 2);
    const auto k = qkv.select(2, 1).transpose(1, 2).to(dtype());
    const auto v = qkv.select(2, 2).transpose(1, 2).to(dtype());

    const auto keys = JoinPrefix(batch, index, /*values=*/false, k);
    const auto values = JoinPrefix(batch, index, /*values=*/true, v);
    StoreCache(batch, index, keys, values);

    const auto attended =
        ModifiedAttention(q, keys, values, state.modifiers, state.attention_mask, batch.mode);
    return Linear(attended.transpose(1, 2).reshape({rows, length, config_.dim}),
                  layer.attention_out_weight, layer.attention_out_bias);
  }

  torch::Tensor FeedForward(const Gpt2LayerWeights& layer, const torch::Tensor& h) const {
    const auto hidden = Linear(h, layer.fc_weight, layer.fc_bias);
    const auto activated = config_.activation == Gpt2Activation::kGeluTanh
                               ? torch::gelu(hidden, "tanh")
                               : torch::gelu(hidden);
    return Linear(activated, layer.fc_out_weight, layer.fc_out_bias);
  }

  torch::Tensor ForwardImpl(const ForwardBatch& batch) const {
    torch::InferenceMode inference;
    // GPT-2 has one key head per query head.
    const ForwardState state = PrepareForward(batch, device(), /*group=*/1);
    const int64_t rows = state.computed_ids.size(0);
    const int64_t length = state.computed_ids.size(1);

    const auto tokens = weights_.token_embedding.index_select(0, state.computed_ids.reshape({-1}))
                            .view({rows, length, config_.dim});
    const auto positions = weights_.position_embedding.narrow(0, batch.start, length);
    auto x = tokens.to(torch::kFloat32) + positions.to(torch::kFloat32).unsqueeze(0);
    for (size_t i = 0; i < weights_.layers.size(); ++i) {
      const auto& layer = weights_.layers[i];
      x = x + Attention(layer, static_cast<int64_t>(i),
                        LayerNorm(x, layer.norm1_weight, layer.norm1_bias), batch, state);
      x = x + FeedForward(layer, LayerNorm(x, layer.norm2_weight, layer.norm2_bias));
    }

    const auto project = [&](const torch::Tensor& hidden) {
      return Linear(LayerNorm(hidden, weights_.final_norm_weight, weights_.final_norm_bias),
                    weights_.output);
    };
    return ProjectLogits(batch, state, x, project);
  }

  Gpt2Config config_;
  Gpt2Weights weights_;
  ModelInfo info_;
};

absl::Status CheckShape(const torch::Tensor& t, const std::vector<int64_t>& shape,
                        const std::string& name) {
  if (!t.defined() || t.sizes() != c10::IntArrayRef(shape)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GPT-2 weight '", name, "' has shape ", t.defined() ? c10::str(t.sizes()) : "(missing)",
        ", expected ", c10::str(c10::IntArrayRef(shape))));
  }
  return absl::OkStatus();
}

absl::Status CheckWeights(const Gpt2Config& c, const Gpt2Weights& w) {
  RETURN_IF_ERROR(CheckShape(w.token_embedding, {c.vocab_size, c.dim}, "token_embedding"));
  RETURN_IF_ERROR(
      CheckShape(w.position_embedding, {c.context_length, c.dim}, "position_embedding"));
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const Gpt2LayerWeights& l = w.layers[i];
    const std::string prefix = absl::StrCat("layers.", i, ".");
    const std::vector<std::tuple<const torch::Tensor&, std::vector<int64_t>, const char*>> checks =
        {{l.norm1_weight, {c.dim}, "norm1_weight"},
         {l.norm1_bias, {c.dim}, "norm1_bias"},
         {l.qkv_weight, {3 * c.dim, c.dim}, "qkv_weight"},
         {l.qkv_bias, {3 * c.dim}, "qkv_bias"},
         {l.attention_out_weight, {c.dim, c.dim}, "attention_out_weight"},
         {l.attention_out_bias, {c.dim}, "attention_out_bias"},
         {l.norm2_weight, {c.dim}, "norm2_weight"},
         {l.norm2_bias, {c.dim}, "norm2_bias"},
         {l.fc_weight, {c.hidden_dim, c.dim}, "fc_weight"},
         {l.fc_bias, {c.hidden_dim}, "fc_bias"},
         {l.fc_out_weight, {c.dim, c.hidden_dim}, "fc_out_weight"},
         {l.fc_out_bias, {c.dim}, "fc_out_bias"}};
    for (const auto& [tensor, shape, name] : checks) {
      RETURN_IF_ERROR(CheckShape(tensor, shape, prefix + name));
    }
  }
  RETURN_IF_ERROR(CheckShape(w.final_norm_weight, {c.dim}, "final_norm_weight"));
  RETURN_IF_ERROR(CheckShape(w.final_norm_bias, {c.dim}, "final_norm_bias"));
  return CheckShape(w.output, {c.vocab_size, c.dim}, "output");
}

int64_t CountParameters(const Gpt2Weights& w) {
  int64_t count = w.token_embedding.numel() + w.position_embedding.numel() +
                  w.final_norm_weight.numel() + w.final_norm_bias.numel();
  if (!w.output.is_same(w.token_embedding)) count += w.output.numel();
  for (const Gpt2LayerWeights& l : w.layers) {
    for (const torch::Tensor* t :
         {&l.norm1_weight, &l.norm1_bias, &l.qkv_weight, &l.qkv_bias, &l.attention_out_weight,
          &l.attention_out_bias, &l.norm2_weight, &l.norm2_bias, &l.fc_weight, &l.fc_bias,
          &l.fc_out_weight, &l.fc_out_bias}) {
      count += t->numel();
    }
  }
  return count;
}

// Loads GPT-2 checkpoint tensors, with or without the "transformer." prefix
// that GPT2LMHeadModel puts before the GPT2Model tensors.
class Gpt2TensorReader {
 public:
  Gpt2TensorReader(const SafetensorsCheckpoint& checkpoint, torch::Dtype dtype)
      : checkpoint_(checkpoint),
        dtype_(dtype),
        prefix_(checkpoint.Contains("transformer.wte.weight") ? "transformer." : "") {}

  absl::StatusOr<torch::Tensor> Load(const std::string& name, std::vector<int64_t> shape) const {
    return LoadWeight(checkpoint_, prefix_ + name, std::move(shape), dtype_);
  }

  // Loads a Conv1D weight ([in, out] in the checkpoint) as [out, in].
  absl::StatusOr<torch::Tensor> LoadConv1D(const std::string& name, int64_t in,
                                           int64_t out) const {
    ASSIGN_OR_RETURN(torch::Tensor weight, Load(name, {in, out}));
    return weight.t().contiguous();
  }

 private:
  const SafetensorsCheckpoint& checkpoint_;
  torch::Dtype dtype_;
  std::string prefix_;
};

absl::StatusOr<Gpt2LayerWeights> LoadLayer(const Gpt2TensorReader& reader, const Gpt2Config& c,
                                           int64_t index) {
  const std::string p = absl::StrCat("h.", index, ".");
  Gpt2LayerWeights l;
  ASSIGN_OR_RETURN(l.norm1_weight, reader.Load(p + "ln_1.weight", {c.dim}));
  ASSIGN_OR_RETURN(l.norm1_bias, reader.Load(p + "ln_1.bias", {c.dim}));
  ASSIGN_OR_RETURN(l.qkv_weight, reader.LoadConv1D(p + "attn.c_attn.weight", c.dim, 3 * c.dim));
  ASSIGN_OR_RETURN(l.qkv_bias, reader.Load(p + "attn.c_attn.bias", {3 * c.dim}));
  ASSIGN_OR_RETURN(l.attention_out_weight,
                   reader.LoadConv1D(p + "attn.c_proj.weight", c.dim, c.dim));
  ASSIGN_OR_RETURN(l.attention_out_bias, reader.Load(p + "attn.c_proj.bias", {c.dim}));
  ASSIGN_OR_RETURN(l.norm2_weight, reader.Load(p + "ln_2.weight", {c.dim}));
  ASSIGN_OR_RETURN(l.norm2_bias, reader.Load(p + "ln_2.bias", {c.dim}));
  ASSIGN_OR_RETURN(l.fc_weight, reader.LoadConv1D(p + "mlp.c_fc.weight", c.dim, c.hidden_dim));
  ASSIGN_OR_RETURN(l.fc_bias, reader.Load(p + "mlp.c_fc.bias", {c.hidden_dim}));
  ASSIGN_OR_RETURN(l.fc_out_weight,
                   reader.LoadConv1D(p + "mlp.c_proj.weight", c.hidden_dim, c.dim));
  ASSIGN_OR_RETURN(l.fc_out_bias, reader.Load(p + "mlp.c_proj.bias", {c.dim}));
  return l;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CausalLm>> MakeGpt2(const Gpt2Config& config, Gpt2Weights weights,
                                                   ModelInfo info, torch::Dtype dtype) {
  if (config.dim <= 0 || config.heads <= 0 || config.dim % config.heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid GPT-2 shape: n_embd ", config.dim,
                                                   " must be a positive multiple of n_head ",
                                                   config.heads));
  }
  if (static_cast<int64_t>(weights.layers.size()) != config.layers) {
    return absl::InvalidArgumentError(absl::StrCat("GPT-2 has ", weights.layers.size(),
                                                   " layers of weights, config says ",
                                                   config.layers));
  }
  RETURN_IF_ERROR(CheckWeights(config, weights));

  info.dtype = DtypeName(dtype);
  Gpt2Model cpu_model(config, std::move(weights), std::move(info));
  return cpu_model.CopyTo(torch::kCPU, dtype);
}

absl::StatusOr<Gpt2Config> ParseHfGpt2Config(const HfConfig& config) {
  Gpt2Config gpt2;
  // The fallbacks are the defaults of transformers' GPT2Config.
  ASSIGN_OR_RETURN(gpt2.dim, OptionalInt(config, "n_embd", 768));
  ASSIGN_OR_RETURN(gpt2.layers, OptionalInt(config, "n_layer", 12));
  ASSIGN_OR_RETURN(gpt2.heads, OptionalInt(config, "n_head", 12));
  ASSIGN_OR_RETURN(gpt2.vocab_size, OptionalInt(config, "vocab_size", 50257));
  ASSIGN_OR_RETURN(gpt2.context_length, OptionalInt(config, "n_positions", 1024));
  ASSIGN_OR_RETURN(gpt2.hidden_dim, OptionalInt(config, "n_inner", 4 * gpt2.dim));
  ASSIGN_OR_RETURN(gpt2.norm_eps, OptionalDouble(config, "layer_norm_epsilon", 1e-5));

  if (gpt2.dim <= 0 || gpt2.layers <= 0 || gpt2.heads <= 0 || gpt2.vocab_size <= 0 ||
      gpt2.context_length <= 0 || gpt2.hidden_dim <= 0 || gpt2.dim % gpt2.heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.path, " has an invalid GPT-2 shape: n_embd ", gpt2.dim, ", n_layer ", gpt2.layers,
        ", n_head ", gpt2.heads, ", vocab_size ", gpt2.vocab_size, ", n_positions ",
        gpt2.context_length, ", n_inner ", gpt2.hidden_dim,
        "; all must be positive and n_embd a multiple of n_head"));
  }

  ASSIGN_OR_RETURN(const std::string activation,
                   OptionalString(config, "activation_function", "gelu_new"));
  if (activation == "gelu_new" || activation == "gelu_pytorch_tanh") {
    gpt2.activation = Gpt2Activation::kGeluTanh;
  } else if (activation == "gelu") {
    gpt2.activation = Gpt2Activation::kGeluExact;
  } else {
    return absl::UnimplementedError(absl::StrCat(
        config.path, " sets activation_function '", activation,
        "'; supported are gelu_new, gelu_pytorch_tanh and gelu"));
  }

  ASSIGN_OR_RETURN(const bool scaled, OptionalBool(config, "scale_attn_weights", true));
  ASSIGN_OR_RETURN(const bool by_layer,
                   OptionalBool(config, "scale_attn_by_inverse_layer_idx", false));
  if (!scaled || by_layer) {
    return absl::UnimplementedError(absl::StrCat(
        config.path, " changes attention scaling (scale_attn_weights false or "
        "scale_attn_by_inverse_layer_idx true); only 1/sqrt(head_dim) scaling is supported"));
  }
  return gpt2;
}

absl::StatusOr<std::unique_ptr<CausalLm>> LoadHfGpt2(const HfConfig& config,
                                                     const SafetensorsCheckpoint& checkpoint,
                                                     torch::Dtype dtype) {
  ASSIGN_OR_RETURN(const Gpt2Config gpt2, ParseHfGpt2Config(config));
  ASSIGN_OR_RETURN(const bool tied, OptionalBool(config, "tie_word_embeddings", true));
  const Gpt2TensorReader reader(checkpoint, dtype);

  Gpt2Weights weights;
  ASSIGN_OR_RETURN(weights.token_embedding, reader.Load("wte.weight", {gpt2.vocab_size, gpt2.dim}));
  ASSIGN_OR_RETURN(weights.position_embedding,
                   reader.Load("wpe.weight", {gpt2.context_length, gpt2.dim}));
  for (int64_t i = 0; i < gpt2.layers; ++i) {
    ASSIGN_OR_RETURN(Gpt2LayerWeights layer, LoadLayer(reader, gpt2, i));
    weights.layers.push_back(std::move(layer));
  }
  ASSIGN_OR_RETURN(weights.final_norm_weight, reader.Load("ln_f.weight", {gpt2.dim}));
  ASSIGN_OR_RETURN(weights.final_norm_bias, reader.Load("ln_f.bias", {gpt2.dim}));
  if (tied) {
    weights.output = weights.token_embedding;
  } else if (checkpoint.Contains("lm_head.weight")) {
    ASSIGN_OR_RETURN(weights.output, LoadWeight(checkpoint, "lm_head.weight",
                                                {gpt2.vocab_size, gpt2.dim}, dtype));
  } else {
    return absl::NotFoundError(absl::StrCat(
        "tensor 'lm_head.weight' not found in ", checkpoint.source(), " and ", config.path,
        " sets tie_word_embeddings to false; add the tensor or tie the output projection"));
  }

  ModelInfo info;
  info.architecture = "GPT2LMHeadModel";
  info.format = "hf-gpt2";
  info.context_length = gpt2.context_length;
  info.vocab_size = gpt2.vocab_size;
  info.parameters = CountParameters(weights);
  info.dim = gpt2.dim;
  info.layers = gpt2.layers;
  info.heads = gpt2.heads;
  info.kv_heads = gpt2.heads;
  info.hidden_dim = gpt2.hidden_dim;
  return MakeGpt2(gpt2, std::move(weights), std::move(info), dtype);
}

}  // namespace atman::engine
