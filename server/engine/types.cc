#include "server/engine/types.h"

namespace atman::engine {

const char* GranularityName(Granularity granularity) {
  switch (granularity) {
    case Granularity::kToken:
      return "TOKEN";
    case Granularity::kWord:
      return "WORD";
    case Granularity::kSentence:
      return "SENTENCE";
    case Granularity::kParagraph:
      return "PARAGRAPH";
    case Granularity::kCustom:
      return "CUSTOM";
  }
  return "UNKNOWN";
}

const char* ControlModeName(ControlMode mode) {
  return mode == ControlMode::kMultiplicative ? "MULTIPLICATIVE" : "LOG_ADDITIVE";
}

const char* TargetGranularityName(TargetGranularity granularity) {
  return granularity == TargetGranularity::kComplete ? "COMPLETE" : "PER_TOKEN";
}

const char* PostprocessingName(Postprocessing postprocessing) {
  switch (postprocessing) {
    case Postprocessing::kNone:
      return "NONE";
    case Postprocessing::kAbsolute:
      return "ABSOLUTE";
    case Postprocessing::kSquare:
      return "SQUARE";
  }
  return "UNKNOWN";
}

}  // namespace atman::engine
