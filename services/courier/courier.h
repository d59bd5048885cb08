// The courier's worker: leases DELIVER_DIGITAL, DELIVER_ORGANISATION_INBOX and CHECK_UNREAD
// tasks from the ledger's TaskService, looks each recipient up in the registry for the
// provider (endpoint, encryption certificate) and the mailbox or inbox address, reads the
// documents with the task's lease (TaskService.ReadDocuments), encrypts each to the
// provider's certificate (a CMS envelope, streaming) and delivers them
// (MailboxProviderService.Deliver). It also pulls every known provider's receipts and
// records READ (TaskService.RecordTransition).
//
// Stateless: everything it knows comes from the ledger, the registry and the providers, so
// any number of couriers may run against one ledger. One killed at any point loses nothing:
// its leases expire and another courier delivers again; the provider answers a repeated
// letter id as the first delivery did and shows the letter once.
//
// Outcomes of a delivery task:
//  - Delivered (or replayed by the provider): ROUTED -> DELIVERED_DIGITALLY,
//    PROVIDER_CONFIRMED, the routed channel, provider_id; a CHECK_UNREAD task due at
//    now + print_if_unread_after when the letter has one.
//  - Permanent (the provider answers INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION,
//    PERMISSION_DENIED or UNIMPLEMENTED; the registry no longer gives the letter this channel
//    (mailbox or provider gone, reserved, security level not supported); the provider's
//    certificate is not usable): completed without a status change, queuing PRINT with
//    DIGITAL_DELIVERY_FAILED and the provider's message (or the registry's reason) as
//    detail. Under CHANNEL_POLICY_DIGITAL_ONLY: ROUTED -> FAILED with that reason instead.
//  - Transient (any other provider error, a channel that cannot be made, the registry or the
//    ledger failing, the provider's breaker open, the provider at its share): FailTask with
//    retry_at = now + full-jitter back-off, never after the retry deadline (the task's
//    create_time + retry_deadline). At or after the deadline: the permanent outcome, with
//    the last error as detail.
//  - The lease is stale (ABORTED), or the letter moved on (FAILED_PRECONDITION, e.g.
//    cancelled) or is gone (NOT_FOUND): the task is dropped.
// CHECK_UNREAD: completed without a status change (expected DELIVERED_DIGITALLY), queuing
// PRINT with UNREAD_PAST_DEADLINE; FAILED_PRECONDITION means the letter was read or moved
// on: done. A completion without a status change that finds its task gone (NOT_FOUND) on a
// resend had applied: done.
//
// Holding workers: leasing never waits for a provider. Deliveries run on a pool of
// max_in_flight threads; a lease takes only as many tasks as there is room for, and a
// provider gets at most max_in_flight_per_provider of them, so a slow provider holds its
// share and no more. Every provider call has the deadline provider_timeout. A provider that
// fails transiently breaker_failures times in a row is backed off as a whole
// (ProviderBreaker): its letters are given back without a call until the cool-off ends, and
// then one delivery probes it, so workers do not all retry a provider that is down.
//
// Personal data (recipients, addresses, titles, content) travels only inside the RPCs; logs
// carry task and letter ids, provider ids and status codes.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "services/courier/courier_config.h"
#include "services/courier/courier_metrics.h"
#include "services/courier/policy.h"
#include "utpost/internal/v1/registry_lookup.grpc.pb.h"
#include "utpost/internal/v1/tasks.grpc.pb.h"
#include "utpost/provider/v1/provider.grpc.pb.h"

namespace utpost::courier {

// The metadata key that names the provider on every call to a provider.
inline constexpr char kProviderIdHeader[] = "utpost-provider-id";
// Largest chunk of an envelope in one DeliverRequest (provider.proto).
inline constexpr size_t kMaxEnvelopeChunk = 256 << 10;

// Encrypts one document to a certificate, streaming: the envelope's bytes go to the sink
// given at creation. Used by one thread.
class EnvelopeWriter {
 public:
  virtual ~EnvelopeWriter() = default;
  [[nodiscard]] virtual absl::Status Write(std::string_view plaintext) = 0;
  [[nodiscard]] virtual absl::Status Finish() = 0;
};

// Makes an EnvelopeWriter for `certificate_pem`. INVALID_ARGUMENT if the certificate cannot
// receive an envelope (a permanent failure of the provider's registry entry).
using EnvelopeWriterFactory = std::function<absl::StatusOr<std::unique_ptr<EnvelopeWriter>>(
    std::string_view certificate_pem, std::function<absl::Status(std::string_view)> sink)>;

// The channel for a provider's registry endpoint (ProviderChannels::Get in a process).
using ProviderChannelFn = std::function<absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>>(
    std::string_view endpoint)>;

// Counters since construction. Read with Courier::stats().
struct CourierStats {
  uint64_t leased = 0;             // tasks leased (all kinds)
  uint64_t delivered = 0;          // DELIVERED_DIGITALLY applied (replays included)
  uint64_t provider_replays = 0;   // of those, the provider had the letter already
  uint64_t to_print = 0;           // completed queuing PRINT (delivery failed or unread)
  uint64_t failed = 0;             // ROUTED -> FAILED (DIGITAL_ONLY)
  uint64_t retried = 0;            // FailTask applied
  uint64_t dropped = 0;            // stale lease, letter moved on, task gone
  uint64_t permanent_errors = 0;   // provider answers classified permanent
  uint64_t transient_errors = 0;   // provider answers or channels classified transient
  uint64_t backed_off = 0;         // tasks given back because the provider's breaker is open
  uint64_t busy = 0;               // tasks given back because the provider was at its share
  uint64_t unread_to_print = 0;    // CHECK_UNREAD tasks that queued PRINT
  uint64_t unread_read = 0;        // CHECK_UNREAD tasks whose letter had moved on (read)
  uint64_t receipts_recorded = 0;  // READ recorded (replays included)
  uint64_t receipts_refused = 0;   // acknowledged without effect: not its letter, unknown,
                                   // malformed, or the letter had moved on
  uint64_t receipts_kept = 0;      // not acknowledged (transient), pulled again later
  uint64_t completion_errors = 0;  // completions abandoned to their lease's expiry
};

class Courier {
 public:
  // `tasks` reaches the ledger's TaskService and `registry` the RegistryLookupService, each
  // authenticated as the courier. `clock` (retry times, deadlines) must outlive the courier;
  // `metrics` may be null. `unit_random` returns numbers in [0, 1) for jitter; null means a
  // PRNG of the courier's own. The config must have passed ValidateCourierConfig. Starts the
  // delivery pool's threads.
  Courier(CourierConfig config, std::shared_ptr<grpc::ChannelInterface> tasks,
          std::shared_ptr<grpc::ChannelInterface> registry, ProviderChannelFn provider_channel,
          EnvelopeWriterFactory envelopes, const common::Clock& clock, CourierMetrics* metrics,
          std::function<double()> unit_random = nullptr);
  // Stops.
  ~Courier();
  Courier(const Courier&) = delete;
  Courier& operator=(const Courier&) = delete;

  // Starts the lease loops and the receipt loops. FAILED_PRECONDITION if started before.
  [[nodiscard]] absl::Status Start();

  // With ledger shards: the TaskServices of the other shards. A provider's receipts may be
  // about letters of any shard (couriers of every shard pull the same receipts), so a READ
  // its own ledger does not know (NOT_FOUND) is recorded on the shard that does. Before
  // Start.
  void SetOtherLedgers(std::vector<std::shared_ptr<grpc::ChannelInterface>> ledgers);
  // Cancels the calls in flight (their tasks are left to their leases' expiry), stops the
  // loops and the pool and joins them. Idempotent; Start cannot follow.
  void Stop();

  // One round of leasing on the calling thread: a lease of each kind (as far as there is
  // room), lookups, and the deliveries handed to the pool (still running on return).
  // Returns the number of tasks leased, or the first LeaseTasks error. For tests that drive
  // the courier step by step without Start().
  [[nodiscard]] absl::StatusOr<int> LeaseOnce();
  // Waits until no delivery is queued or running.
  void AwaitIdle();
  // One pull of `provider_id`'s receipts, each recorded and acknowledged as the file
  // comment says. Returns the number of receipts pulled, or the error of the lookup or the
  // pull.
  [[nodiscard]] absl::StatusOr<int> PullReceiptsOnce(const std::string& provider_id);

  // Providers whose receipts are pulled: the configured ones and those delivered to.
  std::vector<std::string> receipt_providers() const;
  CourierStats stats() const;

 private:
  struct Target;          // where one delivery goes
  struct DeliveryResult;  // how one delivery ended

  void LeaseLoop(int index);
  // Waits up to `most` until a batch's worth of deliveries has room, or the courier stops.
  void WaitForRoom(absl::Duration most);
  // While every provider the courier knows is backed off, waits until the first cool-off
  // ends, at most max(poll_interval, 1 s) (a provider not seen yet may be up), or the
  // courier stops. Leasing then would only give every task back.
  void WaitWhileEveryProviderBacksOff();
  // How much room a lease loop waits for.
  int RoomWanted() const;
  // Gives back `n` places in in_flight_ and wakes whoever waits for room.
  void Release(int n);
  void ReceiptLoop(std::string provider_id);
  void PoolLoop();
  absl::StatusOr<std::vector<internal::v1::Task>> Lease(internal::v1::TaskKind kind, int max);
  void DispatchDeliveries(std::vector<internal::v1::Task> tasks);
  // `generation`: the provider's breaker's generation when the delivery was admitted.
  void Deliver(const internal::v1::Task& task, const Target& target, uint64_t generation);
  DeliveryResult RunDelivery(const internal::v1::Task& task, const Target& target);
  void CheckUnread(const internal::v1::Task& task);

  // Outcomes; each sends its call, resending on transient errors.
  void CompleteDelivered(const internal::v1::Task& task, const std::string& provider_id);
  void CompleteUndeliverable(const internal::v1::Task& task, const std::string& detail);
  void Retry(const internal::v1::Task& task, const std::string& why, absl::Time retry_at);
  void RetryOrFallBack(const internal::v1::Task& task, const std::string& why);
  // Sends a completion; OK, or the code it ended with (after resends). Completions sent
  // while another call is in flight wait for it, then go together in one CompleteTasks call
  // (one synced write at the ledger); a ledger without CompleteTasks gets CompleteTask.
  grpc::Status SendCompletion(const internal::v1::CompleteTaskRequest& request);
  struct PendingCompletion;
  // One CompleteTasks call (with resends) for `batch`; sets each one's status.
  void SendCompletions(const std::vector<PendingCompletion*>& batch);
  grpc::Status SendCompletionAlone(const internal::v1::CompleteTaskRequest& request);

  void NoteProvider(const v1::Provider& provider);
  absl::StatusOr<v1::Provider> ProviderById(const std::string& provider_id);
  void StartReceiptLoopLocked(const std::string& provider_id);

  bool Wait(absl::Duration d);
  double UnitRandom();
  void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) const;
  bool Track(grpc::ClientContext* context);
  void Untrack(grpc::ClientContext* context);
  bool stopping() const;
  void Count(uint64_t CourierStats::*field, uint64_t n = 1);

  const CourierConfig config_;
  const std::shared_ptr<grpc::ChannelInterface> tasks_channel_;
  const std::unique_ptr<internal::v1::TaskService::Stub> tasks_;
  std::vector<std::unique_ptr<internal::v1::TaskService::Stub>> other_ledgers_;
  const std::unique_ptr<internal::v1::RegistryLookupService::Stub> registry_;
  const ProviderChannelFn provider_channel_;
  const EnvelopeWriterFactory envelopes_;
  const common::Clock& clock_;
  CourierMetrics* const metrics_;
  const std::function<double()> unit_random_;

  mutable std::mutex mu_;
  // Three conditions, so that a change wakes only those who wait for it: a queued job one
  // pool thread (not all max_in_flight of them), a place given back the lease loops and
  // AwaitIdle, and Stop everyone.
  std::condition_variable jobs_cv_;  // jobs_ not empty, or stopping_
  std::condition_variable room_cv_;  // in_flight_ fell, or stopping_
  std::condition_variable stop_cv_;  // stopping_ (Wait)
  bool started_ = false;
  bool stopping_ = false;
  // Deliveries queued or running, plus the room leases in progress have reserved.
  int in_flight_ = 0;
  std::map<std::string, int> provider_in_flight_;
  std::map<std::string, ProviderBreaker> breakers_;
  std::map<std::string, v1::Provider> providers_;  // seen in lookups, by id
  std::set<std::string> receipt_providers_;
  std::set<std::string> receipt_loops_;  // providers whose loop runs
  std::deque<std::function<void()>> jobs_;
  std::set<grpc::ClientContext*> calls_;
  std::mt19937_64 prng_;
  CourierStats stats_;
  std::vector<std::thread> pool_;
  std::vector<std::thread> loops_;

  // Completions waiting for the call in flight (SendCompletion).
  std::mutex completions_mu_;
  std::deque<PendingCompletion*> completions_;
  bool completions_sending_ = false;                  // a thread sends, or is about to
  std::atomic<bool> one_completion_per_call_{false};  // the ledger lacks CompleteTasks
};

}  // namespace utpost::courier
