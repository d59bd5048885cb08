// The print component's worker: leases PRINT tasks from the ledger, spools each printable
// letter (cover page + documents, sealed) into an open batch of its own store, and hands
// closed batches to the print provider as one CMS envelope each; when the provider reports a
// batch printed (or rejected), it records PRINTED (or FAILED) for each of its letters.
//
// Exactly once, per letter:
//  1. The letter is written to the spool as PENDING, with the CompleteTaskRequest
//     (QUEUED_FOR_PRINT, detail "batch <id>", the lease token) sealed beside it.
//  2. CompleteTask is sent. OK (replayed or not) -> COMMITTED: the letter is in the batch.
//     ABORTED, FAILED_PRECONDITION, NOT_FOUND or INVALID_ARGUMENT -> the entry is dropped (the
//     task is someone else's, or the letter moved on). Anything else leaves it PENDING, and
//     every pass (and every start) sends the stored request again until one of the above.
//  3. A batch closes only with no PENDING letter in it, so it holds committed letters only;
//     a letter id is spooled once ("l/" keys), so it is never in two batches.
// A batch is one synced record through OPEN -> CLOSED (envelope stored) -> SUBMITTED ->
// FINISHING -> deleted; every step is repeated after a restart until it is done, and every
// provider call is idempotent by batch id, every RecordTransition by letter.
//
// One thread does everything in turn (lease, spool, close, submit, poll); print volumes are
// letters per second, and one thread keeps the spool's rules simple. Memory: one letter's
// documents while it is spooled; one batch (at most batch_max_bytes, plus its envelope) while
// it is closed or submitted.
//
// Personal data (addresses, documents) is never logged; logs carry letter, task and batch
// ids and status codes.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "services/print/batch_sealer.h"
#include "services/print/print_config.h"
#include "services/print/spool_store.h"
#include "utpost/internal/v1/registry_lookup.grpc.pb.h"
#include "utpost/internal/v1/tasks.grpc.pb.h"
#include "utpost/provider/v1/provider.grpc.pb.h"

namespace utpost::print {

// Counters since construction.
struct PrintStats {
  uint64_t leased = 0;         // PRINT tasks leased
  uint64_t spooled = 0;        // letters committed to a batch (QUEUED_FOR_PRINT)
  uint64_t not_printable = 0;  // letters failed as CONTENT_NOT_DELIVERABLE
  uint64_t dropped = 0;        // spool entries dropped: stale lease, letter moved on
  uint64_t retried = 0;        // tasks given back with FailTask
  uint64_t batches_closed = 0;
  uint64_t batches_submitted = 0;
  uint64_t batches_printed = 0;
  uint64_t batches_rejected = 0;
  uint64_t letters_printed = 0;  // PRINTED recorded (replays included)
  uint64_t letters_failed = 0;   // FAILED recorded after a rejected batch
  uint64_t errors = 0;           // calls or store operations that failed
};

// The spool as it stands.
struct SpoolGauges {
  int open = 0;
  int closed = 0;
  int submitted = 0;
  int finishing = 0;
  // Letters in the spool not yet printed or failed (pending or committed).
  uint64_t backlog = 0;
};

// Resolves the channel to the print provider; called until it answers OK, at most once a
// pass (the provider may be a component that starts later than print).
using ProviderChannelFn = std::function<absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>>()>;

class PrintWorker {
 public:
  // `tasks` reaches the ledger's TaskService, `registry` the RegistryLookupService and
  // `provider` gives the channel to the PrintProviderService, each authenticated as print. `store`,
  // `sealer` and `clock` must outlive the worker. The config must have passed ValidatePrintConfig.
  PrintWorker(PrintConfig config, std::shared_ptr<grpc::ChannelInterface> tasks,
              std::shared_ptr<grpc::ChannelInterface> registry, ProviderChannelFn provider,
              SpoolStore& store, const BatchSealer& sealer, const common::Clock& clock,
              std::function<double()> unit_random = nullptr);
  ~PrintWorker();
  PrintWorker(const PrintWorker&) = delete;
  PrintWorker& operator=(const PrintWorker&) = delete;

  // Starts the loop. FAILED_PRECONDITION if started before.
  [[nodiscard]] absl::Status Start();
  // Stops the loop (cancelling calls waiting on the network) and joins it. Idempotent.
  void Stop();

  // One pass on the calling thread, for tests that drive the worker without Start():
  // settles pending letters, leases and spools one lease's worth of tasks, closes due
  // batches, submits closed ones and polls submitted ones (each when due). Returns the
  // number of tasks leased, or the LeaseTasks error.
  [[nodiscard]] absl::StatusOr<int> RunOnce();

  PrintStats stats() const;
  // Reads the store; errors count as none.
  SpoolGauges gauges();

 private:
  struct Document {
    internal::v1::DocumentHeader header;
    std::string content;
  };

  absl::Status SettlePending();
  absl::Status Settle(const PendingLetter& pending);
  absl::StatusOr<int> LeaseAndSpool();
  void SpoolTask(const internal::v1::Task& task);
  absl::StatusOr<std::vector<Document>> ReadDocuments(const std::string& lease_token);
  absl::StatusOr<std::optional<v1::PostalAddress>> AddressOf(
      const internal::v1::TaskLetter& letter);
  absl::StatusOr<std::string> OpenBatchFor(uint64_t letter_bytes);
  absl::Status CloseDueBatches();
  absl::Status CloseBatch(storage::v1::PrintBatchRecord record);
  absl::Status SubmitClosed();
  absl::Status PollSubmitted();
  absl::Status FinishBatches();

  void Complete(const internal::v1::Task& task, internal::v1::CompleteTaskRequest request);
  void CompleteFailed(const internal::v1::Task& task, v1::StatusReason reason,
                      const std::string& detail);
  void Fail(const internal::v1::Task& task, const std::string& why);
  void Count(uint64_t PrintStats::*field, uint64_t n = 1);

  void Loop();
  bool Wait(absl::Duration d);
  double UnitRandom();
  absl::Duration Backoff(int attempt);
  void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) const;
  void AddProviderMetadata(grpc::ClientContext& context) const;
  bool Track(grpc::ClientContext* context);
  void Untrack(grpc::ClientContext* context);
  std::string NewBatchId();

  const PrintConfig config_;
  const std::unique_ptr<internal::v1::TaskService::Stub> tasks_;
  const std::unique_ptr<internal::v1::RegistryLookupService::Stub> registry_;
  // The provider's stub, once ProviderChannelFn answered; null before.
  provider::v1::PrintProviderService::Stub* Provider();
  const ProviderChannelFn provider_channel_;
  std::unique_ptr<provider::v1::PrintProviderService::Stub> provider_;
  SpoolStore& store_;
  const BatchSealer& sealer_;
  const common::Clock& clock_;
  const std::function<double()> unit_random_;

  // Submission retries and status polls, by batch id (in memory: after a restart each
  // batch is tried at once).
  struct Retry {
    int attempts = 0;
    absl::Time next;
  };
  std::map<std::string, Retry> submit_retry_;
  std::map<std::string, absl::Time> next_poll_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  std::set<grpc::ClientContext*> blocking_calls_;
  std::mt19937_64 prng_;
  PrintStats stats_;
  std::thread thread_;
};

}  // namespace utpost::print
