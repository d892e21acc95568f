// Measures what the server adds to an explanation: the same request through
// gRPC on 127.0.0.1 (validation, queue, scheduler, streaming, protobuf) and
// through engine::ExplainOnReplica in the same process, interleaved, with the
// same batch size. The last line printed is one JSON object.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "atman/v1/atman.grpc.pb.h"
#include "server/engine/allocator_tuning.h"
#include "server/engine/explainer.h"
#include "server/engine/model_repository.h"
#include "server/service/server.h"

ABSL_FLAG(std::string, model_dir, ATMAN_DEFAULT_SHARED_DIR "/models/stories260K",
          "model directory to explain with");
ABSL_FLAG(std::string, lengths, "64,128,256", "prompt lengths in tokens, comma-separated");
ABSL_FLAG(int, target_tokens, 4, "target length in tokens");
ABSL_FLAG(int, batch_size, 16, "perturbations per forward batch on both paths");
ABSL_FLAG(int, repeats, 5, "timed runs of each path per length (after one warm-up each)");

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// Token ids < 512 of a plausible story, repeated to any length.
std::vector<int32_t> PromptIds(int length) {
  const std::vector<int32_t> story = {403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421,
                                      395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292};
  std::vector<int32_t> ids;
  for (int i = 0; i < length; ++i) ids.push_back(story[i % story.size()]);
  return ids;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double TimeInProcess(const atman::engine::ModelReplica& replica,
                     const atman::engine::ExplainInput& input) {
  const auto start = Clock::now();
  const auto result = atman::engine::ExplainOnReplica(replica, input, absl::GetFlag(FLAGS_batch_size));
  if (!result.ok()) {
    std::cerr << "in-process explanation failed: " << result.status() << "\n";
    std::exit(1);
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double TimeGrpc(atman::v1::Explainer::Stub& stub, const atman::v1::ExplainRequest& request) {
  const auto start = Clock::now();
  grpc::ClientContext context;
  auto reader = stub.Explain(&context, request);
  atman::v1::ExplainResponse response;
  while (reader->Read(&response)) {
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok() || !response.has_explanation()) {
    std::cerr << "gRPC explanation failed: " << status.error_message() << "\n";
    std::exit(1);
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

atman::v1::ExplainRequest ToRequest(const atman::engine::ExplainInput& input) {
  atman::v1::ExplainRequest request;
  for (int32_t id : input.prompt_token_ids) {
    request.mutable_prompt()->mutable_token_ids()->add_ids(id);
  }
  request.set_target(input.target);
  request.set_batch_size(absl::GetFlag(FLAGS_batch_size));
  return request;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  atman::engine::KeepFreedMemoryForReuse();
  const fs::path model_dir = fs::absolute(absl::GetFlag(FLAGS_model_dir));
  const fs::path repository = fs::temp_directory_path() / "atman-grpc-overhead-bench";
  fs::remove_all(repository);
  fs::create_directories(repository);
  fs::create_directory_symlink(model_dir, repository / model_dir.filename());

  atman::service::ServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.metrics_port = -1;
  options.model_repository = repository.string();
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  auto server = atman::service::Server::Start(options);
  if (!server.ok()) {
    std::cerr << "server failed to start: " << server.status() << "\n";
    return 1;
  }
  auto model = atman::engine::LoadModelDirectory(model_dir.string(), {});
  if (!model.ok()) {
    std::cerr << "model failed to load: " << model.status() << "\n";
    return 1;
  }
  auto stub = atman::v1::Explainer::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));

  nlohmann::json results = nlohmann::json::array();
  const std::vector<std::string> lengths = absl::StrSplit(absl::GetFlag(FLAGS_lengths), ',');
  for (const std::string& text : lengths) {
    const int length = std::stoi(text);
    atman::engine::ExplainInput input;
    input.prompt_is_text = false;
    input.prompt_token_ids = PromptIds(length - 1);
    input.target = " She was very happy.";
    const atman::v1::ExplainRequest request = ToRequest(input);

    TimeInProcess(*(*model)->replicas[0], input);
    TimeGrpc(*stub, request);
    std::vector<double> in_process;
    std::vector<double> grpc_times;
    for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
      in_process.push_back(TimeInProcess(*(*model)->replicas[0], input));
      grpc_times.push_back(TimeGrpc(*stub, request));
    }
    const double ratio = Median(grpc_times) / Median(in_process);
    std::cout << "prompt " << length << " tokens: in-process " << Median(in_process) * 1e3
              << " ms, gRPC " << Median(grpc_times) * 1e3 << " ms, ratio " << ratio << "\n";
    results.push_back({{"prompt_tokens", length},
                       {"in_process_ms", Median(in_process) * 1e3},
                       {"grpc_ms", Median(grpc_times) * 1e3},
                       {"grpc_over_in_process", ratio}});
  }
  (*server)->Drain();
  std::cout << nlohmann::json({{"model", model_dir.filename().string()},
                               {"batch_size", absl::GetFlag(FLAGS_batch_size)},
                               {"repeats", absl::GetFlag(FLAGS_repeats)},
                               {"results", results}})
                   .dump()
            << std::endl;
  return 0;
}
