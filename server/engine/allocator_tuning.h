#ifndef ATMAN_SERVER_ENGINE_ALLOCATOR_TUNING_H_
#define ATMAN_SERVER_ENGINE_ALLOCATOR_TUNING_H_

namespace atman::engine {

// Makes glibc malloc keep large freed blocks for reuse instead of returning
// them to the kernel. LibTorch on the CPU allocates every attention score
// tensor (tens of MB) with malloc. By default glibc serves such blocks with
// mmap and unmaps them on free, so every forward pass pays page faults to
// zero fresh pages. On stories260K that cost about a quarter of an
// explanation's time (atman_bench, 256 tokens, 2 cores). After this call the
// heap stays at its high-water mark. Call once at start, before other
// threads allocate.
void KeepFreedMemoryForReuse();

}  // namespace atman::engine

#endif  // ATMAN_SERVER_ENGINE_ALLOCATOR_TUNING_H_
