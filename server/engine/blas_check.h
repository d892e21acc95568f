#ifndef ATMAN_SERVER_ENGINE_BLAS_CHECK_H_
#define ATMAN_SERVER_ENGINE_BLAS_CHECK_H_

#include <string>

namespace atman::engine {

// Path of the BLAS library mapped into this process (the file that
// libblas.so.3 resolves to), or an empty string when none is mapped.
std::string LoadedBlasLibrary();

// True when the mapped BLAS is OpenBLAS. Debian's LibTorch uses the system
// libblas.so.3, and the reference BLAS is about 20 times slower.
bool IsOpenBlas(const std::string& path);

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_BLAS_CHECK_H_
