#include "server/engine/allocator_tuning.h"

#include <malloc.h>

#include <limits>

#include <glog/logging.h>

namespace atman::engine {

void KeepFreedMemoryForReuse() {
  // No allocation is served by mmap, and the top of the heap is never
  // trimmed, so freed blocks stay mapped for the next pass.
  const bool mmap_off = mallopt(M_MMAP_MAX, 0) == 1;
  const bool trim_off = mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1;
  if (!mmap_off || !trim_off) {
    LOG(WARNING) << "mallopt failed; large tensors will be mapped and unmapped on every pass";
  }
}

}  // namespace atman::engine
