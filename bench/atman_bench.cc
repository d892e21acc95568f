// atman_bench: times whole AtMan explanations with the exact speed-ups on and
// off, on stories260K and on a random Llama-shaped model, without gRPC. It
// prints progress to stderr, a table per model to stdout, and as its last
// line one JSON object with every figure (fields in docs/benchmarks.md).
//
//   atman_bench --lengths=64,128,256,480 --repeats=3 --threads=2

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_runner.h"
#include "bench/process_memory.h"
#include "server/engine/allocator_tuning.h"
#include "server/engine/blas_check.h"
#include "server/engine/tokenizer.h"
#include "tools/random_llama.h"

ABSL_FLAG(std::vector<std::string>, lengths, std::vector<std::string>({"64", "128", "256", "480"}),
          "comma-separated prompt lengths in token ids after BOS (one explained unit each)");
ABSL_FLAG(std::vector<std::string>, random_lengths, {},
          "prompt lengths for the random model only; empty = --lengths");
ABSL_FLAG(int32_t, repeats, 3, "timed explanations per mode and length; the median is reported");
ABSL_FLAG(int64_t, long_length, 0,
          "lengths at or above this run --long_repeats times instead of --repeats; 0 = off");
ABSL_FLAG(int32_t, long_repeats, 1, "timed explanations per mode for lengths >= --long_length");
ABSL_FLAG(int32_t, batch_size, 16, "perturbations per forward batch");
ABSL_FLAG(int32_t, threads, 0, "LibTorch intra-op threads (torch::set_num_threads); 0 = default");
ABSL_FLAG(std::string, device, "cpu", "device as LibTorch spells it: cpu or cuda:N");
ABSL_FLAG(std::string, dtype, "float32", "weight dtype: float32 or bfloat16 (float16 also works)");
ABSL_FLAG(std::string, target, " She was very happy",
          "continuation explained after every prompt (4 tokens with tok512.model)");
ABSL_FLAG(std::string, stories_dir, "",
          "stories260K model directory; default: $ATMAN_SHARED_DIR/models/stories260K, or the "
          "shared folder CMake was configured with");
ABSL_FLAG(std::string, random_dir, "",
          "model directory of the large model; empty = write a random model with the defaults of "
          "make_random_llama into a temporary directory and delete it at exit");
ABSL_FLAG(uint64_t, random_seed, 1, "seed of the generated random model");
ABSL_FLAG(bool, skip_stories, false, "skip stories260K");
ABSL_FLAG(bool, skip_random, false, "skip the random model");
ABSL_FLAG(int64_t, memory_check_length, 256,
          "prompt length whose peak memory is compared with weights + 1.5 x one batch");
ABSL_FLAG(double, speedup_target, 1.8,
          "speed-up (off time / on time) the random model must reach at --memory_check_length");

namespace atman::bench {
namespace {

namespace fs = std::filesystem;

std::string StoriesDirectory() {
  const std::string flag = absl::GetFlag(FLAGS_stories_dir);
  if (!flag.empty()) return flag;
  const char* shared = std::getenv("ATMAN_SHARED_DIR");
  const std::string root = shared != nullptr && *shared != '\0' ? shared : ATMAN_DEFAULT_SHARED_DIR;
  return root + "/models/stories260K";
}

absl::StatusOr<std::vector<int64_t>> ParseLengths(const char* flag,
                                                  const std::vector<std::string>& texts) {
  std::vector<int64_t> lengths;
  for (const std::string& text : texts) {
    int64_t length = 0;
    if (!absl::SimpleAtoi(text, &length) || length < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " entry '", text, "' is invalid: use positive integers"));
    }
    lengths.push_back(length);
  }
  return lengths;
}

absl::StatusOr<BenchSettings> SettingsFromFlags() {
  BenchSettings settings;
  auto lengths = ParseLengths("lengths", absl::GetFlag(FLAGS_lengths));
  if (!lengths.ok()) return lengths.status();
  settings.lengths = *std::move(lengths);
  settings.repeats = absl::GetFlag(FLAGS_repeats);
  settings.long_length = absl::GetFlag(FLAGS_long_length);
  settings.long_repeats = absl::GetFlag(FLAGS_long_repeats);
  settings.batch_size = absl::GetFlag(FLAGS_batch_size);
  settings.device = absl::GetFlag(FLAGS_device);
  settings.dtype = absl::GetFlag(FLAGS_dtype);
  settings.target = absl::GetFlag(FLAGS_target);
  settings.memory_check_length = absl::GetFlag(FLAGS_memory_check_length);
  if (settings.repeats < 1 || settings.long_repeats < 1 || settings.batch_size < 1) {
    return absl::InvalidArgumentError(
        "--repeats, --long_repeats and --batch_size must be at least 1");
  }
  return settings;
}

bool IsTextPiece(const engine::Tokenizer& tokenizer, int32_t id) {
  if (id == tokenizer.bos_id() || id == tokenizer.eos_id() || id < 0 ||
      id >= tokenizer.vocab_size()) {
    return false;
  }
  const std::string text = tokenizer.Decode({id});
  return std::any_of(text.begin(), text.end(),
                     [](unsigned char c) { return std::isspace(c) == 0; });
}

// Prompt ids: the 200-step greedy continuation in stories260K's
// reference.json, which reads like a real story. Ids that decode to
// whitespace only (the newline, a lone word boundary) are dropped, because
// such a token forms no unit and every prompt id should be one unit.
absl::StatusOr<std::vector<int32_t>> PromptPool(const std::string& stories_dir) {
  const std::string tokenizer_path = stories_dir + "/tok512.model";
  auto tokenizer = engine::LoadSentencePieceTokenizer(tokenizer_path);
  if (!tokenizer.ok()) return tokenizer.status();

  const std::string reference_path = stories_dir + "/reference.json";
  std::ifstream file(reference_path);
  const auto reference = nlohmann::json::parse(file, nullptr, /*allow_exceptions=*/false);
  if (!reference.is_object() || !reference.contains("greedy_from_bos_200_steps")) {
    return absl::NotFoundError(absl::StrCat(
        "'", reference_path, "' is missing or has no \"greedy_from_bos_200_steps\" ids. ",
        "Pass --stories_dir with stories260K's reference.json"));
  }
  std::vector<int32_t> pool;
  for (const auto& id : reference["greedy_from_bos_200_steps"]) {
    if (id.is_number_integer() && IsTextPiece(**tokenizer, id.get<int32_t>())) {
      pool.push_back(id.get<int32_t>());
    }
  }
  if (pool.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", reference_path, "' has no text token ids for prompts"));
  }
  return pool;
}

// Writes the default random model into a new temporary directory.
absl::StatusOr<std::string> GenerateRandomModel(const std::string& stories_dir) {
  std::string pattern = (fs::temp_directory_path() / "atman-bench-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create a temporary directory from '",
                                            pattern, "'; set TMPDIR or pass --random_dir"));
  }
  tools::RandomLlamaOptions options;
  options.seed = absl::GetFlag(FLAGS_random_seed);
  options.tokenizer_path = stories_dir + "/tok512.model";
  options.output_dir = pattern;
  std::fprintf(stderr, "atman_bench: writing a random %d-layer model (%.0f MB) to %s\n",
               options.layers, static_cast<double>(tools::RandomLlamaWeightBytes(options)) / 1e6,
               pattern.c_str());
  const absl::Status written = tools::WriteRandomLlama(options);
  if (!written.ok()) return written;
  return pattern;
}

int64_t MemTotalBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string name;
  int64_t kilobytes = -1;
  meminfo >> name >> kilobytes;
  return name == "MemTotal:" && kilobytes > 0 ? kilobytes * 1024 : -1;
}

std::string CpuModel() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "";
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

nlohmann::json MachineJson() {
  nlohmann::json machine;
  machine["cpu_model"] = CpuModel();
  machine["logical_cpus"] = std::thread::hardware_concurrency();
  machine["memory_bytes"] = MemTotalBytes();
  machine["torch_threads"] = torch::get_num_threads();
  machine["libtorch_version"] = TORCH_VERSION;
  machine["blas_library"] = engine::LoadedBlasLibrary();
  return machine;
}

nlohmann::json SettingsJson(const BenchSettings& settings) {
  return {{"lengths", settings.lengths},
          {"random_lengths", absl::GetFlag(FLAGS_random_lengths)},
          {"repeats", settings.repeats},
          {"long_length", settings.long_length},
          {"long_repeats", settings.long_repeats},
          {"batch_size", settings.batch_size},
          {"device", settings.device},
          {"dtype", settings.dtype},
          {"target", settings.target},
          {"granularity", "TOKEN"},
          {"control_mode", "MULTIPLICATIVE"},
          {"memory_check_length", settings.memory_check_length}};
}

void PrintTable(const nlohmann::json& model) {
  std::printf("\n%s (%s, %ld parameters, %s)\n", model["label"].get<std::string>().c_str(),
              model["name"].get<std::string>().c_str(),
              static_cast<long>(model["parameters"].get<int64_t>()),
              model["dtype"].get<std::string>().c_str());
  std::printf("prompt  input  passes  on_s      off_s     speedup  on_pass/s  on_tok/s   "
              "on_peak_MB  off_peak_MB\n");
  for (const auto& row : model["runs"]) {
    const auto& on = row["on"];
    const auto& off = row["off"];
    std::printf("%6ld  %5ld  %6ld  %8.3f  %8.3f  %7.2f  %9.1f  %9.0f  %10.1f  %11.1f\n",
                static_cast<long>(row["prompt_tokens"].get<int64_t>()),
                static_cast<long>(row["input_tokens"].get<int64_t>()),
                static_cast<long>(row["forward_passes"].get<int64_t>()),
                on["seconds"].get<double>(), off["seconds"].get<double>(),
                row["speedup"].get<double>(), on["forward_passes_per_s"].get<double>(),
                on["tokens_per_s"].get<double>(),
                static_cast<double>(on["peak_rss_bytes"].get<int64_t>()) / 1e6,
                static_cast<double>(off["peak_rss_bytes"].get<int64_t>()) / 1e6);
  }
}

// Compares the random model's figures at --memory_check_length with the
// targets; absent when that run was skipped.
nlohmann::json TargetsJson(const nlohmann::json& model, const BenchSettings& settings) {
  nlohmann::json targets;
  if (!model.contains("memory_check")) return targets;
  const int64_t length = settings.memory_check_length;
  for (const auto& row : model["runs"]) {
    if (row["prompt_tokens"].get<int64_t>() != length) continue;
    const double speedup = row["speedup"].get<double>();
    const double memory = model["memory_check"]["peak_over_budget"].get<double>();
    targets = {{"model", model["label"]},
               {"prompt_tokens", length},
               {"speedup", speedup},
               {"speedup_target", absl::GetFlag(FLAGS_speedup_target)},
               {"speedup_met", speedup >= absl::GetFlag(FLAGS_speedup_target)},
               {"peak_over_budget", memory},
               {"memory_met", memory <= 1.0}};
  }
  return targets;
}

int Run() {
  const int threads = absl::GetFlag(FLAGS_threads);
  if (threads > 0) torch::set_num_threads(threads);
  auto settings = SettingsFromFlags();
  if (!settings.ok()) {
    std::fprintf(stderr, "atman_bench: %s\n", std::string(settings.status().message()).c_str());
    return 1;
  }
  const std::string stories_dir = StoriesDirectory();
  const auto pool = PromptPool(stories_dir);
  if (!pool.ok()) {
    std::fprintf(stderr, "atman_bench: %s\n", std::string(pool.status().message()).c_str());
    return 1;
  }

  nlohmann::json report;
  report["benchmark"] = "atman_bench";
  report["time_utc"] = UtcNow();
  report["machine"] = MachineJson();
  report["settings"] = SettingsJson(*settings);
  report["models"] = nlohmann::json::array();

  std::vector<std::pair<std::string, std::string>> models;
  if (!absl::GetFlag(FLAGS_skip_stories)) models.emplace_back("stories260K", stories_dir);
  std::string temporary_dir;
  if (!absl::GetFlag(FLAGS_skip_random)) {
    std::string random_dir = absl::GetFlag(FLAGS_random_dir);
    if (random_dir.empty()) {
      auto generated = GenerateRandomModel(stories_dir);
      if (!generated.ok()) {
        std::fprintf(stderr, "atman_bench: %s\n", std::string(generated.status().message()).c_str());
        return 1;
      }
      random_dir = temporary_dir = *generated;
    }
    models.emplace_back("random", random_dir);
  }

  auto random_lengths = ParseLengths("random_lengths", absl::GetFlag(FLAGS_random_lengths));
  if (!random_lengths.ok()) {
    const std::string message(random_lengths.status().message());
    std::fprintf(stderr, "atman_bench: %s\n", message.c_str());
    return 1;
  }
  BenchSettings random_settings = *settings;
  if (!random_lengths->empty()) random_settings.lengths = *random_lengths;

  int exit_code = 0;
  for (const auto& [label, directory] : models) {
    const BenchSettings& model_settings = label == "random" ? random_settings : *settings;
    auto model = BenchmarkModel(label, directory, model_settings, *pool);
    if (!model.ok()) {
      std::fprintf(stderr, "atman_bench: %s\n", std::string(model.status().message()).c_str());
      exit_code = 1;
      break;
    }
    PrintTable(*model);
    if (label == "random") report["targets"] = TargetsJson(*model, *settings);
    report["models"].push_back(*std::move(model));
  }
  if (!temporary_dir.empty()) {
    std::error_code ignored;
    fs::remove_all(temporary_dir, ignored);
  }
  if (exit_code != 0) return exit_code;

  std::printf("%s\n", report.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace atman::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Times AtMan explanations with the exact speed-ups on and off.\n"
      "Usage: atman_bench [--lengths=64,128,256,480] [--repeats=3] [--threads=N]");
  absl::ParseCommandLine(argc, argv);
  atman::engine::KeepFreedMemoryForReuse();
  return atman::bench::Run();
}
