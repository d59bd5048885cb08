// Typed access to the column families of citizen form submissions (utpost/v1/forms.proto).
// No business rules: the ledger's form logic (services/ledger/forms.h) decides what a state
// change is; this store makes each one a single synced WriteBatch, together with the letter
// it creates when there is one (a receipt or notice letter, through LedgerStore), so that a
// submission and its letter are both there or neither is.
//
// Key layouts (integers big-endian; ids are the 16-byte binary form of the 26-character id,
// time-ordered; org keys have a fixed length per country, so no prefix is another's):
//   form_types            municipality "/" form type id      -> FormTypeRecord
//   submissions           id(16)                             -> SubmissionRecord
//   submission_envelopes  id(16)                             -> SegmentPointer to the CMS
//                                                          envelope, written once to a
//                                                          segment (storage/segments.h);
//                                                          before segments, the envelope
//   form_index            'p' municipality "/" due_ms(8) id(16) -> ""   pending queue: due at
//                                                          due_ms (receipt, or a lease's end)
//                         'l' municipality "/" id(16)      -> ""        every submission, for
//                                                          ListSubmissions
//                         'k' portal "/" idempotency key   -> SubmissionIdempotencyRecord
// An envelope is stored only as the bytes of a CMS envelope, which the server cannot open.
// Thread-safe. Read-modify-write sequences must be serialised by the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "common/letter_id.h"
#include "storage/db.h"
#include "storage/ledger_store.h"
#include "utpost/storage/v1/form_records.pb.h"

namespace utpost::storage {

using storage::v1::FormTypeRecord;
using storage::v1::SubmissionIdempotencyRecord;
using storage::v1::SubmissionRecord;

// Everything an accepted submission writes, in one batch.
struct NewSubmission {
  common::LetterIdBytes id{};
  SubmissionRecord record;      // pending; its queue entry goes at record.due_unix_ms
  std::string envelope;         // the CMS envelope (DER)
  std::string idempotency_key;  // empty: none
  SubmissionIdempotencyRecord idempotency;
};

// A change of an existing submission. `record` is its new state: while pending, its queue
// entry is at record.due_unix_ms (moved from `pending_due_before`, the entry as stored);
// once archived or rejected it has none.
struct SubmissionChange {
  common::LetterIdBytes id{};
  std::optional<int64_t> pending_due_before;  // its queue entry as stored, if pending
  SubmissionRecord record;
  bool delete_envelope = false;
};

// A queue entry as a scan saw it.
struct PendingEntry {
  common::LetterIdBytes id{};
  int64_t due_unix_ms = 0;
};

class FormsStore {
 public:
  // `db` and `letters` (the ledger's store on the same database) must outlive the store.
  FormsStore(Db& db, LedgerStore& letters) : db_(db), letters_(letters) {}

  [[nodiscard]] absl::StatusOr<std::optional<FormTypeRecord>> GetFormType(
      std::string_view municipality, std::string_view form_type_id) const;
  // Creates or replaces the form type (synced).
  [[nodiscard]] absl::Status PutFormType(std::string_view municipality,
                                         const FormTypeRecord& record);
  // Up to `limit` of the municipality's form types with ids after `after` (empty: from the
  // first), ordered by id.
  [[nodiscard]] absl::StatusOr<std::vector<FormTypeRecord>> ListFormTypes(
      std::string_view municipality, std::string_view after, size_t limit) const;

  [[nodiscard]] absl::StatusOr<std::optional<SubmissionRecord>> GetSubmission(
      const common::LetterIdBytes& id) const;
  // NOT_FOUND if the envelope is gone (archived or rejected).
  [[nodiscard]] absl::StatusOr<std::string> GetEnvelope(const common::LetterIdBytes& id) const;
  [[nodiscard]] absl::StatusOr<std::optional<SubmissionIdempotencyRecord>> GetIdempotency(
      std::string_view portal, std::string_view key) const;

  // Writes the submission (record, envelope, queue and listing entries, idempotency key) and,
  // when `letter` is given, the letter, in one synced batch.
  [[nodiscard]] absl::Status CommitNewSubmission(const NewSubmission& submission,
                                                 const NewLetter* letter);
  // Applies `changes` and, when `letter` is given, writes the letter, in one synced batch.
  [[nodiscard]] absl::Status CommitChanges(const std::vector<SubmissionChange>& changes,
                                           const NewLetter* letter);

  // Up to `limit` entries of the municipality's pending queue due at or before `now_ms`,
  // oldest first.
  [[nodiscard]] absl::StatusOr<std::vector<PendingEntry>> ScanPending(std::string_view municipality,
                                                                      int64_t now_ms,
                                                                      size_t limit) const;
  // The pending queue of every municipality at `now_ms`: how many submissions wait for their
  // case system (fetched or not), and when the longest-waiting of those due (not under a
  // lease) became due. Reads at most `cap` entries in all; `capped` says it stopped there.
  struct PendingSummary {
    size_t pending = 0;
    std::optional<int64_t> earliest_due_ms;
  };
  struct PendingSummaries {
    std::map<std::string, PendingSummary, std::less<>> by_municipality;
    bool capped = false;
  };
  [[nodiscard]] absl::StatusOr<PendingSummaries> SummarizePending(int64_t now_ms, size_t cap) const;
  // Up to `limit` of the municipality's submission ids, newest first, strictly older than
  // `before` (none: from the newest).
  [[nodiscard]] absl::StatusOr<std::vector<common::LetterIdBytes>> ListSubmissionIds(
      std::string_view municipality, const std::optional<common::LetterIdBytes>& before,
      size_t limit) const;

 private:
  absl::Status AddNew(rocksdb::WriteBatch& batch, const NewSubmission& submission,
                      const SegmentPointer& envelope);
  // Appends to `emptied` the segments whose live bytes the changes lower.
  absl::Status AddChanges(rocksdb::WriteBatch& batch, const std::vector<SubmissionChange>& changes,
                          std::vector<uint64_t>& emptied);
  // Writes what `add` adds, with `letter` if given, in one synced batch.
  absl::Status Write(absl::FunctionRef<absl::Status(rocksdb::WriteBatch&)> add,
                     const NewLetter* letter);

  Db& db_;
  LedgerStore& letters_;
};

}  // namespace utpost::storage
