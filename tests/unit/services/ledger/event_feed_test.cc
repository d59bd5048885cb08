#include "services/ledger/event_feed.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace utpost::ledger {
namespace {

constexpr char kOslo[] = "NO958935420";
constexpr char kBergen[] = "NO964338531";

TEST(EventFeedTest, EachOrganisationStartsAfterItsOwnLastStoredSequence) {
  EventFeed feed({{kOslo, 41}});
  EXPECT_EQ(feed.Watermark(kOslo), 41u);
  EXPECT_EQ(feed.Watermark(kBergen), 0u);
  EXPECT_EQ(feed.Allocate(kOslo), 42u);
  EXPECT_EQ(feed.Allocate(kBergen), 1u);
}

TEST(EventFeedTest, SequencesHaveNoGapsFromOtherOrganisations) {
  EventFeed feed;
  for (int i = 1; i <= 5; ++i) {
    const uint64_t oslo = feed.Allocate(kOslo);
    const uint64_t bergen = feed.Allocate(kBergen);
    EXPECT_EQ(oslo, static_cast<uint64_t>(i));
    EXPECT_EQ(bergen, static_cast<uint64_t>(i));
    feed.Complete(kBergen, bergen);
    feed.Complete(kOslo, oslo);
  }
  EXPECT_EQ(feed.Watermark(kOslo), 5u);
  EXPECT_EQ(feed.Watermark(kBergen), 5u);
}

TEST(EventFeedTest, WatermarkWaitsForTheOldestWriteInFlight) {
  EventFeed feed;
  const uint64_t a = feed.Allocate(kOslo);
  const uint64_t b = feed.Allocate(kOslo);
  const uint64_t c = feed.Allocate(kOslo);
  feed.Complete(kOslo, c);
  feed.Complete(kOslo, b);
  // `a` is still being written: a reader must not pass it, or it would never see it.
  EXPECT_EQ(feed.Watermark(kOslo), 0u);
  feed.Complete(kOslo, a);
  EXPECT_EQ(feed.Watermark(kOslo), c);
}

TEST(EventFeedTest, AnotherOrganisationsSlowWriteDoesNotHoldBackTheWatermark) {
  EventFeed feed;
  const uint64_t bergen = feed.Allocate(kBergen);  // slow
  feed.Complete(kOslo, feed.Allocate(kOslo));
  EXPECT_EQ(feed.Watermark(kOslo), 1u);
  EXPECT_EQ(feed.Watermark(kBergen), 0u);
  feed.Complete(kBergen, bergen);
  EXPECT_EQ(feed.Watermark(kBergen), 1u);
}

TEST(EventFeedTest, AnAbandonedSequenceStillLetsTheWatermarkPass) {
  EventFeed feed;
  int wakeups = 0;
  feed.Subscribe(kOslo, [&] { ++wakeups; });
  const uint64_t a = feed.Allocate(kOslo);
  const uint64_t b = feed.Allocate(kOslo);
  feed.Complete(kOslo, b);
  EXPECT_EQ(wakeups, 0);
  feed.Complete(kOslo, a, /*written=*/false);
  EXPECT_EQ(feed.Watermark(kOslo), b);
  EXPECT_EQ(wakeups, 1) << "b became visible when a was abandoned";
}

TEST(EventFeedTest, SubscribersAreWokenOnlyForTheirOwnOrganisation) {
  EventFeed feed;
  int oslo = 0, bergen = 0;
  const uint64_t oslo_handle = feed.Subscribe(kOslo, [&] { ++oslo; });
  feed.Subscribe(kBergen, [&] { ++bergen; });
  feed.Complete(kBergen, feed.Allocate(kBergen));
  EXPECT_EQ(oslo, 0) << "Bergen's events do not wake Oslo's watchers";
  EXPECT_EQ(bergen, 1);
  feed.Complete(kOslo, feed.Allocate(kOslo));
  EXPECT_EQ(oslo, 1);
  feed.Unsubscribe(oslo_handle);
  feed.Complete(kOslo, feed.Allocate(kOslo));
  EXPECT_EQ(oslo, 1);
}

// An organisation that keeps sending always has writes in flight above the events already
// visible. Its watcher must hear of each event once the writes before it finish: a feed that
// waited until the watermark covered the organisation's highest completed sequence would
// stay silent for as long as the sending went on. Another organisation's writes interleave
// to show that they change nothing.
TEST(EventFeedTest, AWatcherOfABusyOrganisationIsWokenWhileItKeepsSending) {
  EventFeed feed;
  int wakeups = 0;
  uint64_t seen = 0;
  feed.Subscribe(kOslo, [&] {
    ++wakeups;
    seen = feed.Watermark(kOslo);
  });
  for (int round = 0; round < 5; ++round) {
    const uint64_t p = feed.Allocate(kOslo);
    const uint64_t q = feed.Allocate(kOslo);
    const uint64_t bergen = feed.Allocate(kBergen);
    const uint64_t r = feed.Allocate(kOslo);
    feed.Complete(kOslo, r);  // group commit: the newest finishes first
    feed.Complete(kBergen, bergen);
    feed.Complete(kOslo, p);  // p is visible now; q is still being written, r is done
    EXPECT_EQ(wakeups, 2 * round + 1);
    EXPECT_EQ(seen, p);
    feed.Complete(kOslo, q);
    EXPECT_EQ(wakeups, 2 * round + 2);
    EXPECT_EQ(seen, r);
  }
}

TEST(EventFeedTest, ConcurrentWritersEndWithEverySequenceVisible) {
  EventFeed feed;
  std::atomic<int> wakeups{0};
  feed.Subscribe(kOslo, [&] { ++wakeups; });
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const char* org = t % 2 == 0 ? kOslo : kBergen;
      for (int i = 0; i < 1000; ++i) feed.Complete(org, feed.Allocate(org));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(feed.Watermark(kOslo), 4000u);
  EXPECT_EQ(feed.Watermark(kBergen), 4000u);
  EXPECT_GE(wakeups.load(), 1);
}

}  // namespace
}  // namespace utpost::ledger
