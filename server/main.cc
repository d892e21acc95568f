// atman-server: flags -> ServerOptions -> Server::Start -> wait for SIGTERM
// or SIGINT -> drain -> exit 0.

#include <signal.h>

#include <string>
#include <vector>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "server/engine/allocator_tuning.h"
#include "server/engine/blas_check.h"
#include "server/service/server.h"

DEFINE_string(address, "0.0.0.0", "gRPC listen address");
DEFINE_int32(port, 50051, "gRPC port; 0 picks a free port");
DEFINE_string(metrics_address, "0.0.0.0", "listen address of the Prometheus /metrics endpoint");
DEFINE_int32(metrics_port, 9090, "Prometheus /metrics HTTP port; -1 turns metrics off");
DEFINE_string(model_repository, "",
              "folder whose subfolders are model directories (llama2.c or Hugging Face)");
DEFINE_string(default_model, "", "model used when a request names none; empty = first by name");
DEFINE_string(devices, "cpu", "comma-separated devices, one worker each: cpu, cpu:0,cpu:1, cuda:0");
DEFINE_string(dtype, "auto", "weights dtype: auto (bfloat16 on CUDA, float32 on CPU), float32, "
                             "bfloat16 or float16");
DEFINE_int32(batch_size, 0, "perturbations per forward batch; 0 = sized from the memory budget");
DEFINE_int32(max_message_bytes, 4 << 20, "largest gRPC message received or sent, in bytes");
DEFINE_int64(queue_limit, 64, "requests that may wait in the queue; more get RESOURCE_EXHAUSTED");
DEFINE_int64(max_active_requests, 8, "requests computed at once, sharing the devices");
DEFINE_int64(memory_budget_bytes, int64_t{4} << 30,
             "memory one forward batch may use on each device, in bytes");
DEFINE_double(drain_timeout_seconds, 30, "seconds in-flight requests get after SIGTERM");
DEFINE_bool(reuse_prefix, true, "reuse baseline keys and values before the first suppressed "
                                "position (exact speed-up)");
DEFINE_bool(project_targets_only, true, "compute vocabulary logits only where targets are "
                                        "predicted (exact speed-up)");
DEFINE_int32(intra_op_threads, 0, "LibTorch threads per worker; 0 = cores / devices");
DEFINE_string(tls_cert, "", "PEM certificate chain; with --tls_key the gRPC port uses TLS");
DEFINE_string(tls_key, "", "PEM private key of --tls_cert");
DEFINE_string(tls_client_ca, "", "PEM CA; clients must present a certificate it signed");
DEFINE_string(auth_token_file, "", "file with one accepted bearer token per line; calls "
                                   "without one get UNAUTHENTICATED (health stays open)");

namespace {

atman::service::ServerOptions OptionsFromFlags() {
  atman::service::ServerOptions options;
  options.address = FLAGS_address;
  options.port = FLAGS_port;
  options.metrics_address = FLAGS_metrics_address;
  options.metrics_port = FLAGS_metrics_port;
  options.model_repository = FLAGS_model_repository;
  options.default_model = FLAGS_default_model;
  options.devices = absl::StrSplit(FLAGS_devices, ',', absl::SkipEmpty());
  options.dtype = FLAGS_dtype;
  options.batch_size = FLAGS_batch_size;
  options.max_message_bytes = FLAGS_max_message_bytes;
  options.queue_limit = FLAGS_queue_limit;
  options.max_active_requests = FLAGS_max_active_requests;
  options.memory_budget_bytes = FLAGS_memory_budget_bytes;
  options.drain_timeout = absl::Seconds(FLAGS_drain_timeout_seconds);
  options.engine.reuse_prefix = FLAGS_reuse_prefix;
  options.engine.project_targets_only = FLAGS_project_targets_only;
  options.intra_op_threads = FLAGS_intra_op_threads;
  options.tls_cert_file = FLAGS_tls_cert;
  options.tls_key_file = FLAGS_tls_key;
  options.tls_client_ca_file = FLAGS_tls_client_ca;
  options.auth_token_file = FLAGS_auth_token_file;
  return options;
}

void LogBlas() {
  const std::string blas = atman::engine::LoadedBlasLibrary();
  if (atman::engine::IsOpenBlas(blas)) {
    LOG(INFO) << "BLAS in use: " << blas;
  } else {
    LOG(WARNING) << "BLAS in use is not OpenBLAS (" << (blas.empty() ? "none found" : blas)
                 << "); matrix products may be about 20 times slower. Install "
                 << "libopenblas0-pthread";
  }
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage("Explains language-model predictions with AtMan over gRPC.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);

  // Every thread started from here on inherits the blocked signals, so only
  // the sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (FLAGS_model_repository.empty()) {
    LOG(ERROR) << "--model_repository is required: a folder whose subfolders are models";
    return 2;
  }
  LogBlas();
  atman::engine::KeepFreedMemoryForReuse();
  auto server = atman::service::Server::Start(OptionsFromFlags());
  if (!server.ok()) {
    LOG(ERROR) << "Server failed to start: " << server.status();
    return 1;
  }

  int received = 0;
  sigwait(&signals, &received);
  LOG(INFO) << "Received " << (received == SIGTERM ? "SIGTERM" : "SIGINT") << ", draining";
  (*server)->Drain();
  return 0;
}
