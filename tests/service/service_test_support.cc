#include "tests/service/service_test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/engine/test_paths.h"

namespace atman::service_test {
namespace {

// Parses the labels of one sample line, e.g. code="OK",model="m". Escapes in
// values are kept as written, which is enough for the labels these tests
// match.
std::map<std::string, std::string> ParseLabels(const std::string& text) {
  std::map<std::string, std::string> labels;
  size_t position = 0;
  while (position < text.size()) {
    const size_t equals = text.find('=', position);
    if (equals == std::string::npos) break;
    const size_t open = text.find('"', equals);
    const size_t close = text.find('"', open + 1);
    if (open == std::string::npos || close == std::string::npos) break;
    std::string key = text.substr(position, equals - position);
    key.erase(0, key.find_first_not_of(", "));
    labels[key] = text.substr(open + 1, close - open - 1);
    position = close + 1;
  }
  return labels;
}

size_t Utf8SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  return 4;
}

// Returns the byte offset of code point `index` in valid UTF-8 `text`, or
// the size of the text when `index` is at or past the end.
size_t ByteOffsetOf(const std::string& text, int32_t index) {
  size_t offset = 0;
  for (int32_t i = 0; i < index && offset < text.size(); ++i) {
    offset += Utf8SequenceLength(static_cast<unsigned char>(text[offset]));
  }
  return std::min(offset, text.size());
}

}  // namespace

TemporaryDirectory::TemporaryDirectory() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "atman-service-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << pattern;
    return;
  }
  path_ = pattern;
}

TemporaryDirectory::~TemporaryDirectory() {
  if (path_.empty()) return;
  std::error_code error;
  std::filesystem::remove_all(path_, error);
}

StoriesRepository::StoriesRepository() {
  std::error_code error;
  std::filesystem::create_directory_symlink(atman::testing::Stories260kDir(),
                                            std::filesystem::path(path()) / kModelName, error);
  if (error) ADD_FAILURE() << "cannot link the model into " << path() << ": " << error.message();
}

service::ServerOptions LoopbackOptions(const std::string& model_repository) {
  service::ServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.metrics_address = "127.0.0.1";
  options.metrics_port = 0;
  options.model_repository = model_repository;
  options.devices = {"cpu"};
  options.drain_timeout = absl::Seconds(30);
  return options;
}

absl::StatusOr<TestServer> StartTestServer(service::ServerOptions options) {
  TestServer test_server;
  test_server.repository = std::make_unique<StoriesRepository>();
  options.address = "127.0.0.1";
  options.metrics_address = "127.0.0.1";
  options.model_repository = test_server.repository->path();
  auto server = service::Server::Start(options);
  if (!server.ok()) return server.status();
  test_server.server = *std::move(server);
  return test_server;
}

absl::StatusOr<TestServer> StartTestServer() { return StartTestServer(LoopbackOptions("")); }

std::shared_ptr<grpc::Channel> LoopbackChannel(int port) {
  grpc::ChannelArguments arguments;
  // Each channel gets its own connection, so tests do not share one.
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), arguments);
}

std::unique_ptr<v1::Explainer::Stub> LoopbackStub(int port) {
  return v1::Explainer::NewStub(LoopbackChannel(port));
}

const v1::Explanation* ExplainCall::explanation() const {
  if (messages.empty() || !messages.back().has_explanation()) return nullptr;
  return &messages.back().explanation();
}

ExplainCall CallExplain(v1::Explainer::Stub& stub, const v1::ExplainRequest& request,
                        std::optional<std::chrono::milliseconds> timeout) {
  grpc::ClientContext context;
  if (timeout.has_value()) context.set_deadline(std::chrono::system_clock::now() + *timeout);
  ExplainCall call;
  auto reader = stub.Explain(&context, request);
  v1::ExplainResponse response;
  while (reader->Read(&response)) call.messages.push_back(response);
  call.status = reader->Finish();
  return call;
}

v1::ExplainRequest TextRequest(const std::string& prompt, const std::string& target) {
  v1::ExplainRequest request;
  request.set_model(kModelName);
  request.mutable_prompt()->set_text(prompt);
  request.set_target(target);
  return request;
}

absl::StatusOr<HttpResponse> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connecting to 127.0.0.1:", port, " failed"));
  }

  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("sending the HTTP request failed");
  }
  std::string response;
  char buffer[4096];
  ssize_t received = 0;
  while ((received = recv(fd, buffer, sizeof(buffer), 0)) > 0) {
    response.append(buffer, static_cast<size_t>(received));
  }
  close(fd);

  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  HttpResponse result;
  const size_t head_end = response.find("\r\n\r\n");
  const std::vector<std::string> status_line = absl::StrSplit(response.substr(0, 20), ' ');
  if (head_end == std::string::npos || status_line.size() < 2 ||
      !absl::SimpleAtoi(status_line[1], &result.status_code)) {
    return absl::DataLossError(absl::StrCat("malformed HTTP response: '", response, "'"));
  }
  result.body = response.substr(head_end + 4);
  return result;
}

std::string ScrapeMetrics(const service::Server& server) {
  const absl::StatusOr<HttpResponse> response = HttpGet(server.metrics_port(), "/metrics");
  if (!response.ok()) {
    ADD_FAILURE() << "scraping /metrics failed: " << response.status();
    return "";
  }
  EXPECT_EQ(response->status_code, 200) << response->body;
  return response->body;
}

double MetricValue(const std::string& exposition, const std::string& name,
                   const std::map<std::string, std::string>& labels) {
  double sum = 0.0;
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string::npos || line.substr(0, name_end) != name) continue;

    std::map<std::string, std::string> sample_labels;
    if (line[name_end] == '{') {
      const size_t close = line.find('}', name_end);
      if (close == std::string::npos) continue;
      sample_labels = ParseLabels(line.substr(name_end + 1, close - name_end - 1));
    }
    bool matches = true;
    for (const auto& [key, value] : labels) {
      const auto found = sample_labels.find(key);
      matches = matches && found != sample_labels.end() && found->second == value;
    }
    double value = 0.0;
    if (matches && absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) sum += value;
  }
  return sum;
}

int64_t ResidentKibibytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    int64_t kibibytes = 0;
    std::istringstream(line.substr(6)) >> kibibytes;
    return kibibytes;
  }
  return -1;
}

int32_t CodePointCount(const std::string& text) {
  int32_t count = 0;
  for (const char byte : text) {
    if ((static_cast<unsigned char>(byte) & 0xC0) != 0x80) ++count;
  }
  return count;
}

std::string CodePointSubstr(const std::string& text, int32_t start, int32_t length) {
  const size_t begin = ByteOffsetOf(text, start);
  const size_t end = ByteOffsetOf(text, start + length);
  return text.substr(begin, end - begin);
}

bool IsValidUtf8(const std::string& text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    uint32_t code_point = 0;
    size_t length = 0;
    if (lead < 0x80) {
      code_point = lead;
      length = 1;
    } else if ((lead & 0xE0) == 0xC0) {
      code_point = lead & 0x1F;
      length = 2;
    } else if ((lead & 0xF0) == 0xE0) {
      code_point = lead & 0x0F;
      length = 3;
    } else if ((lead & 0xF8) == 0xF0) {
      code_point = lead & 0x07;
      length = 4;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < smallest[length] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

}  // namespace atman::service_test
