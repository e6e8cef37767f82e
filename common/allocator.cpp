#include "common/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mha2mla {

void keep_freed_tensor_memory() {
#if defined(__GLIBC__)
  constexpr int kOneGiB = 1 << 30;
  mallopt(M_MMAP_THRESHOLD, kOneGiB);
  mallopt(M_TRIM_THRESHOLD, kOneGiB);
#endif
}

}  // namespace mha2mla
