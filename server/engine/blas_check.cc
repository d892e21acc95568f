#include "server/engine/blas_check.h"

#include <fstream>

namespace atman::engine {

std::string LoadedBlasLibrary() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if (path.find("libblas") != std::string::npos || path.find("libopenblas") != std::string::npos ||
        path.find("libmkl") != std::string::npos) {
      return path;
    }
  }
  return std::string();
}

bool IsOpenBlas(const std::string& path) { return path.find("openblas") != std::string::npos; }

}  // namespace atman::engine
