#include "bench/bench_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/process_memory.h"
#include "server/engine/causal_lm.h"
#include "server/engine/explainer.h"
#include "server/engine/model_repository.h"

namespace atman::bench {
namespace {

using engine::ExplainInput;
using engine::ModelInfo;
using engine::ModelReplica;

// Replicas of one model that share its weights: one per speed-up setting.
struct ReplicaPair {
  std::unique_ptr<engine::LoadedModel> loaded;
  std::unique_ptr<ModelReplica> off;
  const ModelReplica& on() const { return *loaded->replicas.front(); }
};

// Measurements of one timed explanation.
struct RunFigures {
  double seconds = 0.0;
  int64_t forward_passes = 0;
  int64_t input_tokens = 0;
  int64_t target_tokens = 0;
  int64_t rss_before_bytes = -1;
  int64_t peak_rss_bytes = -1;
  int64_t device_peak_bytes = -1;
  std::vector<double> scores;
};

// Work that the engine does for one explanation, counted from its batching
// rule rather than measured.
struct WorkEstimate {
  int64_t computed_positions = 0;
  double gflop = 0.0;
};

int64_t BytesPerElement(const std::string& dtype) { return dtype == "float32" ? 4 : 2; }

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  if (values.size() % 2 == 1) return values[middle];
  return 0.5 * (values[middle - 1] + values[middle]);
}

std::vector<int32_t> PromptIds(const std::vector<int32_t>& pool, int64_t length) {
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < length; ++i) ids.push_back(pool[i % pool.size()]);
  return ids;
}

ExplainInput MakeInput(const std::vector<int32_t>& prompt_ids, const std::string& target) {
  ExplainInput input;
  input.prompt_is_text = false;
  input.prompt_token_ids = prompt_ids;
  input.target = target;
  return input;
}

// Estimated floating-point operations of a forward pass. Every weight matrix
// costs 2 flops per weight and computed position, and the output projection
// 2 * dim * vocab per projected position. Attention costs 4 * dim flops per
// computed position and key, because the engine computes scores and the
// weighted sum over all keys and masks afterwards.
double PassFlops(const ModelInfo& info, int64_t positions, int64_t keys, int64_t projected) {
  const int64_t kv_dim = info.kv_heads * (info.dim / info.heads);
  const double layer_weights = 2.0 * info.dim * info.dim + 2.0 * kv_dim * info.dim +
                               3.0 * info.dim * info.hidden_dim;
  const double per_position = info.layers * (2.0 * layer_weights + 4.0 * info.dim * keys);
  return per_position * positions + 2.0 * info.dim * info.vocab_size * projected;
}

// Work of an explanation with TOKEN units, where unit k first suppresses
// input position k + 1.
// NOTE: mirrors ExplainOnReplica's batching and must follow it when that
// changes. It sorts by first suppressed position, descending, and a batch
// computes from its smallest one.
WorkEstimate EstimateWork(const ModelInfo& info, int64_t prompt_ids, int64_t targets,
                          int batch_size, bool speedups_on) {
  const int64_t length = prompt_ids + targets;
  WorkEstimate work;
  work.computed_positions = length;
  work.gflop = PassFlops(info, length, length, speedups_on ? targets : length);

  for (int64_t first = prompt_ids; first >= 1; first -= batch_size) {
    const int64_t rows = std::min<int64_t>(batch_size, first);
    const int64_t start = speedups_on ? first - rows + 1 : 0;
    const int64_t positions = rows * (length - start);
    work.computed_positions += positions;
    work.gflop += PassFlops(info, positions, length, rows * (speedups_on ? targets : length - start));
  }
  work.gflop /= 1e9;
  return work;
}

absl::StatusOr<RunFigures> TimeExplanation(const ModelReplica& replica, const ExplainInput& input,
                                           const BenchSettings& settings) {
  RunFigures figures;
  if (!ResetPeakResidentBytes()) {
    std::fprintf(stderr, "atman_bench: resetting VmHWM failed, so peaks include earlier runs\n");
  }
  ResetDevicePeakBytes(settings.device);
  figures.rss_before_bytes = ReadProcStatusBytes("VmRSS");

  const auto begin = std::chrono::steady_clock::now();
  const auto result = engine::ExplainOnReplica(replica, input, settings.batch_size);
  const auto end = std::chrono::steady_clock::now();
  if (!result.ok()) return result.status();

  figures.seconds = std::chrono::duration<double>(end - begin).count();
  figures.peak_rss_bytes = ReadProcStatusBytes("VmHWM");
  figures.device_peak_bytes = DevicePeakBytes(settings.device);
  figures.forward_passes = result->forward_passes;
  figures.target_tokens = static_cast<int64_t>(result->target_tokens.size());
  figures.input_tokens =
      static_cast<int64_t>(result->prompt_tokens.size()) + figures.target_tokens - 1;
  for (const auto& span : result->explanations.front().spans) figures.scores.push_back(span.score);
  return figures;
}

nlohmann::json ModeJson(const std::vector<RunFigures>& runs, const WorkEstimate& work) {
  std::vector<double> seconds;
  int64_t peak = -1;
  int64_t growth = -1;
  int64_t device_peak = -1;
  for (const RunFigures& run : runs) {
    seconds.push_back(run.seconds);
    peak = std::max(peak, run.peak_rss_bytes);
    growth = std::max(growth, run.peak_rss_bytes - run.rss_before_bytes);
    device_peak = std::max(device_peak, run.device_peak_bytes);
  }
  const double median = Median(seconds);
  const RunFigures& first = runs.front();
  nlohmann::json mode;
  mode["seconds"] = median;
  mode["seconds_each"] = seconds;
  mode["forward_passes_per_s"] = static_cast<double>(first.forward_passes) / median;
  mode["tokens_per_s"] =
      static_cast<double>(first.forward_passes * first.input_tokens) / median;
  mode["computed_positions"] = work.computed_positions;
  mode["computed_positions_per_s"] = static_cast<double>(work.computed_positions) / median;
  mode["estimated_gflop"] = work.gflop;
  mode["estimated_gflop_per_s"] = work.gflop / median;
  mode["peak_rss_bytes"] = peak;
  mode["peak_rss_growth_bytes"] = growth;
  mode["device_peak_bytes"] = device_peak;
  return mode;
}

double MaxScoreDifference(const RunFigures& on, const RunFigures& off) {
  if (on.scores.size() != off.scores.size()) return INFINITY;
  double difference = 0.0;
  for (size_t i = 0; i < on.scores.size(); ++i) {
    difference = std::max(difference, std::abs(on.scores[i] - off.scores[i]));
  }
  return difference;
}

absl::StatusOr<nlohmann::json> BenchmarkLength(const ReplicaPair& replicas, int64_t length,
                                               const BenchSettings& settings,
                                               const std::vector<int32_t>& pool) {
  const ExplainInput input = MakeInput(PromptIds(pool, length), settings.target);
  const int repeats =
      settings.long_length > 0 && length >= settings.long_length ? settings.long_repeats
                                                                  : settings.repeats;
  std::vector<RunFigures> on_runs;
  std::vector<RunFigures> off_runs;
  for (int repeat = 0; repeat < repeats; ++repeat) {
    for (const bool on : {true, false}) {
      const ModelReplica& replica = on ? replicas.on() : *replicas.off;
      auto figures = TimeExplanation(replica, input, settings);
      if (!figures.ok()) return figures.status();
      std::fprintf(stderr, "  %s %4ld tokens, speed-ups %-3s run %d/%d: %.3f s\n",
                   replicas.loaded->info.name.c_str(), static_cast<long>(length),
                   on ? "on" : "off", repeat + 1, repeats, figures->seconds);
      (on ? on_runs : off_runs).push_back(*std::move(figures));
    }
  }

  const RunFigures& first = on_runs.front();
  const ModelInfo& info = replicas.loaded->info;
  nlohmann::json row;
  row["prompt_tokens"] = length;
  row["input_tokens"] = first.input_tokens;
  row["target_tokens"] = first.target_tokens;
  row["forward_passes"] = first.forward_passes;
  if (first.forward_passes != length + 1) {
    std::fprintf(stderr, "atman_bench: %ld prompt ids made %ld units, not one each, so the "
                 "computed_positions and estimated_gflop figures are off\n",
                 static_cast<long>(length), static_cast<long>(first.forward_passes - 1));
  }
  row["repeats"] = repeats;
  row["on"] = ModeJson(on_runs, EstimateWork(info, length, first.target_tokens,
                                             settings.batch_size, true));
  row["off"] = ModeJson(off_runs, EstimateWork(info, length, first.target_tokens,
                                               settings.batch_size, false));
  row["speedup"] = row["off"]["seconds"].get<double>() / row["on"]["seconds"].get<double>();
  row["max_score_difference"] = MaxScoreDifference(on_runs.front(), off_runs.front());
  return row;
}

absl::StatusOr<ReplicaPair> LoadReplicas(const std::string& directory,
                                         const BenchSettings& settings) {
  engine::LoadOptions options;
  options.devices = {settings.device};
  options.dtype = settings.dtype;
  options.engine = engine::EngineOptions{true, true};
  auto loaded = engine::LoadModelDirectory(directory, options);
  if (!loaded.ok()) return loaded.status();

  // CopyTo with the model's own device and dtype returns a model that shares
  // the weight tensors, so the second replica adds no weight memory.
  ReplicaPair pair;
  pair.loaded = *std::move(loaded);
  const engine::CausalLm& model = pair.on().model();
  auto copy = model.CopyTo(model.device(), model.dtype());
  if (!copy.ok()) return copy.status();
  pair.off = std::make_unique<ModelReplica>(settings.device, *std::move(copy),
                                            pair.loaded->tokenizer,
                                            engine::EngineOptions{false, false});
  return pair;
}

// Peak memory of the speed-ups-on run against weights + 1.5 x the engine's
// estimate of one batch's activations.
nlohmann::json MemoryCheck(const nlohmann::json& row, const ModelInfo& info,
                           int64_t weights_bytes, int64_t rss_before_load,
                           const BenchSettings& settings) {
  const int64_t activations =
      engine::EstimateBatchBytes(info, row["input_tokens"].get<int64_t>(), settings.batch_size);
  const double budget = static_cast<double>(weights_bytes) + 1.5 * static_cast<double>(activations);
  const bool on_device = settings.device.rfind("cuda", 0) == 0;
  const int64_t peak = row["on"][on_device ? "device_peak_bytes" : "peak_rss_bytes"];

  nlohmann::json check;
  check["prompt_tokens"] = row["prompt_tokens"];
  check["weights_bytes"] = weights_bytes;
  check["batch_activation_estimate_bytes"] = activations;
  check["budget_bytes"] = budget;
  check["measured_peak_bytes"] = peak;
  check["peak_over_budget"] = static_cast<double>(peak) / budget;
  if (!on_device) {
    check["rss_before_load_bytes"] = rss_before_load;
    check["peak_without_runtime_over_budget"] =
        static_cast<double>(peak - rss_before_load) / budget;
  }
  return check;
}

nlohmann::json ModelJson(const std::string& label, const std::string& directory,
                         const ModelInfo& info) {
  nlohmann::json model;
  model["label"] = label;
  model["name"] = info.name;
  model["directory"] = directory;
  model["parameters"] = info.parameters;
  model["dtype"] = info.dtype;
  model["shape"] = {{"dim", info.dim},         {"hidden_dim", info.hidden_dim},
                    {"layers", info.layers},   {"heads", info.heads},
                    {"kv_heads", info.kv_heads}, {"vocab_size", info.vocab_size},
                    {"context_length", info.context_length}};
  return model;
}

}  // namespace

absl::StatusOr<nlohmann::json> BenchmarkModel(const std::string& label,
                                              const std::string& directory,
                                              const BenchSettings& settings,
                                              const std::vector<int32_t>& prompt_pool) {
  ResetPeakResidentBytes();
  const int64_t rss_before_load = ReadProcStatusBytes("VmRSS");
  auto replicas = LoadReplicas(directory, settings);
  if (!replicas.ok()) return replicas.status();
  const ModelInfo& info = replicas->loaded->info;
  const int64_t weights_bytes = info.parameters * BytesPerElement(info.dtype);

  nlohmann::json model = ModelJson(label, directory, info);
  model["weights_bytes"] = weights_bytes;
  model["rss_before_load_bytes"] = rss_before_load;
  model["peak_rss_during_load_bytes"] = ReadProcStatusBytes("VmHWM");
  model["rss_after_load_bytes"] = ReadProcStatusBytes("VmRSS");

  // One untimed explanation per replica pays one-time costs (first-touch
  // allocations, BLAS thread start-up) before any timing.
  const ExplainInput warm_up = MakeInput(PromptIds(prompt_pool, 8), settings.target);
  const std::vector<const ModelReplica*> both = {&replicas->on(), replicas->off.get()};
  for (const ModelReplica* replica : both) {
    const auto result = engine::ExplainOnReplica(*replica, warm_up, settings.batch_size);
    if (!result.ok()) return result.status();
  }

  model["runs"] = nlohmann::json::array();
  for (const int64_t length : settings.lengths) {
    auto row = BenchmarkLength(*replicas, length, settings, prompt_pool);
    if (!row.ok()) {
      return absl::Status(row.status().code(), absl::StrCat("model '", label, "', ", length,
                                                            " prompt tokens: ",
                                                            row.status().message()));
    }
    if (length == settings.memory_check_length) {
      model["memory_check"] = MemoryCheck(*row, info, weights_bytes, rss_before_load, settings);
    }
    model["runs"].push_back(*std::move(row));
  }
  return model;
}

}  // namespace atman::bench
