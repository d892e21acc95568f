#ifndef ATMAN_SERVER_SERVICE_REQUEST_CONVERSION_H_
#define ATMAN_SERVER_SERVICE_REQUEST_CONVERSION_H_

// Conversions between the atman.v1 messages and the engine's plain types.

#include "absl/status/statusor.h"
#include "atman/v1/atman.pb.h"
#include "server/engine/types.h"

namespace atman::service {

// Checks the enums and numbers of `request` and fills in every default.
// Returns INVALID_ARGUMENT naming the field and the value for an enum number
// the proto does not define, a missing prompt, or a bad batch size.
absl::StatusOr<engine::ExplainInput> ToExplainInput(const v1::ExplainRequest& request);

// The effective settings, as reported back in the explanation.
v1::EffectiveSettings ToEffectiveSettings(const engine::ExplainSettings& settings,
                                          uint32_t max_new_tokens, uint32_t batch_size);

// Fills `explanation` from an engine result (timing is left to the caller).
void FillExplanation(const engine::ExplainResult& result, v1::Explanation* explanation);

// Describes a loaded model for ListModels.
void FillModelDescription(const engine::ModelInfo& info, const std::vector<std::string>& devices,
                          bool is_default, v1::ModelDescription* description);

}  // namespace atman::service

#endif  // ATMAN_SERVER_SERVICE_REQUEST_CONVERSION_H_
