#include "client/explain_request.h"

#include <fstream>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace atman::client {
namespace {

template <typename Enum>
using EnumNames = std::vector<std::pair<std::string, Enum>>;

// Sets *value from a lower-case enum name, or leaves it unchanged for "".
template <typename Enum>
absl::Status ParseEnumFlag(const std::string& flag, const std::string& text,
                           const EnumNames<Enum>& names, Enum* value) {
  if (text.empty()) return absl::OkStatus();

  const std::string lower = absl::AsciiStrToLower(text);
  std::vector<std::string> accepted;
  for (const auto& [name, enum_value] : names) {
    if (lower == name) {
      *value = enum_value;
      return absl::OkStatus();
    }
    accepted.push_back(name);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid --", flag, "=", text, ": expected one of ", absl::StrJoin(accepted, ", ")));
}

absl::StatusOr<uint32_t> ToUint32(const std::string& flag, int64_t value) {
  if (value < 0 || value > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --", flag, "=", value, ": expected 0 to ", std::numeric_limits<uint32_t>::max()));
  }
  return static_cast<uint32_t>(value);
}

absl::StatusOr<std::string> ReadPromptFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("failed to read --prompt_file=", path, ": the file is missing or unreadable"));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::Status SetPrompt(const ExplainFlags& values, const FlagSet& flags, BuiltRequest* built) {
  const int prompt_flags_set =
      flags.WasSet("prompt") + flags.WasSet("prompt_file") + flags.WasSet("prompt_ids");
  if (prompt_flags_set != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected exactly one of --prompt, --prompt_file and --prompt_ids, got ",
                     prompt_flags_set));
  }

  if (flags.WasSet("prompt_ids")) {
    absl::StatusOr<atman::v1::TokenIds> ids = ParseTokenIds(values.prompt_ids);
    if (!ids.ok()) return ids.status();
    *built->request.mutable_prompt()->mutable_token_ids() = *std::move(ids);
    return absl::OkStatus();
  }

  if (flags.WasSet("prompt_file")) {
    absl::StatusOr<std::string> text = ReadPromptFile(values.prompt_file);
    if (!text.ok()) return text.status();
    built->prompt_text = *std::move(text);
  } else {
    built->prompt_text = values.prompt;
  }
  built->request.mutable_prompt()->set_text(built->prompt_text);
  return absl::OkStatus();
}

const EnumNames<atman::v1::Granularity>& GranularityNames() {
  static const auto* names =
      new EnumNames<atman::v1::Granularity>{{"token", atman::v1::TOKEN},
                                            {"word", atman::v1::WORD},
                                            {"sentence", atman::v1::SENTENCE},
                                            {"paragraph", atman::v1::PARAGRAPH},
                                            {"custom", atman::v1::CUSTOM}};
  return *names;
}

const EnumNames<atman::v1::ControlMode>& ControlModeNames() {
  static const auto* names = new EnumNames<atman::v1::ControlMode>{
      {"multiplicative", atman::v1::MULTIPLICATIVE}, {"log_additive", atman::v1::LOG_ADDITIVE}};
  return *names;
}

const EnumNames<atman::v1::TargetGranularity>& TargetGranularityNames() {
  static const auto* names = new EnumNames<atman::v1::TargetGranularity>{
      {"complete", atman::v1::COMPLETE}, {"per_token", atman::v1::PER_TOKEN}};
  return *names;
}

const EnumNames<atman::v1::Postprocessing>& PostprocessingNames() {
  static const auto* names = new EnumNames<atman::v1::Postprocessing>{
      {"none", atman::v1::NONE}, {"absolute", atman::v1::ABSOLUTE}, {"square", atman::v1::SQUARE}};
  return *names;
}

absl::Status SetEnums(const ExplainFlags& values, atman::v1::ExplainRequest* request) {
  atman::v1::Granularity granularity = atman::v1::GRANULARITY_UNSPECIFIED;
  atman::v1::ControlMode control_mode = atman::v1::CONTROL_MODE_UNSPECIFIED;
  atman::v1::TargetGranularity target_granularity = atman::v1::TARGET_GRANULARITY_UNSPECIFIED;
  atman::v1::Postprocessing postprocessing = atman::v1::POSTPROCESSING_UNSPECIFIED;

  for (const absl::Status& status :
       {ParseEnumFlag("granularity", values.granularity, GranularityNames(), &granularity),
        ParseEnumFlag("control_mode", values.control_mode, ControlModeNames(), &control_mode),
        ParseEnumFlag("target_granularity", values.target_granularity, TargetGranularityNames(),
                      &target_granularity),
        ParseEnumFlag("postprocessing", values.postprocessing, PostprocessingNames(),
                      &postprocessing)}) {
    if (!status.ok()) return status;
  }

  request->set_granularity(granularity);
  request->set_control_mode(control_mode);
  request->set_target_granularity(target_granularity);
  request->set_postprocessing(postprocessing);
  return absl::OkStatus();
}

absl::Status SetNumbers(const ExplainFlags& values, const FlagSet& flags,
                        atman::v1::ExplainRequest* request) {
  absl::StatusOr<uint32_t> max_new_tokens = ToUint32("max_new_tokens", values.max_new_tokens);
  if (!max_new_tokens.ok()) return max_new_tokens.status();
  absl::StatusOr<uint32_t> batch_size = ToUint32("batch_size", values.batch_size);
  if (!batch_size.ok()) return batch_size.status();

  request->set_max_new_tokens(*max_new_tokens);
  request->set_batch_size(*batch_size);
  if (flags.WasSet("control_factor")) {
    request->set_control_factor(static_cast<float>(values.control_factor));
  }
  if (flags.WasSet("similarity_threshold")) {
    request->set_similarity_threshold(static_cast<float>(values.similarity_threshold));
  }
  if (flags.WasSet("scale_by_similarity")) {
    request->set_scale_by_similarity(values.scale_by_similarity);
  }
  return absl::OkStatus();
}

}  // namespace

void AddExplainRequestFlags(FlagSet& flags, ExplainFlags* values) {
  flags.AddString("prompt", &values->prompt, "prompt text to explain");
  flags.AddString("prompt_file", &values->prompt_file, "file whose whole content is the prompt");
  flags.AddString("prompt_ids", &values->prompt_ids,
                  "prompt as comma-separated token ids without BOS, e.g. 1,2,3");
  flags.AddString("target", &values->target,
                  "continuation to explain; empty = the server generates one greedily");
  flags.AddString("model", &values->model, "model name; empty = the server's default model");
  flags.AddInt("max_new_tokens", &values->max_new_tokens,
               "max length of a generated target, in tokens; 0 = the server's default");
  flags.AddString("granularity", &values->granularity,
                  "unit of the prompt: token, word, sentence, paragraph or custom; "
                  "empty = the server's default (token)");
  flags.AddString("delimiter", &values->delimiter,
                  "for --granularity=custom: a unit ends after each occurrence");
  flags.AddString("control_mode", &values->control_mode,
                  "multiplicative or log_additive; empty = the server's default (multiplicative)");
  flags.AddDouble("control_factor", &values->control_factor,
                  "modifier of each suppressed token; sent only when given");
  flags.AddDouble("similarity_threshold", &values->similarity_threshold,
                  "cosine similarity threshold of correlated suppression; sent only when given");
  flags.AddBool("scale_by_similarity", &values->scale_by_similarity,
                "scale correlated modifiers by similarity; sent only when given");
  flags.AddString("target_granularity", &values->target_granularity,
                  "complete or per_token; empty = the server's default (complete)");
  flags.AddString("postprocessing", &values->postprocessing,
                  "none, absolute or square; empty = the server's default (none)");
  flags.AddBool("normalize", &values->normalize, "min-max scale each explanation to [0, 1]");
  flags.AddInt("batch_size", &values->batch_size,
               "perturbations per forward batch; 0 = the server's choice");
}

absl::StatusOr<BuiltRequest> BuildExplainRequest(const ExplainFlags& values, const FlagSet& flags) {
  BuiltRequest built;
  absl::Status status = SetPrompt(values, flags, &built);
  if (status.ok()) status = SetEnums(values, &built.request);
  if (status.ok()) status = SetNumbers(values, flags, &built.request);
  if (!status.ok()) return status;

  built.request.set_model(values.model);
  built.request.set_target(values.target);
  built.request.set_delimiter(values.delimiter);
  built.request.set_normalize(values.normalize);
  return built;
}

absl::StatusOr<atman::v1::TokenIds> ParseTokenIds(const std::string& text) {
  atman::v1::TokenIds ids;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &id) || id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid --prompt_ids element '", part,
                       "': expected non-negative integers separated by commas, e.g. 1,2,3"));
    }
    ids.add_ids(id);
  }
  return ids;
}

}  // namespace atman::client
