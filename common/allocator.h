// Process-wide malloc policy for tensor workloads.
#pragma once

namespace mha2mla {

// glibc hands blocks above its mmap threshold (128 KiB, raised dynamically up to 32 MiB) straight back to the
// kernel on free, and trims the heap top above twice that; the next tensor of the same size is then mapped
// afresh and every page faults in again on first touch. In a forward pass that re-allocates the same
// activations layer after layer this costs a visible share of the time (the vision-tower benchmark measured
// the page-faulting bias copies of addmm at ~5% of a Qwen ViT forward; see docs/benchmarks.md). Raising both
// thresholds to 1 GiB keeps freed blocks in the heap for reuse, as a caching allocator would; the price is
// that the process keeps up to its peak heap instead of shrinking between steps. Call once, early in main().
void keep_freed_tensor_memory();

}  // namespace mha2mla
