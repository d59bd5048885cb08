#include "services/ledger/event_feed.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace utpost::ledger {
namespace {

TEST(EventFeedTest, StartsAfterTheLastStoredSequence) {
  EventFeed feed(41);
  EXPECT_EQ(feed.Watermark(), 41u);
  EXPECT_EQ(feed.Allocate(), 42u);
}

TEST(EventFeedTest, WatermarkWaitsForTheOldestWriteInFlight) {
  EventFeed feed(0);
  const uint64_t a = feed.Allocate();
  const uint64_t b = feed.Allocate();
  const uint64_t c = feed.Allocate();
  feed.Complete(c);
  feed.Complete(b);
  // `a` is still being written: a reader must not pass it, or it would never see it.
  EXPECT_EQ(feed.Watermark(), 0u);
  feed.Complete(a);
  EXPECT_EQ(feed.Watermark(), c);
}

TEST(EventFeedTest, SubscribersAreWokenOnlyWhenTheWatermarkMoves) {
  EventFeed feed(0);
  int calls = 0;
  const uint64_t handle = feed.Subscribe([&] { ++calls; });
  const uint64_t a = feed.Allocate();
  const uint64_t b = feed.Allocate();
  feed.Complete(b);
  EXPECT_EQ(calls, 0);
  feed.Complete(a);
  EXPECT_EQ(calls, 1);
  feed.Unsubscribe(handle);
  feed.Complete(feed.Allocate());
  EXPECT_EQ(calls, 1);
}

TEST(EventFeedTest, ConcurrentWritersEndWithEverySequenceVisible) {
  EventFeed feed(0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) feed.Complete(feed.Allocate());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(feed.Watermark(), 8000u);
}

}  // namespace
}  // namespace utpost::ledger
