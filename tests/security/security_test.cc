// TLS, mutual TLS and bearer tokens on the real server, with throwaway
// certificates made by the openssl command line tool.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "atman/v1/atman.grpc.pb.h"
#include "server/service/server.h"
#include "tests/engine/test_paths.h"

namespace atman::service {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream file(path);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

// Runs a shell command in `folder`; returns its exit status.
int RunInFolder(const fs::path& folder, const std::string& command) {
  return std::system(("cd '" + folder.string() + "' && " + command + " >/dev/null 2>&1").c_str());
}

// Makes a CA and a certificate signed by it for `name` (with the IP
// address 127.0.0.1 as a subject alternative name).
void MakeCertificate(const fs::path& folder, const std::string& ca, const std::string& name) {
  ASSERT_EQ(RunInFolder(folder, "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > " + name +
                            ".ext && openssl req -new -newkey rsa:2048 -nodes -keyout " + name +
                            ".key -out " + name + ".csr -subj /CN=" + name +
                            " && openssl x509 -req -in " + name + ".csr -CA " + ca +
                            ".crt -CAkey " + ca + ".key -CAcreateserial -days 1 -out " + name +
                            ".crt -extfile " + name + ".ext"),
            0)
      << "openssl failed to make the certificate " << name;
}

void MakeAuthority(const fs::path& folder, const std::string& ca) {
  ASSERT_EQ(RunInFolder(folder, "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout " + ca +
                            ".key -out " + ca + ".crt -subj /CN=" + ca),
            0)
      << "openssl failed to make the CA " << ca;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "openssl is not installed; install the Debian package openssl";
    }
    folder_ = new fs::path(fs::path(::testing::TempDir()) / "atman-security");
    fs::remove_all(*folder_);
    fs::create_directories(*folder_ / "models");
    fs::create_directory_symlink(testing::Stories260kDir(), *folder_ / "models" / "stories260K");
    MakeAuthority(*folder_, "ca");
    MakeAuthority(*folder_, "other-ca");
    MakeCertificate(*folder_, "ca", "server");
    MakeCertificate(*folder_, "ca", "client");
    MakeCertificate(*folder_, "other-ca", "stranger");
    std::ofstream(*folder_ / "tokens") << "# accepted tokens\nsecret-token-1\n\nsecret-token-2\n";
  }

  static std::unique_ptr<Server> StartServer(bool mutual_tls, bool tokens) {
    ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.metrics_port = -1;
    options.model_repository = (*folder_ / "models").string();
    options.tls_cert_file = (*folder_ / "server.crt").string();
    options.tls_key_file = (*folder_ / "server.key").string();
    if (mutual_tls) options.tls_client_ca_file = (*folder_ / "ca.crt").string();
    if (tokens) options.auth_token_file = (*folder_ / "tokens").string();
    auto server = Server::Start(options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(server).value() : nullptr;
  }

  static std::shared_ptr<grpc::Channel> TlsChannel(int port, const std::string& client) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(*folder_ / "ca.crt");
    if (!client.empty()) {
      ssl.pem_private_key = ReadFile(*folder_ / (client + ".key"));
      ssl.pem_cert_chain = ReadFile(*folder_ / (client + ".crt"));
    }
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(ssl));
  }

  static grpc::Status ListModels(const std::shared_ptr<grpc::Channel>& channel,
                                 const std::string& token = "") {
    auto stub = v1::Explainer::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::ListModelsResponse response;
    return stub->ListModels(&context, v1::ListModelsRequest(), &response);
  }

  // Calls grpc.health.v1.Health/Check for the whole server; returns the
  // serving status number (1 = SERVING) or -1 when the call fails.
  static int HealthStatus(const std::shared_ptr<grpc::Channel>& channel) {
    grpc::GenericStub stub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    // An empty HealthCheckRequest (service "") serializes to no bytes.
    grpc::Slice empty_message("");
    const grpc::ByteBuffer request(&empty_message, 1);
    grpc::ByteBuffer response;
    std::mutex mutex;
    std::condition_variable done;
    bool finished = false;
    grpc::Status status;
    stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                   &response, [&](grpc::Status s) {
                     std::lock_guard<std::mutex> lock(mutex);
                     status = s;
                     finished = true;
                     done.notify_one();
                   });
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return finished; });
    if (!status.ok()) return -1;

    std::vector<grpc::Slice> slices;
    response.Dump(&slices);
    std::string bytes;
    for (const auto& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    // HealthCheckResponse: field 1 (status) as a varint, tag byte 0x08.
    if (bytes.size() == 2 && bytes[0] == 0x08) return bytes[1];
    return bytes.empty() ? 0 : -1;
  }

  static fs::path* folder_;
};

fs::path* SecurityTest::folder_ = nullptr;

TEST_F(SecurityTest, TlsClientWithCaIsAccepted) {
  const auto server = StartServer(/*mutual_tls=*/false, /*tokens=*/false);
  ASSERT_NE(server, nullptr);
  const grpc::Status status = ListModels(TlsChannel(server->port(), ""));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(SecurityTest, PlaintextClientIsRejectedByTlsServer) {
  const auto server = StartServer(false, false);
  ASSERT_NE(server, nullptr);
  const auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()),
                                           grpc::InsecureChannelCredentials());
  const grpc::Status status = ListModels(channel);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(SecurityTest, MutualTlsAcceptsSignedClient) {
  const auto server = StartServer(/*mutual_tls=*/true, false);
  ASSERT_NE(server, nullptr);
  const grpc::Status status = ListModels(TlsChannel(server->port(), "client"));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(SecurityTest, MutualTlsRejectsClientWithoutCertificate) {
  const auto server = StartServer(true, false);
  ASSERT_NE(server, nullptr);
  const grpc::Status status = ListModels(TlsChannel(server->port(), ""));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(SecurityTest, MutualTlsRejectsClientOfOtherCa) {
  const auto server = StartServer(true, false);
  ASSERT_NE(server, nullptr);
  const grpc::Status status = ListModels(TlsChannel(server->port(), "stranger"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(SecurityTest, MissingTokenIsUnauthenticated) {
  const auto server = StartServer(false, /*tokens=*/true);
  ASSERT_NE(server, nullptr);
  const grpc::Status status = ListModels(TlsChannel(server->port(), ""));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("authorization"), std::string::npos);
}

TEST_F(SecurityTest, WrongTokenIsUnauthenticated) {
  const auto server = StartServer(false, true);
  ASSERT_NE(server, nullptr);
  const grpc::Status status = ListModels(TlsChannel(server->port(), ""), "secret-token-3");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message().find("secret-token"), std::string::npos)
      << "the message must not echo tokens";
}

TEST_F(SecurityTest, AcceptedTokensAreAuthenticated) {
  const auto server = StartServer(false, true);
  ASSERT_NE(server, nullptr);
  const auto channel = TlsChannel(server->port(), "");
  EXPECT_TRUE(ListModels(channel, "secret-token-1").ok());
  EXPECT_TRUE(ListModels(channel, "secret-token-2").ok());
}

TEST_F(SecurityTest, ExplainNeedsTokenToo) {
  const auto server = StartServer(false, true);
  ASSERT_NE(server, nullptr);
  auto stub = v1::Explainer::NewStub(TlsChannel(server->port(), ""));
  grpc::ClientContext context;
  v1::ExplainRequest request;
  request.mutable_prompt()->set_text("Tom had a ball.");
  request.set_target(" He");
  auto reader = stub->Explain(&context, request);
  v1::ExplainResponse response;
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(SecurityTest, HealthStaysOpenWithoutToken) {
  const auto server = StartServer(false, true);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(HealthStatus(TlsChannel(server->port(), "")), 1);
}

TEST_F(SecurityTest, ClientBinaryUsesMutualTlsAndToken) {
  const auto server = StartServer(/*mutual_tls=*/true, /*tokens=*/true);
  ASSERT_NE(server, nullptr);
  std::ofstream(*folder_ / "client-token") << "secret-token-2\n";
  const std::string common = std::string(ATMAN_CLIENT_BINARY) + " models --server=127.0.0.1:" +
                             std::to_string(server->port()) + " --tls_ca=ca.crt";
  const std::string client_files = " --tls_cert=client.crt --tls_key=client.key";

  EXPECT_EQ(RunInFolder(*folder_, common + client_files + " --token_file=client-token"), 0);
  EXPECT_NE(RunInFolder(*folder_, common + client_files), 0) << "no token must fail";
  EXPECT_NE(RunInFolder(*folder_, common + " --token_file=client-token"), 0)
      << "no client certificate must fail";
}

TEST(TokenFileTest, EmptyTokenFileIsRejected) {
  const fs::path path = fs::path(::testing::TempDir()) / "empty-tokens";
  std::ofstream(path) << "# no token here\n\n";
  ServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.metrics_port = -1;
  options.model_repository = testing::SharedDir() + "/models";
  options.auth_token_file = path.string();
  const auto server = Server::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find(path.string()), std::string::npos);
}

}  // namespace
}  // namespace atman::service
