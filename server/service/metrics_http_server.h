#ifndef ATMAN_SERVER_SERVICE_METRICS_HTTP_SERVER_H_
#define ATMAN_SERVER_SERVICE_METRICS_HTTP_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"

namespace atman::service {

// A minimal HTTP/1.1 server for Prometheus scrapes: GET /metrics returns the
// registry in the text exposition format; anything else gets 404. One
// connection at a time, closed after each response.
//
// prometheus-cpp's own Exposer runs on civetweb, whose worker threads are
// created with a small fixed stack. In a process that loads OpenBLAS, glog
// and LibTorch the static thread-local storage alone is larger than that
// stack, so pthread_create fails and the Exposer cannot start.
//
// Thread-safe; the destructor stops the server and joins its thread.
class MetricsHttpServer {
 public:
  // Listens on `address`:`port` (port 0 picks a free one).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      std::shared_ptr<prometheus::Registry> registry, const std::string& address, int port);
  ~MetricsHttpServer();

  int port() const { return port_; }

 private:
  MetricsHttpServer(std::shared_ptr<prometheus::Registry> registry, int socket, int port);
  void Serve();
  void HandleConnection(int connection) const;

  std::shared_ptr<prometheus::Registry> registry_;
  int socket_;
  int port_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace atman::service

#endif  // ATMAN_SERVER_SERVICE_METRICS_HTTP_SERVER_H_
