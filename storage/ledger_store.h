// Typed access to the ledger's column families. No business rules live here: the ledger
// (services/ledger) decides what a state change is; this store makes each one a single
// synced WriteBatch across the column families it touches, so a letter is either wholly
// there (record, documents, event, feed entry, index, task, idempotency key) or not at all.
//
// Documents are taken only as crypto::EncryptedDocument, which cannot hold plaintext.
// Thread-safe. Read-modify-write sequences must be serialised by the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/letter_id.h"
#include "crypto/envelope.h"
#include "storage/db.h"
#include "utpost/storage/v1/records.pb.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::storage {

using storage::v1::EventRecord;
using storage::v1::IdempotencyRecord;
using storage::v1::KeyCheckRecord;
using storage::v1::LetterRecord;
using storage::v1::TaskRecord;

// Everything an accepted letter writes, in one batch.
struct NewLetter {
  common::LetterIdBytes id{};
  LetterRecord record;                               // event_count == 1
  std::vector<crypto::EncryptedDocument> documents;  // in position order
  EventRecord event;                                 // the first event (index 0)
  TaskRecord task;
  absl::Time task_due;
  std::string idempotency_key;  // empty: none
  IdempotencyRecord idempotency;
};

// A status change of an existing letter, in one batch.
struct LetterUpdate {
  common::LetterIdBytes id{};
  LetterRecord record;           // the new state; event_count already incremented
  EventRecord event;             // stored at index record.event_count - 1
  bool purge_documents = false;  // destroy the encrypted documents (see ShredDocuments)
  uint32_t document_count = 0;   // how many to destroy when purging
};

class LedgerStore {
 public:
  // `db` must outlive the store.
  explicit LedgerStore(Db& db) : db_(db) {}

  // A document is stored in two parts: its ciphertext (column family "documents") and its
  // wrapped data key (column family "document_keys"), so that the small key part can be
  // destroyed, and that destruction made physical, without rewriting the ciphertext.
  [[nodiscard]] absl::Status CommitNewLetter(const NewLetter& letter);
  // With purge_documents, also deletes the documents' ciphertext and wrapped keys and records
  // in the same batch that a shred is pending (PendingShreds); the caller then calls
  // ShredDocuments.
  [[nodiscard]] absl::Status CommitLetterUpdate(const LetterUpdate& update);

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

  // nullopt if there is no such letter.
  [[nodiscard]] absl::StatusOr<std::optional<LetterRecord>> GetLetter(
      const common::LetterIdBytes& id) const;
  // All events of a letter, oldest first, as stored (details sealed).
  [[nodiscard]] absl::StatusOr<std::vector<EventRecord>> GetEvents(
      const common::LetterIdBytes& id) const;
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

  // Pending tasks with due time <= `due_by`, oldest first, at most `limit`.
  [[nodiscard]] absl::StatusOr<std::vector<TaskRecord>> DueTasks(absl::Time due_by,
                                                                 size_t limit) const;

  Db& db() { return db_; }

 private:
  Db& db_;
};

}  // namespace utpost::storage
