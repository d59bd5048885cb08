#include "common/keyed_mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace utpost::common {
namespace {

TEST(KeyedMutexTest, DifferentKeysDoNotWaitForEachOther) {
  KeyedMutex mutex;
  KeyedMutex::Lock a(mutex, "a");
  // Would deadlock if "b" waited for "a".
  KeyedMutex::Lock b(mutex, "b");
  EXPECT_EQ(mutex.held(), 2u);
}

TEST(KeyedMutexTest, TryLockTakesOnlyAFreeKeyAndNeverWaits) {
  KeyedMutex mutex;
  {
    KeyedMutex::Lock held(mutex, "a");
    // Would deadlock if it waited for "a".
    KeyedMutex::Lock refused(mutex, "a", std::try_to_lock);
    EXPECT_FALSE(refused.owns_lock());
    KeyedMutex::Lock other(mutex, "b", std::try_to_lock);
    EXPECT_TRUE(other.owns_lock());
    EXPECT_EQ(mutex.held(), 2u);
  }
  // The refused lock released nothing that was not its own: both keys are free again.
  EXPECT_EQ(mutex.held(), 0u);
  KeyedMutex::Lock again(mutex, "a", std::try_to_lock);
  EXPECT_TRUE(again.owns_lock());
}

TEST(KeyedMutexTest, TheSameKeyIsHeldByOneThreadAtATime) {
  KeyedMutex mutex;
  std::atomic<int> inside{0}, max_inside{0};
  int counter = 0;  // guarded by the key "k" alone
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        KeyedMutex::Lock lock(mutex, "k");
        const int now = ++inside;
        int seen = max_inside.load();
        while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
        }
        ++counter;
        --inside;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(max_inside.load(), 1);
  EXPECT_EQ(counter, 16000);
  EXPECT_EQ(mutex.held(), 0u);
}

}  // namespace
}  // namespace utpost::common
