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

using storage::v1::IdempotencyRecord;
using storage::v1::LetterRecord;
using storage::v1::TaskRecord;

// Everything an accepted letter writes, in one batch.
struct NewLetter {
  common::LetterIdBytes id{};
  LetterRecord record;                               // event_count == 1
  std::vector<crypto::EncryptedDocument> documents;  // in position order
  utpost::v1::LetterEvent event;                     // the first event (index 0)
  TaskRecord task;
  absl::Time task_due;
  std::string idempotency_key;  // empty: none
  IdempotencyRecord idempotency;
};

// A status change of an existing letter, in one batch.
struct LetterUpdate {
  common::LetterIdBytes id{};
  LetterRecord record;            // the new state; event_count already incremented
  utpost::v1::LetterEvent event;  // stored at index record.event_count - 1
  bool purge_documents = false;   // destroy the encrypted documents
  uint32_t document_count = 0;    // how many to destroy when purging
};

class LedgerStore {
 public:
  // `db` must outlive the store.
  explicit LedgerStore(Db& db) : db_(db) {}

  [[nodiscard]] absl::Status CommitNewLetter(const NewLetter& letter);
  [[nodiscard]] absl::Status CommitLetterUpdate(const LetterUpdate& update);

  // nullopt if there is no such letter.
  [[nodiscard]] absl::StatusOr<std::optional<LetterRecord>> GetLetter(
      const common::LetterIdBytes& id) const;
  // All events of a letter, oldest first.
  [[nodiscard]] absl::StatusOr<std::vector<utpost::v1::LetterEvent>> GetEvents(
      const common::LetterIdBytes& id) const;
  // NOT_FOUND if the document does not exist (never stored, or purged).
  [[nodiscard]] absl::StatusOr<crypto::EncryptedDocument> GetDocument(
      const common::LetterIdBytes& id, uint32_t position) const;
  [[nodiscard]] absl::StatusOr<std::optional<IdempotencyRecord>> GetIdempotency(
      std::string_view sender, std::string_view key) const;

  // Up to `limit` of the sender's letter ids, newest first, strictly older than `before`
  // (none: from the newest) and not older than `not_before` (none: no bound).
  [[nodiscard]] absl::StatusOr<std::vector<common::LetterIdBytes>> ListLetterIds(
      std::string_view sender, const std::optional<common::LetterIdBytes>& before,
      const std::optional<common::LetterIdBytes>& not_before, size_t limit) const;

  // Up to `limit` of the sender's feed events with after < sequence <= up_to, in order.
  [[nodiscard]] absl::StatusOr<std::vector<utpost::v1::LetterEvent>> ReadFeed(
      std::string_view sender, uint64_t after, uint64_t up_to, size_t limit) const;

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
