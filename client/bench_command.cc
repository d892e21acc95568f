// `atman bench`: a load generator that reports throughput and latency.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/load_generator.h"

namespace atman::client {
namespace {

int Fail(int exit_code, const std::string& message) {
  std::cerr << "atman bench: " << message << "\n";
  return exit_code;
}

// Flag values that need conversion before they go into LoadOptions.
struct BenchFlags {
  std::string mix = "16:token:3,64:word:1";
  int64_t seed = 1;
  int64_t max_new_tokens = 0;
  std::string format = "text";
};

void AddBenchFlags(FlagSet& flags, LoadOptions* options, BenchFlags* values) {
  AddConnectionFlags(flags, &options->connection);
  flags.AddInt("concurrency", &options->concurrency,
               "worker threads, each with its own channel and one request in flight");
  flags.AddDouble("rate", &options->rate,
                  "requests started per second over all workers; 0 = closed loop");
  flags.AddDouble("duration_s", &options->duration_s, "no request starts after this many seconds");
  flags.AddInt("max_requests", &options->max_requests, "max requests to send; 0 = no limit");
  flags.AddString("mix", &values->mix,
                  "WORDS:GRANULARITY:WEIGHT entries of the request mix, comma-separated; "
                  "granularity is token, word, sentence or paragraph");
  flags.AddInt("seed", &values->seed, "seed of the generated prompts and the mix choices");
  flags.AddString("model", &options->model, "model name; empty = the server's default model");
  flags.AddString("target", &options->target,
                  "continuation every request explains; empty = the server generates one");
  flags.AddInt("max_new_tokens", &values->max_new_tokens,
               "max length of a generated target, in tokens; 0 = the server's default");
  flags.AddInt("deadline_ms", &options->deadline_ms,
               "gRPC deadline of each request in milliseconds; 0 = none");
  flags.AddString("format", &values->format, "report format: text or json");
}

absl::Status ApplyBenchFlags(const BenchFlags& values, LoadOptions* options) {
  if (values.format != "text" && values.format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --format=", values.format, ": expected text or json"));
  }
  if (values.max_new_tokens < 0 || values.max_new_tokens > 0xFFFFFFFFLL) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --max_new_tokens=", values.max_new_tokens, ": expected 0 to 4294967295"));
  }

  absl::StatusOr<std::vector<MixEntry>> mix = ParseMix(values.mix);
  if (!mix.ok()) return mix.status();
  options->mix = *std::move(mix);
  options->seed = static_cast<uint64_t>(values.seed);
  options->max_new_tokens = static_cast<uint32_t>(values.max_new_tokens);
  return ValidateLoadOptions(*options);
}

}  // namespace

int RunBenchCommand(const std::vector<std::string>& args) {
  FlagSet flags("bench");
  LoadOptions options;
  options.target = " The end.";
  BenchFlags values;
  AddBenchFlags(flags, &options, &values);

  absl::Status status = flags.Parse(args);
  if (status.ok() && flags.help_requested()) {
    std::cout << "Usage: atman bench [--concurrency=N] [--rate=R] [--duration_s=S] [flags]\n"
              << flags.Usage();
    return kExitSuccess;
  }
  if (status.ok()) status = ApplyBenchFlags(values, &options);
  if (!status.ok()) return Fail(kExitUsage, std::string(status.message()));

  absl::StatusOr<BenchReport> report = RunLoad(options);
  if (!report.ok()) return Fail(kExitUsage, std::string(report.status().message()));

  std::cout << (values.format == "json" ? FormatReportJson(*report) + "\n"
                                        : FormatReportText(*report));
  // A run where some requests fail still measured something. A run where all
  // failed (e.g. because the server is unreachable) did not.
  const bool measured = report->sent == 0 || report->succeeded > 0;
  return measured ? kExitSuccess : kExitFailure;
}

}  // namespace atman::client
