#ifndef ATMAN_TESTS_ENGINE_TEST_PATHS_H_
#define ATMAN_TESTS_ENGINE_TEST_PATHS_H_

#include <cstdlib>
#include <string>

namespace atman::testing {

// Folder with the shared models, golden files and docs: $ATMAN_SHARED_DIR,
// or the path CMake was configured with.
inline std::string SharedDir() {
  const char* value = std::getenv("ATMAN_SHARED_DIR");
  return value != nullptr && *value != '\0' ? value : ATMAN_DEFAULT_SHARED_DIR;
}

inline std::string Stories260kDir() { return SharedDir() + "/models/stories260K"; }

}  // namespace atman::testing

#endif  // ATMAN_TESTS_ENGINE_TEST_PATHS_H_
