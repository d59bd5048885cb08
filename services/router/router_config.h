// Configuration of the router (config section `router:`). Every field has a working default;
// ValidateRouterConfig says which values are out of range.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace utpost::router {

struct RouterConfig {
  // Lease loops run at once (`workers`). Each leases a batch, looks its recipients up in one
  // registry call, decides, and hands the completions to gRPC, then leases the next. 1..64.
  int workers = 2;
  // Most ROUTE tasks one lease takes (`batch_size`), and so the most keys in one registry
  // Lookup. 1..1000 (the Lookup limit).
  int batch_size = 256;
  // How long a lease lasts (`lease_for`). A task leased but neither completed nor failed by
  // then (the router died, or the ledger was unreachable) becomes due again. 1 s..1 h, and
  // longer than a batch takes: at least 3 × rpc_timeout.
  absl::Duration lease_for = absl::Seconds(30);
  // How long a loop waits after a lease found no due task (`poll_interval`). It bounds the
  // time from acceptance to routing when the queue is idle. 10 ms..10 s.
  absl::Duration poll_interval = absl::Milliseconds(100);
  // Retry delay of a task whose registry lookup failed (`backoff_min`, `backoff_max`): the
  // n-th retry (n counted by the ledger, so restarts do not reset it) waits
  // min(backoff_min × 2^n, backoff_max) × a random factor in [0.5, 1). 100 ms..1 h,
  // backoff_min <= backoff_max <= 7 days (FailTask's limit).
  absl::Duration backoff_min = absl::Seconds(1);
  absl::Duration backoff_max = absl::Minutes(5);
  // Deadline of each RPC to the ledger or the registry (`rpc_timeout`). 100 ms..60 s.
  absl::Duration rpc_timeout = absl::Seconds(5);
  // CompleteTask and FailTask calls in flight at once, over all loops (`max_in_flight`):
  // enough to keep the ledger's group commits full. 1..4096.
  int max_in_flight = 256;
  // The worker name sent with LeaseTasks, for the ledger's logs (`name`). 1..128 printable
  // ASCII characters; a replica adds its own suffix when several share a ledger.
  std::string name = "router";
};

// INVALID_ARGUMENT naming the first field out of range (by its config key, e.g.
// "router.batch_size").
[[nodiscard]] absl::Status ValidateRouterConfig(const RouterConfig& config);

}  // namespace utpost::router
