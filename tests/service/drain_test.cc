// The atman-server binary as a child process: SIGTERM lets the request in
// flight finish, rejects new requests, turns health NOT_SERVING and exits 0.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <grpcpp/generic/generic_stub.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/service/service_test_support.h"

extern char** environ;

namespace atman::service_test {
namespace {

using ::testing::HasSubstr;

// Values of grpc.health.v1.HealthCheckResponse.ServingStatus.
constexpr int kServing = 1;
constexpr int kNotServing = 2;

constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kHealthWatch[] = "/grpc.health.v1.Health/Watch";

// The atman-server child process with its stderr collected by a thread.
class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (reader_.joinable()) reader_.join();
  }

  // Starts the binary with `arguments`, its stderr going to a pipe.
  bool Start(const std::vector<std::string>& arguments) {
    int pipe_ends[2];
    if (pipe2(pipe_ends, O_CLOEXEC) != 0) return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);

    std::vector<char*> argv;
    std::string binary = ATMAN_SERVER_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copies = arguments;
    for (std::string& argument : copies) argv.push_back(argument.data());
    argv.push_back(nullptr);
    const int spawned = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_ends[1]);
    if (spawned != 0) {
      close(pipe_ends[0]);
      pid_ = -1;
      return false;
    }
    reader_ = std::thread([this, fd = pipe_ends[0]] { ReadStderr(fd); });
    return true;
  }

  // Waits until stderr contains a match of `pattern` and returns its first
  // group, or nullopt after `timeout` or when stderr closes first.
  std::optional<std::string> AwaitLog(const std::regex& pattern, absl::Duration timeout) {
    std::smatch match;
    const auto found = [&] {
      return std::regex_search(log_, match, pattern) || closed_;
    };
    absl::MutexLock lock(&mutex_);
    mutex_.AwaitWithTimeout(absl::Condition(&found), timeout);
    if (!std::regex_search(log_, match, pattern)) return std::nullopt;
    return match.size() > 1 ? match[1].str() : match[0].str();
  }

  // Waits until the child closes stderr, then reaps it. Returns its exit
  // status as from waitpid, or nullopt when it is still running after
  // `timeout`.
  std::optional<int> AwaitExit(absl::Duration timeout) {
    {
      absl::MutexLock lock(&mutex_);
      mutex_.AwaitWithTimeout(absl::Condition(&closed_), timeout);
      if (!closed_) return std::nullopt;
    }
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return std::nullopt;
    pid_ = -1;
    return status;
  }

  pid_t pid() const { return pid_; }

  std::string log() {
    absl::MutexLock lock(&mutex_);
    return log_;
  }

 private:
  void ReadStderr(int fd) {
    char buffer[4096];
    ssize_t received = 0;
    while ((received = read(fd, buffer, sizeof(buffer))) > 0) {
      absl::MutexLock lock(&mutex_);
      log_.append(buffer, static_cast<size_t>(received));
    }
    close(fd);
    absl::MutexLock lock(&mutex_);
    closed_ = true;
  }

  pid_t pid_ = -1;
  std::thread reader_;
  absl::Mutex mutex_;
  std::string log_ ABSL_GUARDED_BY(mutex_);
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
};

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// HealthCheckRequest { string service = 1; } encoded by hand, because the
// health proto's C++ classes are not generated here.
grpc::ByteBuffer HealthRequest(const std::string& service) {
  if (service.empty()) return ToByteBuffer("");
  return ToByteBuffer(absl::StrCat(std::string(1, '\x0a'),
                                   std::string(1, static_cast<char>(service.size())), service));
}

// Returns the status field of HealthCheckResponse { ServingStatus status =
// 1; }, which is 0 (UNKNOWN) when the field is absent.
int ServingStatusOf(const grpc::ByteBuffer& response) {
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return -1;
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  if (bytes.empty()) return 0;
  if (bytes.size() != 2 || bytes[0] != '\x08') return -1;
  return bytes[1];
}

// Waits up to 30 s for the next event of `queue`. Returns false on timeout,
// on a failed operation or on another tag.
bool NextEvent(grpc::CompletionQueue& queue, void* expected_tag) {
  void* tag = nullptr;
  bool ok = false;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
  if (queue.AsyncNext(&tag, &ok, deadline) != grpc::CompletionQueue::GOT_EVENT) return false;
  return ok && tag == expected_tag;
}

// Calls grpc.health.v1.Health/Check for `service`. Returns the serving
// status, or the negated gRPC status code when the call fails.
int CheckHealth(grpc::GenericStub& stub, const std::string& service) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue queue;
  auto call = stub.PrepareUnaryCall(&context, kHealthCheck, HealthRequest(service), &queue);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  int tag = 0;
  call->Finish(&response, &status, &tag);
  const bool finished = NextEvent(queue, &tag);
  queue.Shutdown();
  void* ignored_tag = nullptr;
  bool ignored_ok = false;
  while (queue.Next(&ignored_tag, &ignored_ok)) {
  }
  if (!finished) return -static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED);
  if (!status.ok()) return -static_cast<int>(status.error_code());
  return ServingStatusOf(response);
}

// A grpc.health.v1.Health/Watch stream for the whole server.
class HealthWatch {
 public:
  explicit HealthWatch(grpc::GenericStub& stub)
      : call_(stub.PrepareCall(&context_, kHealthWatch, &queue_)) {
    call_->StartCall(&start_tag_);
    started_ = NextEvent(queue_, &start_tag_);
    if (!started_) return;
    call_->Write(HealthRequest(""), &write_tag_);
    started_ = NextEvent(queue_, &write_tag_);
    if (!started_) return;
    call_->WritesDone(&writes_done_tag_);
    started_ = NextEvent(queue_, &writes_done_tag_);
  }

  ~HealthWatch() {
    context_.TryCancel();
    grpc::Status status;
    call_->Finish(&status, &finish_tag_);
    queue_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (queue_.Next(&tag, &ok)) {
    }
  }

  // Returns the next status the server sends, or -1 when the stream ends or
  // stalls.
  int NextStatus() {
    if (!started_) return -1;
    grpc::ByteBuffer response;
    call_->Read(&response, &read_tag_);
    if (!NextEvent(queue_, &read_tag_)) {
      started_ = false;
      return -1;
    }
    return ServingStatusOf(response);
  }

 private:
  grpc::ClientContext context_;
  grpc::CompletionQueue queue_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool started_ = false;
  int start_tag_ = 0;
  int write_tag_ = 0;
  int writes_done_tag_ = 0;
  int read_tag_ = 0;
  int finish_tag_ = 0;
};

// About 200 prompt tokens at TOKEN granularity, one perturbation per forward
// batch: seconds of work, so it still runs while the test drains the server.
v1::ExplainRequest LongRequest() {
  std::string prompt;
  for (int i = 0; i < 6; ++i) {
    prompt += "Tom had a big red ball. He liked to kick the ball. One day, Tom kicked the ball. ";
  }
  v1::ExplainRequest request = TextRequest(prompt + "Then", " ball");
  request.set_batch_size(1);
  return request;
}

TEST(DrainTest, SigtermFinishesInFlightRequestAndExitsZero) {
  StoriesRepository repository;
  ServerProcess process;
  ASSERT_TRUE(process.Start({"--address=127.0.0.1", "--port=0", "--metrics_port=-1",
                             "--model_repository=" + repository.path(), "--devices=cpu",
                             "--intra_op_threads=1", "--drain_timeout_seconds=120"}))
      << "cannot start " << ATMAN_SERVER_BINARY;

  const auto port_text =
      process.AwaitLog(std::regex("Listening for gRPC on 127\\.0\\.0\\.1:(\\d+)"),
                       absl::Seconds(60));
  ASSERT_TRUE(port_text.has_value()) << "the server logged no port:\n" << process.log();
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(*port_text, &port));
  ASSERT_TRUE(process.AwaitLog(std::regex("Serving on port"), absl::Seconds(60)).has_value())
      << "the server did not finish loading:\n" << process.log();

  auto channel = LoopbackChannel(port);
  grpc::GenericStub health(channel);
  EXPECT_EQ(CheckHealth(health, ""), kServing);
  EXPECT_EQ(CheckHealth(health, kModelName), kServing);
  HealthWatch watch(health);
  ASSERT_EQ(watch.NextStatus(), kServing);

  // A request that is computing when SIGTERM arrives.
  auto stub = v1::Explainer::NewStub(channel);
  grpc::ClientContext in_flight_context;
  auto in_flight = stub->Explain(&in_flight_context, LongRequest());
  v1::ExplainResponse response;
  ASSERT_TRUE(in_flight->Read(&response)) << process.log();
  ASSERT_TRUE(response.has_progress());

  ASSERT_EQ(kill(process.pid(), SIGTERM), 0);
  // The scheduler stops admitting before health turns NOT_SERVING, so once
  // the watch reports it every new request is rejected.
  EXPECT_EQ(watch.NextStatus(), kNotServing);
  EXPECT_EQ(CheckHealth(health, ""), kNotServing);

  const ExplainCall rejected = CallExplain(*stub, TextRequest("Tom had a big red ball.", " He"));
  EXPECT_EQ(rejected.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << rejected.status.error_message();
  EXPECT_THAT(rejected.status.error_message(), HasSubstr("draining"));

  bool got_explanation = false;
  while (in_flight->Read(&response)) got_explanation = response.has_explanation();
  const grpc::Status in_flight_status = in_flight->Finish();
  EXPECT_TRUE(in_flight_status.ok()) << in_flight_status.error_code() << ": "
                                     << in_flight_status.error_message();
  EXPECT_TRUE(got_explanation) << "the request in flight ended without an explanation";

  const std::optional<int> exit_status = process.AwaitExit(absl::Seconds(60));
  ASSERT_TRUE(exit_status.has_value()) << "the server did not exit after draining:\n"
                                       << process.log();
  EXPECT_TRUE(WIFEXITED(*exit_status)) << "the server was killed by a signal:\n" << process.log();
  EXPECT_EQ(WEXITSTATUS(*exit_status), 0) << process.log();
  EXPECT_THAT(process.log(), HasSubstr("Received SIGTERM, draining"));
}

}  // namespace
}  // namespace atman::service_test
