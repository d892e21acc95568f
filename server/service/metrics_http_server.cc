#include "server/service/metrics_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <glog/logging.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace atman::service {
namespace {

constexpr size_t kMaxRequestBytes = 8192;

void SendAll(int connection, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = send(connection, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

std::string Response(const char* status, const char* content_type, const std::string& body) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

// Reads until the end of the request headers, a size limit, or a timeout.
std::string ReadRequestHead(int connection) {
  std::string request;
  char buffer[1024];
  while (request.size() < kMaxRequestBytes && request.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = recv(connection, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    request.append(buffer, static_cast<size_t>(n));
  }
  return request;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    std::shared_ptr<prometheus::Registry> registry, const std::string& address, int port) {
  sockaddr_in socket_address{};
  socket_address.sin_family = AF_INET;
  socket_address.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, address.c_str(), &socket_address.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address '", address, "' is not an IPv4 address; use e.g. 0.0.0.0 or 127.0.0.1"));
  }

  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int reuse = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&socket_address), sizeof(socket_address)) ||
      listen(fd, 16)) {
    const std::string error = std::strerror(errno);
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen for metrics on ", address, ":",
                                               port, ": ", error, "; choose a free --metrics_port"));
  }

  socklen_t length = sizeof(socket_address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&socket_address), &length);
  const int bound_port = ntohs(socket_address.sin_port);
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(std::move(registry), fd, bound_port));
}

MetricsHttpServer::MetricsHttpServer(std::shared_ptr<prometheus::Registry> registry, int socket,
                                     int port)
    : registry_(std::move(registry)), socket_(socket), port_(port) {
  thread_ = std::thread([this] { Serve(); });
}

MetricsHttpServer::~MetricsHttpServer() {
  stopping_.store(true);
  // shutdown() wakes the thread blocked in accept().
  shutdown(socket_, SHUT_RDWR);
  thread_.join();
  close(socket_);
}

void MetricsHttpServer::Serve() {
  while (!stopping_.load()) {
    const int connection = accept4(socket_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (!stopping_.load()) LOG(WARNING) << "Metrics server stopped accepting: " << std::strerror(errno);
      return;
    }
    timeval timeout{5, 0};
    setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    HandleConnection(connection);
    close(connection);
  }
}

void MetricsHttpServer::HandleConnection(int connection) const {
  const std::string request = ReadRequestHead(connection);
  const bool metrics = absl::StartsWith(request, "GET /metrics ") ||
                       absl::StartsWith(request, "GET /metrics?");
  if (!metrics) {
    SendAll(connection, Response("404 Not Found", "text/plain", "only GET /metrics is served\n"));
    return;
  }
  const std::string body = prometheus::TextSerializer().Serialize(registry_->Collect());
  SendAll(connection, Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", body));
}

}  // namespace atman::service
