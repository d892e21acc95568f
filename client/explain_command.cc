// `atman explain`: sends one Explain request and renders the explanation.
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/explain_call.h"
#include "client/explain_request.h"
#include "client/progress_bar.h"
#include "client/render_html.h"
#include "client/render_text.h"

namespace atman::client {
namespace {

// Flags of `atman explain` that shape the call and the output.
struct OutputFlags {
  std::string format = "text";
  std::string html;
  std::string color = "auto";
  bool no_color = false;
  bool progress = false;
  int64_t deadline_ms = 0;
};

void AddOutputFlags(FlagSet& flags, OutputFlags* values) {
  flags.AddString("format", &values->format, "output format: text or json");
  flags.AddString("html", &values->html, "also write the explanation as an HTML page to FILE");
  flags.AddString("color", &values->color,
                  "colour the text heatmap: auto (when stdout is a terminal), always or never");
  flags.AddBool("no_color", &values->no_color, "print scores in brackets instead of colours");
  flags.AddBool("progress", &values->progress,
                "show the progress bar on stderr even when stderr is not a terminal");
  flags.AddInt("deadline_ms", &values->deadline_ms,
               "gRPC deadline of the request in milliseconds; 0 = none");
}

absl::Status ValidateOutputFlags(const OutputFlags& values) {
  if (values.format != "text" && values.format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --format=", values.format, ": expected text or json"));
  }
  if (values.color != "auto" && values.color != "always" && values.color != "never") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --color=", values.color, ": expected auto, always or never"));
  }
  if (values.deadline_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --deadline_ms=", values.deadline_ms, ": expected >= 0 (0 = none)"));
  }
  return absl::OkStatus();
}

// Colours are off for --no_color, --color=never, and with --color=auto when
// stdout is no terminal or the NO_COLOR environment variable is set.
bool UseColor(const OutputFlags& values) {
  if (values.no_color || values.color == "never") return false;
  if (values.color == "always") return true;
  return isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
}

std::optional<std::chrono::system_clock::time_point> Deadline(int64_t deadline_ms) {
  if (deadline_ms <= 0) return std::nullopt;
  return std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms);
}

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) {
    return absl::UnavailableError(absl::StrCat("failed to write --html=", path,
                                               ": check that the folder exists and is writable"));
  }
  return absl::OkStatus();
}

absl::Status PrintResult(const atman::v1::ExplainResponse& response, const std::string& prompt_text,
                         const OutputFlags& values) {
  if (values.format == "json") {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    options.add_whitespace = true;
    std::string json;
    auto status = google::protobuf::util::MessageToJsonString(response, &json, options);
    if (!status.ok()) {
      return absl::InternalError(
          absl::StrCat("failed to print the response as JSON: ", status.ToString()));
    }
    std::cout << json;
  } else {
    TextRenderOptions options;
    options.color = UseColor(values);
    options.prompt_text = prompt_text;
    std::cout << RenderExplanationText(response.explanation(), options);
  }
  std::cout.flush();

  if (values.html.empty()) return absl::OkStatus();
  HtmlRenderOptions html_options;
  html_options.prompt_text = prompt_text;
  return WriteFile(values.html, RenderExplanationHtml(response.explanation(), html_options));
}

int Fail(int exit_code, const std::string& message) {
  std::cerr << "atman explain: " << message << "\n";
  return exit_code;
}

// Sends the request, draws progress while the stream runs, and prints the result.
int ExplainAndPrint(const Connection& connection, const std::string& server,
                    const BuiltRequest& built, const OutputFlags& values) {
  auto stub = atman::v1::Explainer::NewStub(connection.channel());
  ProgressLine progress(stderr, values.progress || isatty(STDERR_FILENO));
  const ProgressCallback on_progress = [&progress](const atman::v1::Progress& update) {
    progress.Update(update.units_done(), update.units_total());
  };

  atman::v1::ExplainResponse response;
  const grpc::Status rpc_status = CallExplain(connection, *stub, built.request,
                                              Deadline(values.deadline_ms), on_progress, &response);
  progress.Finish();
  if (!rpc_status.ok()) {
    return Fail(kExitFailure, absl::StrCat("Explain failed on ", server, ": ",
                                           StatusCodeName(rpc_status.error_code()), ": ",
                                           rpc_status.error_message()));
  }

  const absl::Status status = PrintResult(response, built.prompt_text, values);
  return status.ok() ? kExitSuccess : Fail(kExitFailure, std::string(status.message()));
}

}  // namespace

int RunExplainCommand(const std::vector<std::string>& args) {
  FlagSet flags("explain");
  ConnectionOptions connection_options;
  ExplainFlags request_flags;
  OutputFlags output_flags;
  AddConnectionFlags(flags, &connection_options);
  AddExplainRequestFlags(flags, &request_flags);
  AddOutputFlags(flags, &output_flags);

  absl::Status status = flags.Parse(args);
  if (status.ok() && flags.help_requested()) {
    std::cout << "Usage: atman explain --prompt=TEXT [--target=TEXT] [flags]\n" << flags.Usage();
    return kExitSuccess;
  }
  if (status.ok()) status = ValidateOutputFlags(output_flags);
  if (!status.ok()) return Fail(kExitUsage, std::string(status.message()));

  absl::StatusOr<BuiltRequest> built = BuildExplainRequest(request_flags, flags);
  if (!built.ok()) return Fail(kExitUsage, std::string(built.status().message()));
  absl::StatusOr<std::unique_ptr<Connection>> connection = Connection::Create(connection_options);
  if (!connection.ok()) return Fail(kExitUsage, std::string(connection.status().message()));

  return ExplainAndPrint(**connection, connection_options.server, *built, output_flags);
}

}  // namespace atman::client
