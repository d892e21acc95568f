#include "server/service/server.h"

#include <torch/torch.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <glog/logging.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/engine/model_repository.h"
#include "server/engine/status_macros.h"
#include "server/scheduler/clock.h"
#include "server/scheduler/engine_backend.h"
#include "server/scheduler/metrics.h"
#include "server/scheduler/scheduler.h"
#include "server/service/authorization.h"
#include "server/service/explainer_service.h"
#include "server/service/metrics_http_server.h"

namespace atman::service {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* flag) {
  std::ifstream file(path);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("cannot read ", flag, " file '", path, "'"));
  }
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(
    const ServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls_client_ca needs --tls_cert and --tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both --tls_cert and --tls_key");
  }

  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.private_key, ReadFile(options.tls_key_file, "--tls_key"));
  ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(options.tls_cert_file, "--tls_cert"));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.tls_client_ca_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(options.tls_client_ca_file, "--tls_client_ca"));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

void SetIntraOpThreads(const ServerOptions& options) {
  int threads = options.intra_op_threads;
  if (threads <= 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / static_cast<int>(std::max<size_t>(1, options.devices.size())));
  }
  torch::set_num_threads(threads);
  LOG(INFO) << "LibTorch intra-op threads per worker: " << threads;
}

}  // namespace

struct Server::State {
  ServerOptions options;
  ExplainerService service;
  std::unique_ptr<grpc::Server> grpc_server;
  int port = 0;
  std::map<std::string, std::unique_ptr<engine::LoadedModel>> models;
  scheduler::RealClock clock;
  std::unique_ptr<scheduler::Metrics> metrics;
  std::unique_ptr<MetricsHttpServer> metrics_server;
  int metrics_port = -1;
  std::unique_ptr<scheduler::Scheduler> scheduler;
  std::optional<TokenAuthorizer> authorizer;
  ServingState serving;
  bool drained = false;

  absl::Status StartGrpc();
  absl::Status LoadModels();
  absl::Status StartScheduler();
  absl::Status StartMetrics();
  void SetServing(bool serving);
};

absl::Status Server::State::StartGrpc() {
  ASSIGN_OR_RETURN(const auto credentials, MakeCredentials(options));
  if (!options.auth_token_file.empty()) {
    ASSIGN_OR_RETURN(authorizer, TokenAuthorizer::FromFile(options.auth_token_file));
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat(options.address, ":", options.port), credentials, &port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(&service);
  grpc_server = builder.BuildAndStart();
  if (grpc_server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.address, ":",
                                               options.port, "; is the port in use?"));
  }
  SetServing(false);
  LOG(INFO) << "Listening for gRPC on " << options.address << ":" << port
            << (options.tls_cert_file.empty() ? " without TLS" : " with TLS")
            << (authorizer.has_value() ? ", bearer tokens required" : "");
  return absl::OkStatus();
}

absl::Status Server::State::LoadModels() {
  SetIntraOpThreads(options);
  engine::LoadOptions load;
  load.devices = options.devices;
  load.dtype = options.dtype;
  load.engine = options.engine;
  ASSIGN_OR_RETURN(models, engine::LoadModelRepository(options.model_repository, load));
  if (models.empty()) {
    return absl::NotFoundError(absl::StrCat("no model could be loaded from '",
                                            options.model_repository,
                                            "'; each model needs a folder of its own there"));
  }
  std::string default_model = options.default_model;
  if (default_model.empty()) default_model = models.begin()->first;
  if (models.count(default_model) == 0) {
    return absl::NotFoundError(absl::StrCat("default model '", default_model,
                                            "' is not in the repository '",
                                            options.model_repository, "'"));
  }
  serving.default_model = default_model;
  LOG(INFO) << "Loaded " << models.size() << " model(s); default model " << default_model;
  return absl::OkStatus();
}

absl::Status Server::State::StartScheduler() {
  scheduler::SchedulerOptions scheduler_options;
  scheduler_options.devices = options.devices;
  scheduler_options.queue_limit = options.queue_limit;
  scheduler_options.max_active_requests = options.max_active_requests;
  scheduler_options.memory_budget_bytes = options.memory_budget_bytes;
  scheduler_options.batch_size = options.batch_size;
  scheduler_options.drain_timeout = options.drain_timeout;
  metrics = std::make_unique<scheduler::Metrics>(options.devices);
  ASSIGN_OR_RETURN(scheduler, scheduler::Scheduler::Create(scheduler_options,
                                                           scheduler::MakeEngineBackends(models),
                                                           &clock, metrics.get()));
  return absl::OkStatus();
}

absl::Status Server::State::StartMetrics() {
  if (options.metrics_port < 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(metrics_server, MetricsHttpServer::Start(metrics->registry(),
                                                            options.metrics_address,
                                                            options.metrics_port));
  metrics_port = metrics_server->port();
  LOG(INFO) << "Serving Prometheus metrics on " << options.metrics_address << ":" << metrics_port
            << "/metrics";
  return absl::OkStatus();
}

void Server::State::SetServing(bool serving_now) {
  grpc::HealthCheckServiceInterface* health = grpc_server->GetHealthCheckService();
  health->SetServingStatus(serving_now);
  health->SetServingStatus("atman.v1.Explainer", serving_now);
  for (const auto& [name, model] : models) health->SetServingStatus(name, serving_now);
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  auto state = std::make_unique<State>();
  state->options = options;
  RETURN_IF_ERROR(state->StartGrpc());
  RETURN_IF_ERROR(state->LoadModels());
  RETURN_IF_ERROR(state->StartScheduler());
  RETURN_IF_ERROR(state->StartMetrics());

  state->serving.models = &state->models;
  state->serving.scheduler = state->scheduler.get();
  state->serving.metrics = state->metrics.get();
  state->serving.clock = &state->clock;
  state->serving.batch_size = static_cast<uint32_t>(std::max(0, options.batch_size));
  state->serving.authorizer = state->authorizer.has_value() ? &*state->authorizer : nullptr;
  state->service.Publish(&state->serving);
  state->SetServing(true);
  LOG(INFO) << "Serving on port " << state->port;
  return std::unique_ptr<Server>(new Server(std::move(state)));
}

Server::Server(std::unique_ptr<State> state) : state_(std::move(state)) {}

Server::~Server() { Drain(); }

void Server::Drain() {
  if (state_->drained) return;
  state_->drained = true;

  LOG(INFO) << "Draining: health NOT_SERVING, new requests get UNAVAILABLE, in-flight requests "
            << "have " << absl::FormatDuration(state_->options.drain_timeout);
  // Admission stops before health changes, so no request is accepted after
  // a probe has seen NOT_SERVING.
  state_->scheduler->StopAdmitting();
  state_->SetServing(false);
  state_->scheduler->Drain();
  state_->grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  state_->grpc_server->Wait();
  LOG(INFO) << "Server stopped";
}

int Server::port() const { return state_->port; }

int Server::metrics_port() const { return state_->metrics_port; }

}  // namespace atman::service
