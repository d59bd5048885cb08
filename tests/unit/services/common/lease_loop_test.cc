#include "services/common/lease_loop.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "absl/status/status.h"

namespace utpost::service {
namespace {

using ::testing::ElementsAre;

TEST(LeaseBackoffTest, DoublesFromThePollIntervalUpToTheCap) {
  std::vector<absl::Duration> waits;
  for (int failures = 1; failures <= 7; ++failures) {
    waits.push_back(LeaseBackoff(failures, absl::Milliseconds(500)));
  }
  EXPECT_THAT(waits,
              ElementsAre(absl::Milliseconds(500), absl::Seconds(1), absl::Seconds(2),
                          absl::Seconds(4), absl::Seconds(5), absl::Seconds(5), absl::Seconds(5)));
  // A poll interval longer than the cap is the wait.
  EXPECT_EQ(LeaseBackoff(10, absl::Seconds(30)), absl::Seconds(30));
  // No overflow however long the failures last.
  EXPECT_EQ(LeaseBackoff(1'000'000, absl::Milliseconds(10)), kLeaseBackoffCap);
}

// Drives the loop with scripted lease results and records each wait it asks for.
TEST(LeaseLoopTest, PollsWhenIdleBacksOffOnFailuresWithJitterAndStopsWhenAsked) {
  std::vector<absl::StatusOr<int>> script = {
      3, 0, absl::UnavailableError("ledger down"), absl::UnavailableError("ledger down"), 1, 0};
  size_t next = 0;
  std::vector<absl::Duration> waits;
  bool stop = false;
  LeaseLoop loop{
      .component = "test",
      .worker = "test/0",
      .poll_interval = absl::Milliseconds(100),
      .lease_once = [&]() -> absl::StatusOr<int> { return script[next++]; },
      .wait =
          [&](absl::Duration d) {
            waits.push_back(d);
            if (next == script.size()) stop = true;
            return !stop;
          },
      .stopping = [&] { return stop; },
      .unit_random = [] { return 0.0; },  // the shortest jittered wait: half
  };
  loop.Run();
  EXPECT_EQ(next, script.size());
  // 3 tasks: no wait; 0: poll; two failures: 50 ms, 100 ms (halved by the jitter); 1: none;
  // 0: poll, and the loop ends when the wait says it is stopping.
  EXPECT_THAT(waits, ElementsAre(absl::Milliseconds(100), absl::Milliseconds(50),
                                 absl::Milliseconds(100), absl::Milliseconds(100)));
}

TEST(LeaseLoopTest, AFailedLeaseWhileStoppingEndsTheLoopWithoutWaiting) {
  bool stop = false;
  int waits = 0;
  LeaseLoop loop{
      .component = "test",
      .worker = "test/0",
      .poll_interval = absl::Milliseconds(100),
      .lease_once = [&]() -> absl::StatusOr<int> {
        stop = true;  // Stop() cancels the lease in flight
        return absl::CancelledError("stopping");
      },
      .wait =
          [&](absl::Duration) {
            ++waits;
            return true;
          },
      .stopping = [&] { return stop; },
      .unit_random = [] { return 0.5; },
  };
  loop.Run();
  EXPECT_EQ(waits, 0);
}

}  // namespace
}  // namespace utpost::service
