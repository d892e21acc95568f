#include "server/engine/hf_llama.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/engine/status_macros.h"

namespace atman::engine {
namespace {

// Rejects config.json settings whose model would differ from LlamaModel.
absl::Status CheckSupportedFeatures(const HfConfig& config, const LlamaConfig& llama) {
  if (config.json.contains("rope_scaling") && !config.json["rope_scaling"].is_null()) {
    return absl::UnimplementedError(absl::StrCat(
        config.path, " sets rope_scaling ", config.json["rope_scaling"].dump(),
        "; only unscaled RoPE is supported, so this checkpoint cannot be served"));
  }
  ASSIGN_OR_RETURN(const int64_t head_dim, OptionalInt(config, "head_dim", llama.dim / llama.heads));
  if (head_dim * llama.heads != llama.dim) {
    return absl::UnimplementedError(absl::StrCat(
        config.path, " sets head_dim ", head_dim, " with ", llama.heads, " heads and hidden_size ",
        llama.dim, "; only head_dim = hidden_size / num_attention_heads is supported"));
  }
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    ASSIGN_OR_RETURN(const bool bias, OptionalBool(config, key, false));
    if (bias) {
      return absl::UnimplementedError(
          absl::StrCat(config.path, " sets ", key, "; Llama layers with biases are not supported"));
    }
  }
  ASSIGN_OR_RETURN(const std::string activation, OptionalString(config, "hidden_act", "silu"));
  if (activation != "silu") {
    return absl::UnimplementedError(absl::StrCat(config.path, " sets hidden_act '", activation,
                                                 "'; only silu (SwiGLU) is supported"));
  }
  return absl::OkStatus();
}

absl::StatusOr<LlamaLayerWeights> LoadLayer(const SafetensorsCheckpoint& checkpoint,
                                            const LlamaConfig& c, int64_t index,
                                            torch::Dtype dtype) {
  const std::string prefix = absl::StrCat("model.layers.", index, ".");
  const int64_t kv_dim = c.kv_heads * (c.dim / c.heads);
  const auto load = [&](const std::string& name, std::vector<int64_t> shape) {
    return LoadWeight(checkpoint, prefix + name, std::move(shape), dtype);
  };

  LlamaLayerWeights layer;
  ASSIGN_OR_RETURN(layer.attention_norm, load("input_layernorm.weight", {c.dim}));
  ASSIGN_OR_RETURN(layer.wq, load("self_attn.q_proj.weight", {c.dim, c.dim}));
  ASSIGN_OR_RETURN(layer.wk, load("self_attn.k_proj.weight", {kv_dim, c.dim}));
  ASSIGN_OR_RETURN(layer.wv, load("self_attn.v_proj.weight", {kv_dim, c.dim}));
  ASSIGN_OR_RETURN(layer.wo, load("self_attn.o_proj.weight", {c.dim, c.dim}));
  ASSIGN_OR_RETURN(layer.ffn_norm, load("post_attention_layernorm.weight", {c.dim}));
  ASSIGN_OR_RETURN(layer.w1, load("mlp.gate_proj.weight", {c.hidden_dim, c.dim}));
  ASSIGN_OR_RETURN(layer.w2, load("mlp.down_proj.weight", {c.dim, c.hidden_dim}));
  ASSIGN_OR_RETURN(layer.w3, load("mlp.up_proj.weight", {c.hidden_dim, c.dim}));
  return layer;
}

int64_t CountParameters(const LlamaWeights& weights) {
  int64_t count = weights.token_embedding.numel() + weights.final_norm.numel();
  if (!weights.output.is_same(weights.token_embedding)) count += weights.output.numel();
  for (const LlamaLayerWeights& l : weights.layers) {
    for (const torch::Tensor* t :
         {&l.attention_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w1, &l.w2, &l.w3}) {
      count += t->numel();
    }
  }
  return count;
}

}  // namespace

absl::StatusOr<LlamaConfig> ParseHfLlamaConfig(const HfConfig& config) {
  LlamaConfig llama;
  ASSIGN_OR_RETURN(llama.dim, RequiredInt(config, "hidden_size"));
  ASSIGN_OR_RETURN(llama.hidden_dim, RequiredInt(config, "intermediate_size"));
  ASSIGN_OR_RETURN(llama.layers, RequiredInt(config, "num_hidden_layers"));
  ASSIGN_OR_RETURN(llama.heads, RequiredInt(config, "num_attention_heads"));
  ASSIGN_OR_RETURN(llama.kv_heads, OptionalInt(config, "num_key_value_heads", llama.heads));
  ASSIGN_OR_RETURN(llama.vocab_size, RequiredInt(config, "vocab_size"));
  // The fallbacks are the defaults of transformers' LlamaConfig.
  ASSIGN_OR_RETURN(llama.context_length, OptionalInt(config, "max_position_embeddings", 2048));
  ASSIGN_OR_RETURN(llama.norm_eps, OptionalDouble(config, "rms_norm_eps", 1e-6));
  ASSIGN_OR_RETURN(llama.rope_theta, OptionalDouble(config, "rope_theta", 10000.0));
  llama.rope_style = RopeStyle::kRotateHalf;

  if (llama.dim <= 0 || llama.hidden_dim <= 0 || llama.layers <= 0 || llama.heads <= 0 ||
      llama.kv_heads <= 0 || llama.vocab_size <= 0 || llama.context_length <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.path, " has a non-positive size among hidden_size, intermediate_size, "
        "num_hidden_layers, num_attention_heads, num_key_value_heads, vocab_size and "
        "max_position_embeddings"));
  }
  if (llama.dim % llama.heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(config.path, ": hidden_size ", llama.dim,
                                                   " is not divisible by num_attention_heads ",
                                                   llama.heads));
  }
  RETURN_IF_ERROR(CheckSupportedFeatures(config, llama));
  return llama;
}

absl::StatusOr<std::unique_ptr<CausalLm>> LoadHfLlama(const HfConfig& config,
                                                      const SafetensorsCheckpoint& checkpoint,
                                                      torch::Dtype dtype) {
  ASSIGN_OR_RETURN(const LlamaConfig llama, ParseHfLlamaConfig(config));
  ASSIGN_OR_RETURN(const bool tied, OptionalBool(config, "tie_word_embeddings", false));

  LlamaWeights weights;
  ASSIGN_OR_RETURN(weights.token_embedding, LoadWeight(checkpoint, "model.embed_tokens.weight",
                                                       {llama.vocab_size, llama.dim}, dtype));
  for (int64_t i = 0; i < llama.layers; ++i) {
    ASSIGN_OR_RETURN(LlamaLayerWeights layer, LoadLayer(checkpoint, llama, i, dtype));
    weights.layers.push_back(std::move(layer));
  }
  ASSIGN_OR_RETURN(weights.final_norm, LoadWeight(checkpoint, "model.norm.weight", {llama.dim}, dtype));
  if (tied) {
    weights.output = weights.token_embedding;
  } else if (checkpoint.Contains("lm_head.weight")) {
    ASSIGN_OR_RETURN(weights.output, LoadWeight(checkpoint, "lm_head.weight",
                                                {llama.vocab_size, llama.dim}, dtype));
  } else {
    return absl::NotFoundError(absl::StrCat(
        "tensor 'lm_head.weight' not found in ", checkpoint.source(), " and ", config.path,
        " does not set tie_word_embeddings; add the tensor or set tie_word_embeddings to true"));
  }

  ModelInfo info;
  info.architecture = "LlamaForCausalLM";
  info.format = "hf-llama";
  info.context_length = llama.context_length;
  info.vocab_size = llama.vocab_size;
  info.parameters = CountParameters(weights);
  info.dim = llama.dim;
  info.layers = llama.layers;
  info.heads = llama.heads;
  info.kv_heads = llama.kv_heads;
  info.hidden_dim = llama.hidden_dim;
  return MakeLlama(llama, std::move(weights), std::move(info), dtype);
}

}  // namespace atman::engine
