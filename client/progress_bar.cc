#include "client/progress_bar.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace atman::client {

std::string FormatProgressBar(uint32_t done, uint32_t total, int width) {
  const double fraction =
      total == 0 ? 0.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  const int filled = static_cast<int>(fraction * width);

  std::string bar = "[";
  bar.append(filled, '#');
  bar.append(std::max(width - filled, 0), '-');
  bar += "]";
  return absl::StrFormat("%s %4u/%u units %3d%%", bar, done, total,
                         static_cast<int>(fraction * 100));
}

void ProgressLine::Update(uint32_t done, uint32_t total) {
  if (!enabled_) return;

  std::fprintf(stream_, "\r%s", FormatProgressBar(done, total, 30).c_str());
  std::fflush(stream_);
  drawn_ = true;
}

void ProgressLine::Finish() {
  if (!drawn_) return;

  std::fputc('\n', stream_);
  std::fflush(stream_);
  drawn_ = false;
}

}  // namespace atman::client
