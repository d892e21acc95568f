// Renders the ListModels response as a table for the terminal.
#ifndef ATMAN_CLIENT_RENDER_MODELS_H_
#define ATMAN_CLIENT_RENDER_MODELS_H_

#include <cstdint>
#include <string>

#include "atman/v1/atman.pb.h"

namespace atman::client {

// Returns a table with one row per model and a header row. The default
// model is marked with '*' in the first column.
std::string RenderModelsTable(const atman::v1::ListModelsResponse& response);

// Returns a parameter count with a unit suffix, e.g. "15.2M" or "6.74B".
std::string FormatParameterCount(int64_t parameters);

}  // namespace atman::client

#endif  // ATMAN_CLIENT_RENDER_MODELS_H_
