#include "common/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace utpost::common {

bool KeepFreedMemoryForReuse() {
#if defined(__GLIBC__)
  // Setting either threshold also turns off glibc's own adjustment of both.
  return ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(kAllocatorRetainBytes)) == 1 &&
         ::mallopt(M_TRIM_THRESHOLD, static_cast<int>(kAllocatorRetainBytes)) == 1;
#else
  return false;
#endif
}

}  // namespace utpost::common
