#include "client/render_models.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace atman::client {
namespace {

using Row = std::vector<std::string>;

Row ModelRow(const atman::v1::ModelDescription& model) {
  return Row{model.is_default() ? "*" : "",
             model.name(),
             model.version(),
             model.architecture(),
             absl::StrCat(model.context_length()),
             absl::StrCat(model.vocab_size()),
             FormatParameterCount(model.parameters()),
             model.dtype(),
             absl::StrJoin(model.devices(), ",")};
}

std::string JoinRow(const Row& row, const std::vector<size_t>& widths) {
  std::string line;
  for (size_t i = 0; i < row.size(); ++i) {
    line += row[i];
    if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
  }
  return line + "\n";
}

}  // namespace

std::string FormatParameterCount(int64_t parameters) {
  if (parameters >= 1'000'000'000) return absl::StrFormat("%.3gB", parameters / 1e9);
  if (parameters >= 1'000'000) return absl::StrFormat("%.3gM", parameters / 1e6);
  if (parameters >= 1'000) return absl::StrFormat("%.3gK", parameters / 1e3);
  return absl::StrCat(parameters);
}

std::string RenderModelsTable(const atman::v1::ListModelsResponse& response) {
  if (response.models_size() == 0) return "No models are loaded.\n";

  std::vector<Row> rows = {Row{"default", "name", "version", "architecture", "context", "vocab",
                               "params", "dtype", "devices"}};
  for (const atman::v1::ModelDescription& model : response.models()) {
    rows.push_back(ModelRow(model));
  }

  std::vector<size_t> widths(rows[0].size(), 0);
  for (const Row& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }

  std::string table;
  for (const Row& row : rows) table += JoinRow(row, widths);
  return table;
}

}  // namespace atman::client
