// Turns cross entropies into AtMan scores with post-processing.

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/engine/explainer.h"

namespace atman::engine {
namespace {

// Spread below which min-max normalization reports zeros instead of
// stretching rounding noise.
constexpr double kMinNormalizeSpread = 1e-6;

double PostProcess(double score, Postprocessing postprocessing) {
  switch (postprocessing) {
    case Postprocessing::kAbsolute:
      return std::abs(score);
    case Postprocessing::kSquare:
      return score * score;
    case Postprocessing::kNone:
      break;
  }
  return score;
}

void Normalize(std::vector<UnitScore>& spans) {
  if (spans.empty()) return;
  const auto [low, high] = std::minmax_element(
      spans.begin(), spans.end(),
      [](const UnitScore& a, const UnitScore& b) { return a.score < b.score; });
  const double min = low->score;
  const double spread = high->score - min;
  for (UnitScore& span : spans) {
    span.score = spread <= kMinNormalizeSpread ? 0.0 : (span.score - min) / spread;
  }
}

// Scores of every unit for target token `t`, or summed over all tokens when
// t is -1.
ScoreSet MakeScoreSet(const PreparedExplanation& prepared,
                      const std::vector<CrossEntropies>& perturbed, int32_t t) {
  ScoreSet set;
  set.target_token_index = t;
  const auto count = static_cast<int32_t>(prepared.target_ids.size());
  for (size_t k = 0; k < prepared.units.size(); ++k) {
    double score = 0.0;
    for (int32_t token = 0; token < count; ++token) {
      if (t >= 0 && token != t) continue;
      score += perturbed[k][token] - prepared.baseline_cross_entropy[token];
    }
    set.spans.push_back({prepared.units[k], PostProcess(score, prepared.settings.postprocessing)});
  }
  if (prepared.settings.normalize) Normalize(set.spans);
  return set;
}

}  // namespace

absl::StatusOr<ExplainResult> Finalize(const PreparedExplanation& prepared,
                                       const std::vector<CrossEntropies>& perturbed) {
  if (perturbed.size() != prepared.units.size()) {
    return absl::InternalError(absl::StrCat("got cross entropies for ", perturbed.size(),
                                            " perturbations, expected ", prepared.units.size()));
  }
  for (const CrossEntropies& row : perturbed) {
    if (row.size() != prepared.target_ids.size()) {
      return absl::InternalError(absl::StrCat("a perturbation has ", row.size(),
                                              " cross entropies, expected ",
                                              prepared.target_ids.size()));
    }
  }

  ExplainResult result;
  result.model = prepared.model;
  result.model_version = prepared.model_version;
  result.settings = prepared.settings;
  result.prompt_tokens = prepared.prompt_tokens;
  result.target_tokens = prepared.target_tokens;
  result.target = prepared.target_text;
  result.generated = prepared.generated;
  result.baseline_cross_entropy = prepared.baseline_cross_entropy;
  result.forward_passes = prepared.forward_passes + static_cast<int64_t>(perturbed.size());

  if (prepared.settings.target_granularity == TargetGranularity::kComplete) {
    result.explanations.push_back(MakeScoreSet(prepared, perturbed, -1));
  } else {
    for (int32_t t = 0; t < static_cast<int32_t>(prepared.target_ids.size()); ++t) {
      result.explanations.push_back(MakeScoreSet(prepared, perturbed, t));
    }
  }
  return result;
}

}  // namespace atman::engine
