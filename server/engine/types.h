#ifndef ATMAN_SERVER_ENGINE_TYPES_H_
#define ATMAN_SERVER_ENGINE_TYPES_H_

// Plain value types shared by the engine, the scheduler and the service.
// Nothing here depends on LibTorch, gRPC or protobuf.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace atman::engine {

enum class Granularity { kToken, kWord, kSentence, kParagraph, kCustom };
enum class ControlMode { kMultiplicative, kLogAdditive };
enum class TargetGranularity { kComplete, kPerToken };
enum class Postprocessing { kNone, kAbsolute, kSquare };

const char* GranularityName(Granularity granularity);
const char* ControlModeName(ControlMode mode);
const char* TargetGranularityName(TargetGranularity granularity);
const char* PostprocessingName(Postprocessing postprocessing);

// AtMan settings of one explanation, with every default filled in.
struct ExplainSettings {
  Granularity granularity = Granularity::kToken;
  // Cut point for kCustom: a unit ends after each occurrence.
  std::string delimiter;
  ControlMode control_mode = ControlMode::kMultiplicative;
  // Modifier given to every token of the suppressed unit (1 = untouched).
  float control_factor = 0.1f;
  // Cosine similarity threshold for correlated suppression; unset = off.
  std::optional<float> similarity_threshold;
  bool scale_by_similarity = true;
  TargetGranularity target_granularity = TargetGranularity::kComplete;
  Postprocessing postprocessing = Postprocessing::kNone;
  bool normalize = false;
};

// One explanation request in the engine's terms.
struct ExplainInput {
  // Exactly one of prompt_text and prompt_token_ids is used, per prompt_is_text.
  bool prompt_is_text = true;
  std::string prompt_text;
  // Token ids without BOS; BOS is put in front by the engine.
  std::vector<int32_t> prompt_token_ids;
  // Continuation to explain; empty = generate greedily up to max_new_tokens.
  std::string target;
  uint32_t max_new_tokens = 0;
  ExplainSettings settings;
};

// One token with its character span. Spans count Unicode code points of the
// text that was tokenized: prompt text followed by the target text.
struct TokenInfo {
  int32_t id = 0;
  std::string text;
  int32_t start = 0;
  int32_t length = 0;
};

// One explained unit (chunk) of the prompt.
struct Unit {
  // Code-point span in the prompt text.
  int32_t start = 0;
  int32_t length = 0;
  std::string text;
  // Input positions of the unit's tokens (BOS = 0).
  std::vector<int32_t> token_positions;
};

struct UnitScore {
  Unit unit;
  double score = 0.0;
};

// Scores for the whole target (target_token_index = -1) or one target token.
struct ScoreSet {
  int32_t target_token_index = -1;
  std::vector<UnitScore> spans;
};

struct ExplainResult {
  std::string model;
  std::string model_version;
  ExplainSettings settings;
  std::vector<TokenInfo> prompt_tokens;
  std::vector<TokenInfo> target_tokens;
  std::string target;
  bool generated = false;
  std::vector<double> baseline_cross_entropy;
  std::vector<ScoreSet> explanations;
  int64_t forward_passes = 0;
};

// Description of a loaded model: identity, shape and checkpoint format.
struct ModelInfo {
  std::string name;
  std::string version;
  std::string architecture;
  std::string format;
  int64_t context_length = 0;
  int64_t vocab_size = 0;
  int64_t parameters = 0;
  std::string dtype;
  int64_t dim = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t hidden_dim = 0;
};

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_TYPES_H_
