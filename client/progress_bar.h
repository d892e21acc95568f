// The progress bar `atman explain` draws on stderr while the stream runs.
#ifndef ATMAN_CLIENT_PROGRESS_BAR_H_
#define ATMAN_CLIENT_PROGRESS_BAR_H_

#include <cstdint>
#include <cstdio>
#include <string>

namespace atman::client {

// Returns e.g. "[########------------]  12/30 units  40%" with a bar of
// `width` cells. A total of 0 draws an empty bar.
std::string FormatProgressBar(uint32_t done, uint32_t total, int width);

// Redraws one line of a stream in place with carriage returns. Not thread-safe.
class ProgressLine {
 public:
  // Draws nothing when `enabled` is false.
  ProgressLine(std::FILE* stream, bool enabled) : stream_(stream), enabled_(enabled) {}

  void Update(uint32_t done, uint32_t total);

  // Ends the line with a newline if anything was drawn, so later output
  // starts on a fresh line.
  void Finish();

 private:
  std::FILE* stream_;
  bool enabled_;
  bool drawn_ = false;
};

}  // namespace atman::client

#endif  // ATMAN_CLIENT_PROGRESS_BAR_H_
