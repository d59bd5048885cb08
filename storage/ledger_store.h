// Typed access to the ledger's column families. No business rules live here: the ledger
// (services/ledger) decides what a state change is; this store makes each one a single
// synced WriteBatch across the column families it touches, so a letter is either wholly
// there (record, documents, event, feed entry, index, task, idempotency key) or not at all.
//
// Tasks: a record per task (column family "tasks", key = task id) and an entry in the queue
// (column family "task_due", key = kind + due time + task id, empty value) that moves whenever
// the task's due time does, in the same batch as the record. Queue keys are each put once and
// removed with SingleDelete (a moved entry is a new key), so a finished task's entries vanish
// when compaction meets them; a lease scan seeks past them meanwhile (storage/due_floor.h).
//
// Documents are taken only as crypto::EncryptedDocument, which cannot hold plaintext.
// Thread-safe. Read-modify-write sequences must be serialised by the caller.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/letter_id.h"
#include "crypto/envelope.h"
#include "storage/db.h"
#include "storage/due_floor.h"
#include "utpost/storage/v1/records.pb.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::storage {

using storage::v1::EventRecord;
using storage::v1::FingerprintKeyRecord;
using storage::v1::IdempotencyRecord;
using storage::v1::KeyCheckRecord;
using storage::v1::LetterRecord;
using storage::v1::TaskRecord;

// A change to one task within a batch. `before` is the task as stored now: its record and its
// entry in the queue (column family "task_due", at before.due_time) are replaced or removed.
// `after` is what it becomes: its record is put and its queue entry added at after.due_time.
// A new task has no `before`; a finished task has no `after`. Both name the same task_id.
// The caller holds the task's lock (see the ledger) so that `before` is what is stored.
struct TaskChange {
  std::optional<TaskRecord> before;
  std::optional<TaskRecord> after;
};

// Everything an accepted letter writes, in one batch.
struct NewLetter {
  common::LetterIdBytes id{};
  LetterRecord record;                               // event_count == 1
  std::vector<crypto::EncryptedDocument> documents;  // in position order
  EventRecord event;                                 // the first event (index 0)
  std::vector<TaskRecord> tasks;                     // queued (task_id, kind and due_time set)
  std::string idempotency_key;                       // empty: none
  IdempotencyRecord idempotency;
};

// A change of an existing letter, in one batch: a status change (with its event) and/or
// changes to its tasks.
struct LetterUpdate {
  common::LetterIdBytes id{};
  LetterRecord record;  // the new state; event_count already incremented if there is an event
  std::optional<EventRecord> event;  // stored at index record.event_count - 1 and in the feed
  bool purge_documents = false;      // destroy the encrypted documents (see ShredDocuments)
  uint32_t document_count = 0;       // how many to destroy when purging
  std::vector<TaskChange> tasks;
};

// A task's due time in whole milliseconds (rounded down), as its queue key holds it.
int64_t DueUnixMs(const TaskRecord& task);

// An entry of the queue as a lease scan saw it.
struct DueEntry {
  common::LetterIdBytes task_id{};
  int64_t due_unix_ms = 0;
};

// One lease of one kind of task, from the scan of the queue to the write of the leases (see
// LedgerStore::ScanDue and CommitLease). Holds the kind's lease lock for its whole life, so
// leases of a kind are granted one call at a time and two calls never lease the same task.
class LeaseScan {
 public:
  ~LeaseScan();
  LeaseScan(const LeaseScan&) = delete;
  LeaseScan& operator=(const LeaseScan&) = delete;

  // The entries due (due time <= the scan's `now`), oldest first, as the scan saw them. A
  // task may have been finished or moved since: the caller re-reads each one under its lock.
  const std::vector<DueEntry>& due() const { return due_; }
  uint8_t kind() const { return kind_; }

 private:
  friend class LedgerStore;
  LeaseScan(DueFloors& floors, std::mutex& kind_mutex, uint8_t kind);

  std::unique_lock<std::mutex> lock_;
  DueFloors& floors_;
  uint8_t kind_;
  std::vector<DueEntry> due_;
  // Where the scanned range ends (exclusive), and the due time of the first entry past the
  // limit, if the scan stopped there.
  int64_t end_ms_ = 0;
  std::optional<int64_t> next_due_ms_;
  bool ended_ = false;
};

class LedgerStore {
 public:
  // `db` must outlive the store.
  explicit LedgerStore(Db& db) : db_(db) {}

  // A document is stored in two parts: its ciphertext, appended once to a segment file
  // (storage/segments.h) and synced before the batch, which holds a pointer to it (column
  // family "documents"); and its wrapped data key (column family "document_keys"), so that
  // the small key part can be destroyed, and that destruction made physical, without
  // rewriting the ciphertext. Returns once both are durable.
  [[nodiscard]] absl::Status CommitNewLetter(const NewLetter& letter);
  // As CommitNewLetter, with `extra` adding another store's changes of the same state change
  // (e.g. the submission a receipt letter is for) to the same synced batch.
  [[nodiscard]] absl::Status CommitNewLetter(
      const NewLetter& letter, absl::FunctionRef<absl::Status(rocksdb::WriteBatch&)> extra);
  // With purge_documents, also deletes the documents' pointers and wrapped keys and records
  // in the same batch that a shred is pending (PendingShreds); the caller then calls
  // ShredDocuments. A segment left with nothing live is deleted after the batch.
  [[nodiscard]] absl::Status CommitLetterUpdate(const LetterUpdate& update);
  // Several updates, of different letters, in one synced write: all applied or none.
  [[nodiscard]] absl::Status CommitLetterUpdates(const std::vector<const LetterUpdate*>& updates);

  // Crypto-shredding: makes the deletion of letter `id`'s wrapped data keys physical (see
  // Db::MakeDeletionsPhysical), so that no file in the database directory can decrypt its
  // documents any more, then clears the pending mark. Idempotent. Blocks for a flush of every
  // column family; calls are serialised.
  [[nodiscard]] absl::Status ShredDocuments(const common::LetterIdBytes& id);
  // Letters whose documents were deleted but whose shred has not completed (a crash or an
  // error between CommitLetterUpdate and ShredDocuments).
  [[nodiscard]] absl::StatusOr<std::vector<common::LetterIdBytes>> PendingShreds() const;
  [[nodiscard]] absl::StatusOr<bool> IsShredPending(const common::LetterIdBytes& id) const;

  // The key-encryption keys recorded for this database, by id.
  [[nodiscard]] absl::StatusOr<std::vector<KeyCheckRecord>> GetKeyChecks() const;
  // Records a key (synced).
  [[nodiscard]] absl::Status PutKeyCheck(const KeyCheckRecord& record);

  // The ledger's fingerprint key, wrapped; nullopt before it is first made.
  [[nodiscard]] absl::StatusOr<std::optional<FingerprintKeyRecord>> GetFingerprintKey() const;
  // Records it (synced).
  [[nodiscard]] absl::Status PutFingerprintKey(const FingerprintKeyRecord& record);

  // nullopt if there is no such letter.
  [[nodiscard]] absl::StatusOr<std::optional<LetterRecord>> GetLetter(
      const common::LetterIdBytes& id) const;
  // All events of a letter, oldest first, as stored (details sealed).
  [[nodiscard]] absl::StatusOr<std::vector<EventRecord>> GetEvents(
      const common::LetterIdBytes& id) const;
  // Event `index` of a letter as stored, or nullopt.
  [[nodiscard]] absl::StatusOr<std::optional<EventRecord>> GetEvent(const common::LetterIdBytes& id,
                                                                    uint32_t index) const;
  // NOT_FOUND if the document does not exist (never stored, or purged): either part missing.
  [[nodiscard]] absl::StatusOr<crypto::EncryptedDocument> GetDocument(
      const common::LetterIdBytes& id, uint32_t position) const;
  [[nodiscard]] absl::StatusOr<std::optional<IdempotencyRecord>> GetIdempotency(
      std::string_view sender, std::string_view key) const;

  // Up to `limit` of the sender's letter ids, newest first, strictly older than `before`
  // (none: from the newest) and not older than `not_before` (none: no bound).
  [[nodiscard]] absl::StatusOr<std::vector<common::LetterIdBytes>> ListLetterIds(
      std::string_view sender, const std::optional<common::LetterIdBytes>& before,
      const std::optional<common::LetterIdBytes>& not_before, size_t limit) const;

  // Up to `limit` of the sender's feed events with after < sequence <= up_to, in order, as
  // stored (details sealed).
  [[nodiscard]] absl::StatusOr<std::vector<EventRecord>> ReadFeed(std::string_view sender,
                                                                  uint64_t after, uint64_t up_to,
                                                                  size_t limit) const;

  // The highest feed sequence stored, per sender (senders without events are absent).
  // One seek per sender.
  [[nodiscard]] absl::StatusOr<absl::flat_hash_map<std::string, uint64_t>> LastSequences() const;

  // Every letter id in the store (for consistency checks and tools).
  [[nodiscard]] absl::StatusOr<std::vector<common::LetterIdBytes>> AllLetterIds() const;

  // The task, or nullopt if there is none (never queued, or finished).
  [[nodiscard]] absl::StatusOr<std::optional<TaskRecord>> GetTask(
      const common::LetterIdBytes& task_id) const;

  // Starts a lease of tasks of `kind`: blocks while another lease of the kind is in progress,
  // then finds up to `limit` entries of the queue due at or before `now`. The cost does not
  // grow with the number of finished tasks: the scan seeks past them (storage/due_floor.h).
  // Leasing continues with CommitLease, or ends when the scan is destroyed.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<LeaseScan>> ScanDue(uint8_t kind, absl::Time now,
                                                                   size_t limit);
  // Applies `changes` (the leased tasks, each moved from its entry in the scan to the end of
  // its lease, and any others removed) in one synced batch, and ends the scan.
  [[nodiscard]] absl::Status CommitLease(std::unique_ptr<LeaseScan> scan,
                                         const std::vector<TaskChange>& changes);
  // Applies task changes that touch no letter (e.g. a task given back for a retry), in one
  // synced batch.
  [[nodiscard]] absl::Status CommitTaskChanges(const std::vector<TaskChange>& changes);

  // Up to `limit` tasks of `kind` in queue order (leased ones at the end of their lease), due
  // or not. Scans from the start of the kind: for tests and tools, not for leasing.
  [[nodiscard]] absl::StatusOr<std::vector<TaskRecord>> QueuedTasks(uint8_t kind,
                                                                    size_t limit) const;
  // How many tasks of `kind` are due at `now` (waiting for a worker: new, retried, or with an
  // expired lease; leased ones are not), counting at most `cap`, and the due time of the
  // earliest. Reads from the kind's due floor, so the cost is at most `cap` entries plus the
  // tombstones left since the kind's last lease; it takes no lock a lease waits for. For
  // metrics: a lease running meanwhile may or may not be seen.
  struct DueSummary {
    uint64_t due = 0;
    bool capped = false;                 // there are more than `cap`
    std::optional<int64_t> earliest_ms;  // Unix ms; none when nothing is due
  };
  [[nodiscard]] absl::StatusOr<DueSummary> SummarizeDue(uint8_t kind, absl::Time now,
                                                        size_t cap) const;
  // The kind's due floor (storage/due_floor.h), for tests.
  int64_t DueFloor(uint8_t kind) const { return floors_.floor(kind); }

  Db& db() { return db_; }

 private:
  // Adds the writes of `update` to `batch`; appends the queue entries it adds to `inserted`
  // and the segments whose live bytes it lowers to `emptied`.
  absl::Status AddLetterUpdate(rocksdb::WriteBatch& batch, const LetterUpdate& update,
                               std::vector<std::pair<uint8_t, int64_t>>& inserted,
                               std::vector<uint64_t>& emptied);
  // Adds the writes of `letter` to `batch`; appends the queue entries it adds to `inserted`.
  absl::Status AddNewLetter(rocksdb::WriteBatch& batch, const NewLetter& letter,
                            const std::vector<SegmentPointer>& pointers,
                            std::vector<std::pair<uint8_t, int64_t>>& inserted);
  // Adds `changes` to `batch`; appends the queue entries it adds to `inserted`.
  absl::Status AddTaskChanges(rocksdb::WriteBatch& batch, const std::vector<TaskChange>& changes,
                              std::vector<std::pair<uint8_t, int64_t>>& inserted);
  // Writes `batch`, which adds the queue entries `inserted`, keeping the due floors below them.
  // A batch that points to segment records of sync generation `segment_generation` (not 0)
  // goes through Db::WriteAfterSegments' group commit.
  absl::Status WriteWithTasks(rocksdb::WriteBatch& batch,
                              std::vector<std::pair<uint8_t, int64_t>> inserted,
                              uint64_t segment_generation = 0);

  Db& db_;
  DueFloors floors_;
  std::array<std::mutex, 256> lease_mutexes_;  // one per kind
};

}  // namespace utpost::storage
