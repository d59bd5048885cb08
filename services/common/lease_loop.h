// The loop every task worker runs (router, courier, print): lease a batch and handle it, wait
// a poll interval when there was nothing to do, and after a failed lease back off: the poll
// interval doubled per failure in a row, capped, times a random factor in [0.5, 1) so that
// workers that lost the ledger together do not come back together. One warning when leasing
// starts failing and one line when it works again, never a line per attempt.
#pragma once

#include <grpcpp/support/status.h>

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace utpost::service {

// The longest wait between lease attempts while the ledger cannot be reached (or the poll
// interval, if that is longer).
inline constexpr absl::Duration kLeaseBackoffCap = absl::Seconds(5);

// The wait after `failures` (>= 1) failed leases in a row, before the random factor.
[[nodiscard]] absl::Duration LeaseBackoff(int failures, absl::Duration poll_interval,
                                          absl::Duration cap = kLeaseBackoffCap);

struct LeaseLoop {
  // Who leases, for the logs: the component ("router") and the worker ("router/0").
  std::string component;
  std::string worker;
  absl::Duration poll_interval;
  // Leases and handles one batch: how many tasks it got, or why it could not lease.
  std::function<absl::StatusOr<int>()> lease_once;
  // Waits up to the duration; false as soon as the worker is stopping.
  std::function<bool(absl::Duration)> wait;
  // True once the worker is stopping (a lease it cancelled is then no failure).
  std::function<bool()> stopping;
  // A number in [0, 1).
  std::function<double()> unit_random;

  // Runs until the worker stops.
  void Run() const;
};

// The name of a gRPC status code, as absl spells it ("UNAVAILABLE"), for logs and details.
[[nodiscard]] std::string CodeName(grpc::StatusCode code);

// TaskService codes after which a worker may simply send the same call again: the ledger
// replays a completion that had applied, and refuses a FailTask that had applied as stale.
[[nodiscard]] bool IsRetryableTaskCall(grpc::StatusCode code);

}  // namespace utpost::service
