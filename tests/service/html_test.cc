// `atman explain --html=FILE` against the real server on loopback, with the
// page rendered by headless Chromium to a screenshot that must show colour.

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/service/service_test_support.h"

extern char** environ;

namespace atman::service_test {
namespace {

// Full path of `program` in $PATH, or empty when it is not there.
std::string FindInPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  for (const absl::string_view folder : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(folder, "/", program);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Runs `argv` with stdout and stderr appended to `log_path` and waits for it.
// Returns the status from waitpid, or -1 when it cannot start.
int RunProcess(const std::vector<std::string>& argv, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);

  std::vector<std::string> copies = argv;
  std::vector<char*> pointers;
  for (std::string& argument : copies) pointers.push_back(argument.data());
  pointers.push_back(nullptr);
  pid_t pid = -1;
  const int spawned =
      posix_spawn(&pid, pointers[0], &actions, nullptr, pointers.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return status;
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

uint32_t BigEndian32(const std::string& bytes, size_t offset) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<uint8_t>(bytes[offset + i]);
  return value;
}

// An 8-bit RGB or RGBA image decoded from a non-interlaced PNG.
struct Image {
  uint32_t width = 0;
  uint32_t height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;  // Rows of width * channels bytes.
  std::string error;
};

uint8_t Paeth(int left, int up, int up_left) {
  const int estimate = left + up - up_left;
  const int to_left = std::abs(estimate - left);
  const int to_up = std::abs(estimate - up);
  const int to_up_left = std::abs(estimate - up_left);
  if (to_left <= to_up && to_left <= to_up_left) return static_cast<uint8_t>(left);
  if (to_up <= to_up_left) return static_cast<uint8_t>(up);
  return static_cast<uint8_t>(up_left);
}

// Reverses the PNG row filters of `raw` (one filter byte per row) in place
// into image.pixels.
bool Unfilter(const std::vector<uint8_t>& raw, Image& image) {
  const size_t stride = static_cast<size_t>(image.width) * image.channels;
  image.pixels.assign(stride * image.height, 0);
  for (uint32_t y = 0; y < image.height; ++y) {
    const uint8_t filter = raw[y * (stride + 1)];
    const uint8_t* in = &raw[y * (stride + 1) + 1];
    uint8_t* out = &image.pixels[y * stride];
    const uint8_t* previous = y > 0 ? out - stride : nullptr;
    for (size_t x = 0; x < stride; ++x) {
      const int left = x >= static_cast<size_t>(image.channels) ? out[x - image.channels] : 0;
      const int up = previous != nullptr ? previous[x] : 0;
      const int up_left =
          previous != nullptr && x >= static_cast<size_t>(image.channels)
              ? previous[x - image.channels]
              : 0;
      int predictor = 0;
      switch (filter) {
        case 0: predictor = 0; break;
        case 1: predictor = left; break;
        case 2: predictor = up; break;
        case 3: predictor = (left + up) / 2; break;
        case 4: predictor = Paeth(left, up, up_left); break;
        default: return false;
      }
      out[x] = static_cast<uint8_t>(in[x] + predictor);
    }
  }
  return true;
}

Image DecodePng(const std::string& bytes) {
  Image image;
  static const std::string kSignature = "\x89PNG\r\n\x1a\n";
  if (bytes.compare(0, kSignature.size(), kSignature) != 0) {
    image.error = "no PNG signature";
    return image;
  }
  std::string compressed;
  int bit_depth = 0;
  int color_type = 0;
  int interlace = 0;
  for (size_t offset = kSignature.size(); offset + 8 <= bytes.size();) {
    const uint32_t length = BigEndian32(bytes, offset);
    const std::string type = bytes.substr(offset + 4, 4);
    const size_t data = offset + 8;
    if (data + length + 4 > bytes.size()) break;
    if (type == "IHDR") {
      image.width = BigEndian32(bytes, data);
      image.height = BigEndian32(bytes, data + 4);
      bit_depth = static_cast<uint8_t>(bytes[data + 8]);
      color_type = static_cast<uint8_t>(bytes[data + 9]);
      interlace = static_cast<uint8_t>(bytes[data + 12]);
    } else if (type == "IDAT") {
      compressed += bytes.substr(data, length);
    }
    offset = data + length + 4;
  }

  if (bit_depth != 8 || (color_type != 2 && color_type != 6) || interlace != 0) {
    image.error = absl::StrCat("unsupported PNG: bit depth ", bit_depth, ", colour type ",
                               color_type, ", interlace ", interlace);
    return image;
  }
  image.channels = color_type == 6 ? 4 : 3;
  std::vector<uint8_t> raw((static_cast<size_t>(image.width) * image.channels + 1) *
                           image.height);
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(compressed.data()),
                 compressed.size()) != Z_OK ||
      raw_size != raw.size()) {
    image.error = "the image data does not inflate to the size in IHDR";
    return image;
  }
  if (!Unfilter(raw, image)) image.error = "unknown PNG row filter";
  return image;
}

TEST(HtmlTest, ScreenshotShowsColouredPrompt) {
  const std::string chromium = FindInPath("chromium");
  if (chromium.empty()) {
    GTEST_SKIP() << "chromium is not installed; install the Debian packages chromium and "
                    "fonts-dejavu-core to run this test";
  }
  const std::string timeout = FindInPath("timeout");
  ASSERT_FALSE(timeout.empty()) << "coreutils timeout is not in PATH";

  auto started = StartTestServer();
  ASSERT_TRUE(started.ok()) << started.status();
  TemporaryDirectory scratch;
  const std::string html = scratch.path() + "/explanation.html";
  const std::string png = scratch.path() + "/explanation.png";
  const std::string log = scratch.path() + "/processes.log";

  const int client_status = RunProcess(
      {timeout, "120", ATMAN_CLIENT_BINARY, "explain",
       absl::StrCat("--server=127.0.0.1:", started->server->port()),
       "--prompt=Tom had a big red ball. He liked to kick the ball. One day, Tom kicked the",
       "--target= ball", "--color=never", "--html=" + html},
      log);
  ASSERT_TRUE(WIFEXITED(client_status)) << "atman explain did not exit:\n" << ReadFile(log);
  ASSERT_EQ(WEXITSTATUS(client_status), 0) << "atman explain failed:\n" << ReadFile(log);
  const std::string page = ReadFile(html);
  ASSERT_FALSE(page.empty()) << "atman explain wrote no page";
  EXPECT_NE(page.find(" had"), std::string::npos) << "the page does not show the prompt";

  const int chromium_status = RunProcess(
      {timeout, "180", chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
       "--disable-quic", "--no-first-run", "--disable-background-networking",
       "--disable-component-update", "--disable-sync",
       "--user-data-dir=" + scratch.path() + "/profile", "--screenshot=" + png,
       "--window-size=1000,700", "file://" + html},
      log);
  ASSERT_TRUE(WIFEXITED(chromium_status)) << "chromium did not exit:\n" << ReadFile(log);
  ASSERT_EQ(WEXITSTATUS(chromium_status), 0)
      << "chromium failed or timed out after 180 s:\n" << ReadFile(log);

  const std::string bytes = ReadFile(png);
  ASSERT_GT(bytes.size(), 1000u) << "the screenshot is missing or nearly empty";
  const Image image = DecodePng(bytes);
  ASSERT_TRUE(image.error.empty()) << image.error;
  EXPECT_EQ(image.width, 1000u);
  EXPECT_EQ(image.height, 700u);

  // Heatmap cells are saturated colours, while text and background are grey.
  std::set<uint32_t> colours;
  int64_t saturated_pixels = 0;
  for (size_t i = 0; i + 2 < image.pixels.size(); i += image.channels) {
    const int red = image.pixels[i];
    const int green = image.pixels[i + 1];
    const int blue = image.pixels[i + 2];
    colours.insert(static_cast<uint32_t>(red << 16 | green << 8 | blue));
    if (std::max({red, green, blue}) - std::min({red, green, blue}) > 40) ++saturated_pixels;
  }
  std::printf("Screenshot %s: %zu bytes, %zu colours, %lld saturated pixels\n", png.c_str(),
              bytes.size(), colours.size(), static_cast<long long>(saturated_pixels));
  EXPECT_GT(colours.size(), 16u) << "the screenshot is nearly one flat colour";
  EXPECT_GT(saturated_pixels, 1000) << "the screenshot shows no coloured units";

  // Keeps the screenshot for a person to look at when ATMAN_KEEP_SCREENSHOT
  // names a path.
  if (const char* keep = std::getenv("ATMAN_KEEP_SCREENSHOT"); keep != nullptr && *keep != '\0') {
    std::filesystem::copy_file(png, keep, std::filesystem::copy_options::overwrite_existing);
  }
}

}  // namespace
}  // namespace atman::service_test
