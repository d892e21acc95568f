#ifndef ATMAN_SERVER_SERVICE_SERVER_H_
#define ATMAN_SERVER_SERVICE_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/engine/explainer.h"

namespace atman::service {

struct ServerOptions {
  // Listen address and port of the gRPC server; port 0 picks a free port.
  std::string address = "0.0.0.0";
  int port = 50051;
  // Prometheus /metrics on this address and port; -1 turns it off, 0 picks
  // a free port.
  std::string metrics_address = "0.0.0.0";
  int metrics_port = 9090;
  // Folder whose subfolders are model directories.
  std::string model_repository;
  // Model used when a request names none; empty = the first by name.
  std::string default_model;
  std::vector<std::string> devices = {"cpu"};
  // auto, float32, bfloat16 or float16.
  std::string dtype = "auto";
  // Perturbations per forward batch; 0 = sized from the memory budget.
  int batch_size = 0;
  // Largest gRPC message received or sent, in bytes.
  int max_message_bytes = 4 << 20;
  int64_t queue_limit = 64;
  int64_t max_active_requests = 8;
  // Memory one forward batch may use on each device, in bytes.
  int64_t memory_budget_bytes = int64_t{4} << 30;
  // Time in-flight requests get to finish after Drain starts.
  absl::Duration drain_timeout = absl::Seconds(30);
  engine::EngineOptions engine;
  // LibTorch intra-op threads; 0 = the machine's cores divided by devices.
  int intra_op_threads = 0;
  // PEM files. With a certificate and key the gRPC port uses TLS; with a
  // client CA as well, clients must present a certificate it signed.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // File with one accepted bearer token per line; empty = no authentication.
  std::string auth_token_file;
};

// The atman-serve server: gRPC service, health, reflection, scheduler,
// models and metrics. Health reports NOT_SERVING until every model is
// loaded and again once Drain starts.
class Server {
 public:
  // Starts listening, loads the models, then reports SERVING.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();

  // Stops admitting requests (UNAVAILABLE), lets in-flight ones finish
  // within the drain timeout, then shuts the gRPC server down.
  void Drain();

  int port() const;
  // -1 when metrics are off.
  int metrics_port() const;

 private:
  struct State;
  explicit Server(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace atman::service

#endif  // ATMAN_SERVER_SERVICE_SERVER_H_
