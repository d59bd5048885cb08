// The ledger's logic: accepts letters, records their status changes, answers queries.
// No gRPC types: handlers (letter_service.cc) translate; tests call this directly.
//
// Every method takes the caller's organisation key (`sender`, from its certificate) and
// touches only that organisation's letters: another organisation's letter is NOT_FOUND.
// Every state change is one synced WriteBatch; a method returns only after it is durable.
// Thread-safe; methods block on disk I/O, so call them from a worker pool.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/keyed_mutex.h"
#include "common/letter_id.h"
#include "crypto/envelope.h"
#include "crypto/key_store.h"
#include "crypto/secret.h"
#include "services/ledger/event_feed.h"
#include "services/ledger/lease_token.h"
#include "services/ledger/ledger_config.h"
#include "services/ledger/ledger_metrics.h"
#include "services/ledger/letter_status.h"
#include "storage/ledger_store.h"
#include "utpost/internal/v1/tasks.pb.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::ledger {

// A status change requested by a component that drives letters (router, courier, print).
struct Transition {
  std::string letter_id;
  v1::LetterStatus status = v1::LETTER_STATUS_UNSPECIFIED;
  v1::StatusReason reason = v1::STATUS_REASON_UNSPECIFIED;
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
  std::string detail;
  // The provider the letter is handed to (recorded in LetterRecord.provider_ids); empty: none.
  std::string provider_id = {};  // a default, so that aggregate initialisers may leave it out
};

// The most statuses one ListLetters filter may name (there are fewer distinct statuses).
inline constexpr int kMaxListStatuses = 16;

// A letter's update, prepared under its lock, to be committed alone or with others (see
// Ledger::CommitPreparedLocked).
struct PreparedUpdate {
  storage::LetterUpdate update;
  v1::LetterStatus previous = v1::LETTER_STATUS_UNSPECIFIED;  // for metrics, with an event
  absl::Time now;
  std::deque<common::KeyedMutex::Lock> locks;  // task locks the update needs held
};

// A completion checked under its letter's and task's locks (the first two of `locks`):
// either answered at once (`answer`), or an update to commit, then answered with
// `after_commit` (an error) or the letter as committed.
struct PreparedCompletion {
  std::deque<common::KeyedMutex::Lock> locks;
  std::optional<internal::v1::CompleteTaskResponse> answer;
  std::optional<PreparedUpdate> prepared;
  absl::Status after_commit;
};

class Ledger {
 public:
  // Recovers the event feed's position from `store`, and loads the key of its idempotency
  // fingerprints (made and stored at the first start; rewrapped under the current
  // key-encryption key after rotation). `store`, `keys`, `clock` and `metrics` must outlive
  // the ledger; without `metrics` nothing is counted. FAILED_PRECONDITION if the
  // key-encryption key that wrapped the fingerprint key is missing or another key.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Ledger>> Create(
      const LedgerConfig& config, storage::LedgerStore& store, const crypto::KeyStore& keys,
      const common::Clock& clock, LedgerMetrics* metrics = nullptr);

  // Errors: INVALID_ARGUMENT (field violations), ALREADY_EXISTS (idempotency key reused for
  // another request), UNAVAILABLE (storage).
  [[nodiscard]] absl::StatusOr<v1::SendLetterResponse> SendLetter(
      std::string_view sender, const v1::SendLetterRequest& request);

  // For the ledger's other logic that creates a letter as part of a state change of its own
  // (a form submission's receipt letter): validates and builds the letter as SendLetter does,
  // without an idempotency key (the caller's own record makes its change happen once), and
  // hands it to `commit`, which must write it with LedgerStore::CommitNewLetter, the
  // caller's changes added to the same synced batch. Returns what SendLetter would.
  // Errors: INVALID_ARGUMENT (field violations), those of `commit`.
  [[nodiscard]] absl::StatusOr<v1::SendLetterResponse> CreateLetterWith(
      std::string_view sender, const v1::SendLetterRequest& request,
      absl::FunctionRef<absl::Status(const storage::NewLetter&)> commit);

  // Errors: INVALID_ARGUMENT (letter_id), NOT_FOUND.
  [[nodiscard]] absl::StatusOr<v1::GetLetterResponse> GetLetter(
      std::string_view sender, const v1::GetLetterRequest& request) const;

  // Errors: INVALID_ARGUMENT (page_size, page_token, statuses, accepted_after/before).
  [[nodiscard]] absl::StatusOr<v1::ListLettersResponse> ListLetters(
      std::string_view sender, const v1::ListLettersRequest& request) const;

  // Cancels a letter whose status is cancellable (letter_status.h), and in the same synced
  // write removes its pending tasks: a worker holding one of them gets FAILED_PRECONDITION
  // when it completes it.
  // Errors: INVALID_ARGUMENT (letter_id), NOT_FOUND, FAILED_PRECONDITION (already handed to
  // a channel or finished).
  [[nodiscard]] absl::StatusOr<v1::CancelLetterResponse> CancelLetter(
      std::string_view sender, const v1::CancelLetterRequest& request);

  // Applies a status change on behalf of the sender's letter, outside the task queue (for
  // tools and tests). A change into a terminal status removes the letter's pending tasks; any
  // other leaves them, and a worker completing one finds the letter in another status.
  // FAILED_PRECONDITION if the transition is not allowed from the letter's current status.
  [[nodiscard]] absl::StatusOr<v1::Letter> ApplyTransition(std::string_view sender,
                                                           const Transition& transition);

  // TaskService (proto/utpost/internal/v1/tasks.proto). Internal: the callers are components,
  // which act on every organisation's letters. Leases, completions and failures of one task
  // are serialised by a per-task lock; completions also hold the letter's lock, as every
  // other change of a letter does.

  // Leases up to max_tasks due tasks of `kind`, oldest due first, until now + lease_for, each
  // with its letter opened (recipient, postal address, options). A task is due when its due
  // time has passed: a new or retried task, or one whose lease expired. Each lease counts as
  // an attempt. All leases of one call are one synced write; calls for one kind are granted
  // one at a time. The cost does not grow with the number of finished tasks.
  // Errors: INVALID_ARGUMENT (kind, max_tasks, lease_for, worker), UNAVAILABLE (storage).
  [[nodiscard]] absl::StatusOr<internal::v1::LeaseTasksResponse> LeaseTasks(
      const internal::v1::LeaseTasksRequest& request);

  // In one synced write: checks that the lease is current (the newest lease of the task; it
  // may have expired if no one leased the task since) and that the letter is in
  // transition.expected_status; applies the transition (event and feed entry, detail sealed)
  // with the task id recorded in its event; deletes the task; queues next_tasks and records
  // them as the letter's pending tasks. Into a terminal status, the letter's other pending
  // tasks are removed too.
  // A retry after the task is finished returns the letter as it is, replayed = true, if the
  // task's event has the same status, reason and channel.
  // With transition.status unset, the letter keeps its status: no event, only the task
  // finished and next_tasks queued (after the same lease and expected_status checks); a
  // retry finds the task gone: NOT_FOUND (ABORTED if it was completed with a status).
  // A queued task carries its NextTask's reason and detail; a PRINT task without a reason
  // takes the transition's (the routing's reason, when the router sends a letter to print).
  // Errors: INVALID_ARGUMENT (fields), ABORTED (stale lease, or the task was finished with
  // another transition), FAILED_PRECONDITION (the letter is not in expected_status, e.g.
  // cancelled: the task is removed if it is still there, nothing else changes), NOT_FOUND (no
  // such task or letter), UNAVAILABLE (storage).
  [[nodiscard]] absl::StatusOr<internal::v1::CompleteTaskResponse> CompleteTask(
      const internal::v1::CompleteTaskRequest& request);

  // Several completions, each answered exactly as CompleteTask would answer it, in request
  // order. Every completion that writes is applied in one synced write for the whole call.
  // A completion whose letter is locked (by another call, or by an earlier completion of the
  // same call) is applied after that write, on its own. If the write fails, each completion
  // it held gets its error and none is applied.
  // Errors of the call: INVALID_ARGUMENT (completions: none, or more than kMaxCompletions).
  static constexpr int kMaxCompletions = 256;
  [[nodiscard]] absl::StatusOr<std::vector<absl::StatusOr<internal::v1::CompleteTaskResponse>>>
  CompleteTasks(const internal::v1::CompleteTasksRequest& request);

  // In one synced write: records a status change that `request.provider_id` reports outside
  // any task (a receipt, a print confirmation). Checks, in this order: the letter exists
  // (NOT_FOUND); it was handed to provider_id (LetterRecord.provider_ids, else
  // PERMISSION_DENIED, nothing changes); the newest event already has the transition's
  // status, reason and channel (the letter as it is, replayed = true); the letter is in
  // transition.expected_status (else FAILED_PRECONDITION, nothing changes). Into a terminal
  // status, the letter's pending tasks are removed in the same write (as ApplyTransition).
  // Errors: INVALID_ARGUMENT (letter_id, transition, provider_id), NOT_FOUND,
  // PERMISSION_DENIED, FAILED_PRECONDITION, UNAVAILABLE (storage).
  [[nodiscard]] absl::StatusOr<internal::v1::RecordTransitionResponse> RecordTransition(
      const internal::v1::RecordTransitionRequest& request);

  // Gives a leased task back, due again at retry_at (a time in the past means now), with
  // its attempt count kept (the lease already counted as an attempt) and `reason` recorded.
  // Errors: INVALID_ARGUMENT (fields), ABORTED (stale lease, or the task is finished),
  // UNAVAILABLE (storage).
  [[nodiscard]] absl::StatusOr<internal::v1::FailTaskResponse> FailTask(
      const internal::v1::FailTaskRequest& request);

  // ReadDocuments, in two steps so that a stream holds one document at a time: the first
  // checks the lease as CompleteTask does (the newest lease of the task; it may have expired
  // if no one leased the task since) and returns the documents' metadata; the second opens
  // one document, after checking the lease again (a lease lost mid-stream ends the stream).
  // Errors: INVALID_ARGUMENT (lease_token), ABORTED (stale lease, or the task is finished),
  // NOT_FOUND (no such task), FAILED_PRECONDITION (the documents were destroyed), DATA_LOSS
  // (a document fails its integrity check; the message names the document), UNAVAILABLE.
  struct TaskDocuments {
    LeaseToken token;
    std::string letter_id;
    std::vector<storage::v1::DocumentMeta> documents;  // in position order
  };
  [[nodiscard]] absl::StatusOr<TaskDocuments> OpenTaskDocuments(
      const internal::v1::ReadDocumentsRequest& request) const;
  // Document `position` of the token's letter, opened. Personal data: the caller wipes it.
  [[nodiscard]] absl::StatusOr<std::string> ReadTaskDocument(const LeaseToken& token,
                                                             uint32_t position) const;

  // Up to `limit` of the sender's events with sequence > `after`, in order, among those
  // visible now (see EventFeed). INVALID_ARGUMENT (after_sequence) if `after` is ahead of
  // every event recorded.
  [[nodiscard]] absl::StatusOr<std::vector<v1::LetterEvent>> ReadEvents(std::string_view sender,
                                                                        uint64_t after,
                                                                        size_t limit) const;

  // Decrypts document `position` of the sender's letter. NOT_FOUND also after cancellation.
  [[nodiscard]] absl::StatusOr<std::string> ReadDocument(std::string_view sender,
                                                         std::string_view letter_id,
                                                         uint32_t position) const;

  // Retention (LedgerConfig.retention): the synced write that brings a letter to its final
  // outcome also queues its RETENTION task, due at the outcome + the sender's period (a later
  // outcome replaces it). RunRetention leases up to `max_tasks` due RETENTION tasks and, for
  // each, in one synced write per letter destroys its documents as a cancel does (documents
  // and their keys deleted, documents_destroyed_time set, no event: the history stays), then
  // makes the deletion of the keys physical. Returns how many letters it handled; the first
  // error after trying them all. Components cannot lease RETENTION tasks.
  [[nodiscard]] absl::StatusOr<int> RunRetention(uint32_t max_tasks);

  // Completes the shreds of cancelled letters that a crash or an error interrupted (see
  // LedgerStore::PendingShreds). Call once at start, before serving.
  [[nodiscard]] absl::Status ShredPending();

  EventFeed& feed() { return feed_; }
  // The key of the idempotency fingerprints (GMAC), for the ledger's forms too. Never leaves
  // the process unwrapped.
  const crypto::SecretBytes& fingerprint_key() const { return fingerprint_key_; }
  const LedgerConfig& config() const { return config_; }
  const common::Clock& clock() const { return clock_; }

 private:
  Ledger(const LedgerConfig& config, storage::LedgerStore& store, const crypto::KeyStore& keys,
         const common::Clock& clock, LedgerMetrics* metrics,
         const absl::flat_hash_map<std::string, uint64_t>& last_sequences,
         crypto::SecretBytes fingerprint_key);

  // A validated request as the letter to store: id, sealed content and documents, first
  // event (no sequence yet), ROUTE task. `printability`: CheckLetterPrintability's verdicts,
  // kept in the sealed document metadata.
  absl::StatusOr<storage::NewLetter> BuildLetter(
      std::string_view sender, const v1::SendLetterRequest& request,
      const std::vector<internal::v1::Printability>& printability, absl::Time now);
  // The sender's letter, or NOT_FOUND (also when it belongs to someone else).
  absl::StatusOr<std::pair<common::LetterIdBytes, storage::LetterRecord>> LoadOwnLetter(
      std::string_view sender, std::string_view letter_id) const;
  // CompleteTask's checks and changes, with the letter's and task's locks held. An error is
  // the answer; else `out` says what to do (see PreparedCompletion).
  absl::Status PrepareCompletionLocked(const LeaseToken& token,
                                       const internal::v1::CompleteTaskRequest& request,
                                       absl::Time now, PreparedCompletion& out);
  // The answer to a prepared completion whose update was committed.
  absl::StatusOr<internal::v1::CompleteTaskResponse> AnswerCommitted(
      const PreparedCompletion& completion) const;
  // The update of CommitTransitionLocked, not yet written.
  absl::StatusOr<PreparedUpdate> PrepareTransitionLocked(
      const common::LetterIdBytes& id, storage::LetterRecord record, const Transition& transition,
      bool purge_documents, std::string_view task_id, std::vector<storage::TaskChange> tasks);
  // Commits prepared updates (of different letters, their locks held) in one synced write:
  // their events take feed sequences first; metrics and shredding follow a success.
  absl::Status CommitPreparedLocked(const std::vector<PreparedUpdate*>& prepared);
  // Applies `transition` to `record` (read under the letter's lock; its pending_task_ids
  // already what they are to become) with `tasks` in one synced write, and returns the
  // record written. `task_id`: the task whose completion this is, recorded in the event.
  // With `purge_documents`, destroys the documents (and shreds their keys) too.
  absl::StatusOr<storage::LetterRecord> CommitTransitionLocked(
      const common::LetterIdBytes& id, storage::LetterRecord record, const Transition& transition,
      bool purge_documents, std::string_view task_id, std::vector<storage::TaskChange> tasks);
  // Locks (blocking, holding them in `locks`) and reads the letter's pending tasks other than
  // `except`, removes them from `record` and adds their removal to `changes`. Called with the
  // letter's lock held: every thread that waits for a second task lock holds its letter's
  // lock, so two such threads never wait for each other.
  absl::Status RemovePendingTasksLocked(storage::LetterRecord& record, std::string_view except,
                                        std::deque<common::KeyedMutex::Lock>& locks,
                                        std::vector<storage::TaskChange>& changes);
  // A new task record for the letter, due at `due`.
  storage::TaskRecord NewTask(storage::v1::TaskKind kind, const storage::LetterRecord& letter,
                              absl::Time now, absl::Time due);
  // The token's letter and task, if the token's lease is the task's newest (see
  // OpenTaskDocuments for the errors).
  absl::StatusOr<std::pair<storage::TaskRecord, storage::LetterRecord>> CheckLease(
      const LeaseToken& token) const;
  // LeaseTasks without validation (the retention worker's RETENTION tasks).
  absl::StatusOr<internal::v1::LeaseTasksResponse> LeaseValidated(
      const internal::v1::LeaseTasksRequest& request);
  // Queues (or replaces, or removes) the letter's RETENTION task for the status `record` is
  // about to have, adding the changes to `changes` (task locks held in `locks`). Called with
  // the letter's lock held, `record` updated but not yet written.
  absl::Status ScheduleRetentionLocked(storage::LetterRecord& record, absl::Time now,
                                       std::deque<common::KeyedMutex::Lock>& locks,
                                       std::vector<storage::TaskChange>& changes);
  // Destroys the documents of the leased RETENTION task's letter (see RunRetention).
  absl::Status DestroyDocuments(const internal::v1::Task& task);
  // The answer to a CompleteTask whose task is gone (see CompleteTask).
  absl::StatusOr<internal::v1::CompleteTaskResponse> AnswerFinishedTask(
      const LeaseToken& token, const storage::LetterRecord& record,
      const internal::v1::Transition& transition) const;
  // The letter's sealed personal content, opened.
  absl::StatusOr<storage::v1::LetterContent> OpenContent(const storage::LetterRecord& record) const;
  // The public view of a stored letter: its sealed personal content opened.
  absl::StatusOr<v1::Letter> View(const storage::LetterRecord& record) const;
  // What a worker sees of a letter: its sealed personal content opened.
  absl::StatusOr<internal::v1::TaskLetter> ViewForTask(const storage::LetterRecord& record) const;
  // An event as stored: a non-empty detail sealed under EventDetailAad(letter id, index).
  absl::StatusOr<storage::EventRecord> SealEvent(v1::LetterEvent event, uint32_t index) const;
  // The one conversion of a stored event to the public one (the detail opened).
  absl::StatusOr<v1::LetterEvent> OpenEvent(storage::EventRecord record) const;
  // Makes the deletion of a cancelled letter's document keys physical (store.ShredDocuments).
  absl::Status Shred(const common::LetterIdBytes& id, std::string_view letter_id);

  LedgerConfig config_;
  storage::LedgerStore& store_;
  crypto::Envelope envelope_;
  // Keys the idempotency fingerprints (IdempotencyRecord, version 2).
  const crypto::SecretBytes fingerprint_key_;
  const common::Clock& clock_;
  LedgerMetrics* const metrics_;  // may be null
  common::LetterIdGenerator ids_;
  common::LetterIdGenerator task_ids_;
  EventFeed feed_;
  // Read-modify-write of one letter, of one task, and check-then-write of one idempotency
  // key, are serialised; nothing else waits, since these locks are held across a synced
  // write. Order: a letter's lock before its tasks' locks. Leasing only tries task locks (a
  // task being completed, failed or cancelled is skipped), so it never waits for one.
  common::KeyedMutex letter_locks_;
  common::KeyedMutex task_locks_;
  common::KeyedMutex idempotency_locks_;
};

}  // namespace utpost::ledger
