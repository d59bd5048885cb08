#include "common/allocator.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace utpost::common {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

long ThreadMinorFaults() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

// What a worker does per letter of 1 MiB, eight letters at a time: fill buffers (the parsed
// request, the sealed document), then free them all.
void FillAndFree(size_t buffers, size_t bytes) {
  std::vector<char*> blocks;
  for (size_t i = 0; i < buffers; ++i) {
    auto* block = static_cast<char*>(std::malloc(bytes));
    ASSERT_NE(block, nullptr);
    std::memset(block, static_cast<int>(i + 1), bytes);
    // Keeps the compiler from eliding the allocation.
    asm volatile("" : : "r"(block) : "memory");
    blocks.push_back(block);
  }
  for (char* block : blocks) std::free(block);
}

TEST(AllocatorTest, FreedDocumentBuffersAreReusedWithoutPageFaults) {
  if (kSanitized) GTEST_SKIP() << "a sanitizer's allocator ignores mallopt";
#if !defined(__GLIBC__)
  GTEST_SKIP() << "not glibc's malloc";
#endif
  ASSERT_TRUE(KeepFreedMemoryForReuse());
  constexpr size_t kBuffers = 8;
  constexpr size_t kBytes = 1 << 20;
  long faults = -1;
  // A thread of its own, as the server's workers are: its blocks come from an arena of their
  // own, which glibc by default shrinks when they are freed.
  std::thread worker([&] {
    FillAndFree(kBuffers, kBytes);
    FillAndFree(kBuffers, kBytes);
    const long before = ThreadMinorFaults();
    FillAndFree(kBuffers, kBytes);
    faults = ThreadMinorFaults() - before;
  });
  worker.join();
  // By default this round faults in every page again (8 MiB: 2,048 faults of 4 KiB).
  EXPECT_GE(faults, 0);
  EXPECT_LT(faults, static_cast<long>(kBytes / 4096)) << "pages faulted in again: " << faults;
}

}  // namespace
}  // namespace utpost::common
