// The router's worker: leases ROUTE tasks from the ledger's TaskService, looks the
// recipients up in the registry's RegistryLookupService, decides (decide.h) and completes
// each task with the letter's transition and the task that follows.
//
// Stateless: everything it knows comes from the ledger and the registry, so any number of
// routers may run against one ledger, and one killed at any point loses nothing (its leases
// expire and the tasks are leased again; a completion it sent twice is replayed by the
// ledger).
//
// Design:
//  - `workers` threads each loop: lease up to `batch_size` tasks; one registry Lookup for the
//    batch's distinct recipients; decide; send one CompleteTask per task asynchronously; lease
//    again at once while those are in flight (at most `max_in_flight` over the router). A
//    lease that finds nothing waits `poll_interval`.
//  - The registry failing (unreachable, deadline, any error, or an answer that does not fit
//    the request) never routes a letter: each task of the batch is given back with FailTask,
//    retry_at = now + RetryDelay(its attempt count). A letter that needs no lookup (print only,
//    with the letter's own address) is routed regardless.
//  - CompleteTask answering FAILED_PRECONDITION (the letter is no longer ACCEPTED, e.g.
//    cancelled), ABORTED (stale lease) or NOT_FOUND: the task is dropped, logged at debug.
//    UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED or INTERNAL: sent again by the next
//    loop iteration, up to 3 times in all (the ledger replays a completion that had applied);
//    after that the lease expires and the task is leased again.
//  - Every RPC has the deadline `rpc_timeout`. Stop() cancels the leases and lookups waiting
//    on the network, wakes the polls, joins the threads and waits for the completions in
//    flight (each bounded by its deadline).
//
// Personal data (recipients, addresses) travels only inside the RPCs; logs carry task and
// letter ids and status codes.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "services/router/router_config.h"
#include "utpost/internal/v1/registry_lookup.grpc.pb.h"
#include "utpost/internal/v1/tasks.grpc.pb.h"

namespace utpost::router {

// Delay before retry number `attempt` (0 for the first retry): min(backoff_min × 2^attempt,
// backoff_max) × (0.5 + 0.5 × unit), for `unit` in [0, 1) (clamped into it). Pure.
absl::Duration RetryDelay(const RouterConfig& config, uint32_t attempt, double unit);

// Counters since construction. Read with Router::stats().
struct RouterStats {
  uint64_t leased = 0;             // tasks leased
  uint64_t lookups = 0;            // Lookup calls answered OK
  uint64_t routed = 0;             // completions applied with ROUTED (replays included)
  uint64_t failed = 0;             // completions applied with FAILED (replays included)
  uint64_t dropped = 0;            // completions refused: stale lease, letter moved on, gone
  uint64_t retried = 0;            // tasks given back with FailTask after a registry error
  uint64_t registry_errors = 0;    // Lookup calls that failed or answered wrongly
  uint64_t lease_errors = 0;       // LeaseTasks calls that failed
  uint64_t completion_errors = 0;  // CompleteTask/FailTask calls abandoned after retries
};

class Router {
 public:
  // `tasks` reaches the ledger's TaskService and `registry` the RegistryLookupService, each
  // already authenticated as the router. `clock` (for retry_at) must outlive the router.
  // `unit_random` returns numbers in [0, 1) for backoff jitter; null means a PRNG of the
  // router's own. The config must have passed ValidateRouterConfig.
  Router(RouterConfig config, std::shared_ptr<grpc::ChannelInterface> tasks,
         std::shared_ptr<grpc::ChannelInterface> registry, const common::Clock& clock,
         std::function<double()> unit_random = nullptr);
  // Stops.
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Starts the loops. FAILED_PRECONDITION if started before.
  [[nodiscard]] absl::Status Start();

  // Stops the loops and waits for everything in flight. Idempotent; Start cannot follow.
  void Stop();

  // One iteration of a loop, on the calling thread: sends completions due for a resend,
  // leases a batch, looks it up, decides, and sends its completions (which may still be in
  // flight on return). Returns the number of tasks leased, or the LeaseTasks error. For
  // tests that drive the router step by step without Start().
  [[nodiscard]] absl::StatusOr<int> RouteOneBatch();

  // Waits until no completion is in flight and none waits to be sent again (resending those
  // that are due). For tests and Stop().
  void AwaitIdle();

  RouterStats stats() const;

 private:
  struct Call;  // one CompleteTask or FailTask in flight or waiting to be sent again

  void Loop(int index);
  void RunBatch(std::vector<internal::v1::Task> tasks);
  void FailTasks(const std::vector<const internal::v1::Task*>& tasks, const std::string& why);
  void Send(std::unique_ptr<Call> call);
  void OnDone(Call* call, const grpc::Status& status);
  void SendDueResends();
  // Sleeps up to `d`; false if stopping.
  bool Wait(absl::Duration d);
  double UnitRandom();
  void SetDeadline(grpc::ClientContext& context) const;
  // Registers a blocking call's context so that Stop() can cancel it; false if stopping.
  bool Track(grpc::ClientContext* context);
  void Untrack(grpc::ClientContext* context);

  const RouterConfig config_;
  const std::unique_ptr<internal::v1::TaskService::Stub> tasks_;
  const std::unique_ptr<internal::v1::RegistryLookupService::Stub> registry_;
  const common::Clock& clock_;
  const std::function<double()> unit_random_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  int in_flight_ = 0;
  std::deque<std::unique_ptr<Call>> resend_;
  std::set<grpc::ClientContext*> blocking_calls_;
  std::mt19937_64 prng_;
  RouterStats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace utpost::router
