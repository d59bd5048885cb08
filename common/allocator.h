#pragma once

#include <cstddef>

namespace utpost::common {

// Up to this size a block comes from malloc's arenas, and this much free memory at the top of
// an arena stays there for the next allocation.
inline constexpr size_t kAllocatorRetainBytes = size_t{32} << 20;

// Tells glibc's malloc to keep freed memory for reuse instead of giving it back to the kernel
// at once. By default glibc maps every block above 128 KiB (a threshold that later rises to
// the largest block freed) and hands free memory at an arena's top back once it exceeds
// twice that. A server that receives, copies and seals documents of a few MiB then pays a
// page fault on every 4 KiB of every buffer it fills, for the same memory over and over.
// Memory stays bounded by what is in use at the peak (admission bounds that), plus at most
// kAllocatorRetainBytes per arena. Call once, first thing in main. False where the allocator is
// not glibc's (or a sanitizer replaced it): nothing is changed then.
bool KeepFreedMemoryForReuse();

}  // namespace utpost::common
