#ifndef ATMAN_TESTS_SERVICE_SERVICE_TEST_SUPPORT_H_
#define ATMAN_TESTS_SERVICE_SERVICE_TEST_SUPPORT_H_

// Helpers shared by the service tests: a model repository with stories260K
// alone, an in-process server on loopback, Explain calls that keep every
// streamed message, Prometheus scrapes and UTF-8 code-point arithmetic.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "atman/v1/atman.grpc.pb.h"
#include "server/service/server.h"

namespace atman::service_test {

inline constexpr char kModelName[] = "stories260K";

// A new empty folder under the system's temporary directory, removed with
// its contents by the destructor.
class TemporaryDirectory {
 public:
  TemporaryDirectory();
  ~TemporaryDirectory();
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A temporary model repository whose only entry is a symlink `stories260K`
// to the shared model.
class StoriesRepository {
 public:
  StoriesRepository();

  const std::string& path() const { return directory_.path(); }

 private:
  TemporaryDirectory directory_;
};

// Options for an in-process server on 127.0.0.1 with free gRPC and metrics
// ports and one CPU device.
service::ServerOptions LoopbackOptions(const std::string& model_repository);

// A started in-process server together with the repository it loads from.
struct TestServer {
  std::unique_ptr<StoriesRepository> repository;
  std::unique_ptr<service::Server> server;
};

// Starts a server with `options` after setting its model repository to a
// new StoriesRepository and its addresses to 127.0.0.1.
absl::StatusOr<TestServer> StartTestServer(service::ServerOptions options);
absl::StatusOr<TestServer> StartTestServer();

std::shared_ptr<grpc::Channel> LoopbackChannel(int port);
std::unique_ptr<v1::Explainer::Stub> LoopbackStub(int port);

// The outcome of one Explain call: its status and every message streamed.
struct ExplainCall {
  grpc::Status status;
  std::vector<v1::ExplainResponse> messages;

  // The explanation, when the last message is one.
  const v1::Explanation* explanation() const;
};

// Runs Explain to the end and keeps every message.
ExplainCall CallExplain(v1::Explainer::Stub& stub, const v1::ExplainRequest& request,
                        std::optional<std::chrono::milliseconds> timeout = std::nullopt);

// A COMPLETE, TOKEN-granularity request for `target` after `prompt`.
v1::ExplainRequest TextRequest(const std::string& prompt, const std::string& target);

struct HttpResponse {
  int status_code = 0;
  std::string body;
};

// Sends one HTTP/1.1 GET to 127.0.0.1:`port` and reads the response to EOF.
absl::StatusOr<HttpResponse> HttpGet(int port, const std::string& path);

// GETs /metrics from the server's metrics port. Fails the test on error.
std::string ScrapeMetrics(const service::Server& server);

// Returns the sum of every sample of `name` in a Prometheus text exposition
// whose labels include all of `labels`, or 0 when there is none.
double MetricValue(const std::string& exposition, const std::string& name,
                   const std::map<std::string, std::string>& labels = {});

// Resident set size of this process, from VmRSS in /proc/self/status, in
// kibibytes.
int64_t ResidentKibibytes();

// Code points of valid UTF-8 `text`.
int32_t CodePointCount(const std::string& text);

// The substring of valid UTF-8 `text` that starts at code point `start` and
// is `length` code points long.
std::string CodePointSubstr(const std::string& text, int32_t start, int32_t length);

bool IsValidUtf8(const std::string& text);

}  // namespace atman::service_test

#endif  // ATMAN_TESTS_SERVICE_SERVICE_TEST_SUPPORT_H_
