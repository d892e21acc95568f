#include "server/engine/explainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include <glog/logging.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/engine/causal_lm.h"
#include "server/engine/perturbations.h"
#include "server/engine/request_tokens.h"
#include "server/engine/status_macros.h"
#include "server/engine/tokenizer.h"
#include "server/engine/units.h"
#include "server/engine/utf8.h"

namespace atman::engine {
namespace {

absl::Status ValidateSettings(const ExplainSettings& settings) {
  const float factor = settings.control_factor;
  if (!std::isfinite(factor) || factor < 0.0f) {
    return absl::InvalidArgumentError(absl::StrCat(
        "control_factor ", factor, " is invalid: it must be a finite number >= 0 ",
        "(default 0.1; below 1 suppresses, above 1 amplifies)"));
  }
  if (settings.control_mode == ControlMode::kLogAdditive && factor <= 0.0f) {
    return absl::InvalidArgumentError(absl::StrCat(
        "control_factor ", factor, " is invalid with control_mode LOG_ADDITIVE: it must be > 0 ",
        "because the mode adds log(control_factor) to the attention score"));
  }
  if (settings.similarity_threshold.has_value()) {
    const float threshold = *settings.similarity_threshold;
    if (!std::isfinite(threshold) || threshold < 0.0f || threshold > 1.0f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "similarity_threshold ", threshold, " is invalid: it must be in [0, 1] (0.7 is usual), ",
          "or absent to turn correlated suppression off"));
    }
  }
  if (settings.granularity == Granularity::kCustom && settings.delimiter.empty()) {
    return absl::InvalidArgumentError(
        "delimiter is empty: CUSTOM granularity needs a non-empty delimiter, such as ';'");
  }
  if (!IsValidUtf8(settings.delimiter)) {
    return absl::InvalidArgumentError("delimiter is not valid UTF-8; send UTF-8 text");
  }
  return absl::OkStatus();
}

absl::Status ValidateText(const ExplainInput& input) {
  if (input.prompt_is_text) {
    const size_t bad = FirstInvalidUtf8Byte(input.prompt_text);
    if (bad != input.prompt_text.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompt.text is not valid UTF-8 (first invalid byte at offset ", bad,
          "); send UTF-8 text or token ids"));
    }
  }
  const size_t bad = FirstInvalidUtf8Byte(input.target);
  if (bad != input.target.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target is not valid UTF-8 (first invalid byte at offset ", bad, "); send UTF-8 text"));
  }
  if (input.target.empty() && input.max_new_tokens == 0) {
    return absl::InvalidArgumentError(
        "target is empty and max_new_tokens is 0: give a target to explain, or set "
        "max_new_tokens > 0 to have one generated");
  }
  return absl::OkStatus();
}

absl::Status CheckLengths(const RequestTokens& tokens, const ExplainInput& input,
                          const ModelInfo& info) {
  const auto prompt = static_cast<int64_t>(tokens.prompt_tokens.size());
  const int64_t context = info.context_length;
  if (input.max_new_tokens > context) {
    return absl::OutOfRangeError(absl::StrCat(
        "max_new_tokens ", input.max_new_tokens, " exceeds the context length ", context,
        " of model '", info.name, "'; use at most ", std::max<int64_t>(context - prompt + 1, 1)));
  }
  if (input.target.empty()) {
    const int64_t total = prompt + input.max_new_tokens - 1;
    if (total <= context) return absl::OkStatus();
    return absl::OutOfRangeError(absl::StrCat(
        "prompt is ", prompt, " tokens (BOS included); with max_new_tokens ",
        input.max_new_tokens, " the input would be ", total, " tokens, more than the context length ",
        context, " of model '", info.name, "'; shorten the prompt or lower max_new_tokens"));
  }
  if (tokens.target_tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target '", input.target, "' yields no token after the prompt when tokenized; ",
        "send a target with visible text"));
  }
  const int64_t total = prompt + static_cast<int64_t>(tokens.target_tokens.size()) - 1;
  if (total > context) {
    return absl::OutOfRangeError(absl::StrCat(
        "prompt and target are ", total, " input tokens (", prompt, " prompt tokens with BOS, ",
        tokens.target_tokens.size(), " target tokens), more than the context length ", context,
        " of model '", info.name, "'; shorten the prompt or the target"));
  }
  return absl::OkStatus();
}

std::vector<TokenSpan> PromptSpans(const std::vector<TokenInfo>& prompt_tokens) {
  std::vector<TokenSpan> spans;
  for (size_t i = 1; i < prompt_tokens.size(); ++i) {
    const TokenInfo& token = prompt_tokens[i];
    spans.push_back({static_cast<int32_t>(i), token.start, token.start + token.length});
  }
  return spans;
}

torch::Tensor IdsTensor(const std::vector<int32_t>& ids) {
  return torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kLong);
}

// Cross entropies [B, N] in float64 of `targets` ([B, N]) under `logits`.
torch::Tensor CrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets) {
  const auto wide = logits.to(torch::kFloat64);
  const auto log_normalizer = torch::logsumexp(wide, -1);
  const auto picked = wide.gather(-1, targets.unsqueeze(-1)).squeeze(-1);
  return (log_normalizer - picked).to(torch::kCPU);
}

}  // namespace

BaselineCaches::BaselineCaches() = default;
BaselineCaches::~BaselineCaches() = default;

void BaselineCaches::Put(const std::string& device, std::shared_ptr<const KvCache> cache) {
  absl::MutexLock lock(&mutex_);
  caches_.emplace_back(device, std::move(cache));
}

std::shared_ptr<const KvCache> BaselineCaches::Get(const std::string& device,
                                                   const CausalLm& model) {
  absl::MutexLock lock(&mutex_);
  for (const auto& [name, cache] : caches_) {
    if (name == device) return cache;
  }
  if (caches_.empty()) return nullptr;

  const KvCache& source = *caches_.front().second;
  auto copy = std::make_shared<KvCache>();
  copy->length = source.length;
  for (size_t i = 0; i < source.keys.size(); ++i) {
    copy->keys.push_back(source.keys[i].to(model.device(), model.dtype()));
    copy->values.push_back(source.values[i].to(model.device(), model.dtype()));
  }
  caches_.emplace_back(device, copy);
  return copy;
}

absl::Status ValidateInput(const ExplainInput& input, const ModelInfo& info,
                           const Tokenizer& tokenizer) {
  RETURN_IF_ERROR(ValidateSettings(input.settings));
  RETURN_IF_ERROR(ValidateText(input));
  ASSIGN_OR_RETURN(const RequestTokens tokens, TokenizeRequest(input, tokenizer));
  return CheckLengths(tokens, input, info);
}

int64_t EstimateBatchBytes(const ModelInfo& info, int64_t sequence_length, int64_t batch_size) {
  const int64_t rows = batch_size * sequence_length;
  const int64_t head_dim = info.heads > 0 ? info.dim / info.heads : info.dim;
  const int64_t kv_dim = info.kv_heads * head_dim;
  // An estimate in float32 of one layer's live tensors. The hidden states are
  // the residual, normed input, queries, attention output and projections,
  // the joined keys and values, and the MLP's three hidden tensors. The
  // attention keeps scores, their softmax and the mask.
  const int64_t hidden = rows * (6 * info.dim + 4 * kv_dim + 3 * info.hidden_dim);
  const int64_t scores = 3 * batch_size * info.heads * sequence_length * sequence_length;
  const int64_t logits = 2 * batch_size * 64 * info.vocab_size;
  return 4 * (hidden + scores + logits);
}

ModelReplica::ModelReplica(std::string device_name, std::unique_ptr<CausalLm> model,
                           std::shared_ptr<const Tokenizer> tokenizer, EngineOptions options,
                           ModelInfo info)
    : device_name_(std::move(device_name)),
      model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      options_(options),
      info_(info.name.empty() ? model_->info() : std::move(info)) {}

ModelReplica::~ModelReplica() = default;

absl::StatusOr<std::vector<int32_t>> ModelReplica::Generate(const std::vector<int32_t>& ids,
                                                            int64_t max_new_tokens) const {
  std::vector<int32_t> sequence = ids;
  std::vector<int32_t> generated;
  auto cache = std::make_shared<KvCache>();
  for (int64_t step = 0; step < max_new_tokens; ++step) {
    if (static_cast<int64_t>(sequence.size()) > info().context_length) break;

    const auto length = static_cast<int64_t>(sequence.size());
    ForwardBatch batch;
    batch.input_ids = IdsTensor(sequence).unsqueeze(0);
    batch.lengths = {length};
    batch.start = step == 0 ? 0 : length - 1;
    auto previous = cache;
    if (step > 0) batch.prefix = {previous.get()};
    batch.modifiers = torch::ones({1, length});
    batch.logit_positions = torch::tensor({{length - 1}}, torch::kLong);
    cache = std::make_shared<KvCache>();
    batch.cache_out = cache.get();

    ASSIGN_OR_RETURN(const torch::Tensor logits, model_->Forward(batch));
    const auto next = static_cast<int32_t>(logits.argmax(-1).item<int64_t>());
    if (next == tokenizer_->eos_id()) break;
    sequence.push_back(next);
    generated.push_back(next);
  }
  return generated;
}

absl::StatusOr<std::shared_ptr<PreparedExplanation>> ModelReplica::Prepare(
    const ExplainInput& input) const {
  RETURN_IF_ERROR(ValidateSettings(input.settings));
  RETURN_IF_ERROR(ValidateText(input));
  ASSIGN_OR_RETURN(RequestTokens tokens, TokenizeRequest(input, *tokenizer_));
  RETURN_IF_ERROR(CheckLengths(tokens, input, info()));

  auto prepared = std::make_shared<PreparedExplanation>();
  if (input.target.empty()) {
    std::vector<int32_t> ids;
    for (const TokenInfo& token : tokens.prompt_tokens) ids.push_back(token.id);
    ASSIGN_OR_RETURN(const std::vector<int32_t> generated, Generate(ids, input.max_new_tokens));
    prepared->forward_passes += static_cast<int64_t>(generated.size()) + 1;
    if (generated.empty()) {
      return absl::InvalidArgumentError(
          "target is empty and the model generated no token (it predicted end of text first); "
          "give a target to explain");
    }
    SetGeneratedTarget(*tokenizer_, generated, tokens);
    prepared->generated = true;
  }

  prepared->model = info().name;
  prepared->model_version = info().version;
  prepared->settings = input.settings;
  prepared->prompt_text = std::move(tokens.prompt_text);
  prepared->target_text = std::move(tokens.target_text);
  prepared->prompt_tokens = std::move(tokens.prompt_tokens);
  prepared->target_tokens = std::move(tokens.target_tokens);
  for (const TokenInfo& token : prepared->prompt_tokens) prepared->input_ids.push_back(token.id);
  for (const TokenInfo& token : prepared->target_tokens) prepared->target_ids.push_back(token.id);
  prepared->input_ids.insert(prepared->input_ids.end(), prepared->target_ids.begin(),
                             prepared->target_ids.end() - 1);

  ASSIGN_OR_RETURN(prepared->units,
                   CutUnits(prepared->prompt_text, PromptSpans(prepared->prompt_tokens),
                            input.settings.granularity, input.settings.delimiter));
  torch::Tensor embeddings;
  if (input.settings.similarity_threshold.has_value()) {
    embeddings = model_->InputEmbeddings(IdsTensor(prepared->input_ids));
  }
  prepared->perturbations = BuildPerturbations(prepared->units, input.settings, embeddings);

  RETURN_IF_ERROR(RunBaseline(*prepared));
  return prepared;
}

absl::Status ModelReplica::RunBaseline(PreparedExplanation& prepared) const {
  const int64_t length = prepared.sequence_length();
  const int64_t prompt = prepared.prompt_length();
  const auto targets = static_cast<int64_t>(prepared.target_ids.size());

  auto cache = std::make_shared<KvCache>();
  ForwardBatch batch;
  batch.input_ids = IdsTensor(prepared.input_ids).unsqueeze(0);
  batch.lengths = {length};
  batch.modifiers = torch::ones({1, length});
  batch.mode = prepared.settings.control_mode;
  batch.logit_positions = torch::arange(prompt - 1, prompt - 1 + targets, torch::kLong).unsqueeze(0);
  batch.project_all_positions = !options_.project_targets_only;
  batch.cache_out = cache.get();

  ASSIGN_OR_RETURN(const torch::Tensor logits, model_->Forward(batch));
  const auto ce = CrossEntropy(logits, IdsTensor(prepared.target_ids).unsqueeze(0).to(logits.device()));
  prepared.baseline_cross_entropy.assign(ce.data_ptr<double>(), ce.data_ptr<double>() + targets);
  prepared.forward_passes += 1;
  prepared.baseline_caches = std::make_shared<BaselineCaches>();
  prepared.baseline_caches->Put(device_name_, std::move(cache));
  return absl::OkStatus();
}

}  // namespace atman::engine
