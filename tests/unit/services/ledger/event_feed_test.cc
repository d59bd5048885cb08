#include "services/ledger/event_feed.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace utpost::ledger {
namespace {

constexpr char kOslo[] = "NO958935420";
constexpr char kBergen[] = "NO964338531";

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
  feed.Complete(c, kOslo);
  feed.Complete(b, kOslo);
  // `a` is still being written: a reader must not pass it, or it would never see it.
  EXPECT_EQ(feed.Watermark(), 0u);
  feed.Complete(a, kOslo);
  EXPECT_EQ(feed.Watermark(), c);
}

TEST(EventFeedTest, AnAbandonedSequenceStillLetsTheWatermarkPass) {
  EventFeed feed(0);
  const uint64_t a = feed.Allocate();
  const uint64_t b = feed.Allocate();
  feed.Complete(b, kOslo);
  feed.Complete(a, kOslo, /*written=*/false);
  EXPECT_EQ(feed.Watermark(), b);
}

TEST(EventFeedTest, SubscribersAreWokenOnlyForTheirOwnSenderWhenTheWatermarkCoversIt) {
  EventFeed feed(0);
  int oslo = 0, bergen = 0;
  const uint64_t oslo_handle = feed.Subscribe(kOslo, [&] { ++oslo; });
  feed.Subscribe(kBergen, [&] { ++bergen; });
  const uint64_t a = feed.Allocate();  // Bergen's, slow
  const uint64_t b = feed.Allocate();  // Oslo's
  feed.Complete(b, kOslo);
  EXPECT_EQ(oslo, 0) << "not visible yet: a is still in flight";
  feed.Complete(a, kBergen);
  EXPECT_EQ(oslo, 1);
  EXPECT_EQ(bergen, 1);
  feed.Complete(feed.Allocate(), kBergen);
  EXPECT_EQ(oslo, 1) << "Bergen's events do not wake Oslo's watchers";
  EXPECT_EQ(bergen, 2);
  feed.Unsubscribe(oslo_handle);
  feed.Complete(feed.Allocate(), kOslo);
  EXPECT_EQ(oslo, 1);
}

TEST(EventFeedTest, AWatermarkThatStopsShortOfAnEventWakesItsSenderLater) {
  EventFeed feed(0);
  int oslo = 0;
  feed.Subscribe(kOslo, [&] { ++oslo; });
  const uint64_t a = feed.Allocate();
  const uint64_t b = feed.Allocate();
  const uint64_t c = feed.Allocate();  // Oslo's event
  feed.Complete(c, kOslo);
  feed.Complete(a, kBergen);  // watermark moves to a, still below c
  EXPECT_EQ(oslo, 0);
  feed.Complete(b, kBergen);  // now it covers c
  EXPECT_EQ(oslo, 1);
}

TEST(EventFeedTest, ConcurrentWritersEndWithEverySequenceVisible) {
  EventFeed feed(0);
  std::atomic<int> wakeups{0};
  feed.Subscribe(kOslo, [&] { ++wakeups; });
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) feed.Complete(feed.Allocate(), kOslo);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(feed.Watermark(), 8000u);
  EXPECT_GE(wakeups.load(), 1);
}

}  // namespace
}  // namespace utpost::ledger
