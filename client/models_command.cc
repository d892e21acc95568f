// `atman models`: lists the models the server has loaded.
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "atman/v1/atman.grpc.pb.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/render_models.h"

namespace atman::client {
namespace {

int Fail(int exit_code, const std::string& message) {
  std::cerr << "atman models: " << message << "\n";
  return exit_code;
}

int PrintModels(const atman::v1::ListModelsResponse& response, const std::string& format) {
  if (format == "text") {
    std::cout << RenderModelsTable(response);
    return kExitSuccess;
  }

  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(response, &json, options);
  if (!status.ok()) {
    return Fail(kExitFailure,
                absl::StrCat("failed to print the models as JSON: ", status.ToString()));
  }
  std::cout << json;
  return kExitSuccess;
}

}  // namespace

int RunModelsCommand(const std::vector<std::string>& args) {
  FlagSet flags("models");
  ConnectionOptions connection_options;
  std::string format = "text";
  int64_t deadline_ms = 10000;
  AddConnectionFlags(flags, &connection_options);
  flags.AddString("format", &format, "output format: text or json");
  flags.AddInt("deadline_ms", &deadline_ms, "gRPC deadline in milliseconds; 0 = none");

  absl::Status status = flags.Parse(args);
  if (!status.ok()) return Fail(kExitUsage, std::string(status.message()));
  if (flags.help_requested()) {
    std::cout << "Usage: atman models [flags]\n" << flags.Usage();
    return kExitSuccess;
  }
  if (format != "text" && format != "json") {
    return Fail(kExitUsage, absl::StrCat("invalid --format=", format, ": expected text or json"));
  }
  if (deadline_ms < 0) {
    return Fail(kExitUsage,
                absl::StrCat("invalid --deadline_ms=", deadline_ms, ": expected >= 0 (0 = none)"));
  }

  absl::StatusOr<std::unique_ptr<Connection>> connection = Connection::Create(connection_options);
  if (!connection.ok()) return Fail(kExitUsage, std::string(connection.status().message()));

  grpc::ClientContext context;
  (*connection)->PrepareContext(&context);
  if (deadline_ms > 0) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  }
  atman::v1::ListModelsResponse response;
  const grpc::Status rpc_status =
      atman::v1::Explainer::NewStub((*connection)->channel())
          ->ListModels(&context, atman::v1::ListModelsRequest(), &response);
  if (!rpc_status.ok()) {
    return Fail(kExitFailure, absl::StrCat("ListModels failed on ", connection_options.server, ": ",
                                           StatusCodeName(rpc_status.error_code()), ": ",
                                           rpc_status.error_message()));
  }
  return PrintModels(response, format);
}

}  // namespace atman::client
