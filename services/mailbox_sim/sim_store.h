// The mailbox simulator's own store (data/mailbox-sim): letters, their envelopes as received,
// READ receipts and print batches, per provider id, in RocksDB, and the envelopes of letters
// of up to kHeldBytes in append-only segment files (data/mailbox-sim/segments, the ledger's
// storage::SegmentStore). No business rules here.
//
// Keys (one column family; provider ids are [a-z0-9-], letter and upload ids have no NUL):
//   "l" provider \0 letter_id                  -> SimLetter
//   "e" provider \0 letter_id \0 delivery_id   -> "" (a letter shown in a mailbox; two for
//                                                 one letter would be a duplicate)
//   "r" provider \0 due (8 bytes BE µs) letter_id -> provider.v1.Receipt
//   "b" provider \0 batch_id                   -> SimBatch
//   "u" upload_id                              -> "" (an upload not yet committed)
//   "c" upload_id \0 part (4 BE) chunk (4 BE)  -> envelope bytes as received, or a
//                                                 storage::SegmentPointer to them
//
// Durability: the commit of a letter or batch is one synced WriteBatch. A letter held whole
// (the common case) has each document's envelope appended to a segment and synced first,
// then its pointers go in that batch: the envelope's bytes reach the disk once, and a crash
// between the two leaves only bytes no pointer names. A larger upload's chunks are written
// to RocksDB before the commit without a sync, under an upload marker; syncing the
// write-ahead log at the commit makes every earlier write durable too.
// An upload that was never committed (a stream cut off, a crash) is removed by Open.
// Thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rocksdb/db.h"
#include "storage/segments.h"
#include "utpost/provider/v1/provider.pb.h"
#include "utpost/sim/v1/mailbox_sim_records.pb.h"

namespace utpost::mailbox_sim {

class SimStore {
 public:
  // Opens or creates the database and removes uncommitted uploads. UNAVAILABLE if another
  // process holds it.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SimStore>> Open(
      const std::filesystem::path& path);
  ~SimStore();

  // Marks `upload_id` as in progress, so that its chunks go if it is never committed.
  [[nodiscard]] absl::Status BeginUpload(std::string_view upload_id);
  // Stores one chunk of an envelope (not synced; see the file comment).
  [[nodiscard]] absl::Status PutChunk(std::string_view upload_id, uint32_t part, uint32_t chunk,
                                      std::string_view bytes);
  // Every chunk of part `part` of `upload_id`, in order.
  [[nodiscard]] absl::Status ReadChunks(std::string_view upload_id, uint32_t part,
                                        const std::function<void(std::string_view)>& fn) const;
  // Removes an upload's chunks and its marker.
  [[nodiscard]] absl::Status DiscardUpload(std::string_view upload_id);

  [[nodiscard]] absl::StatusOr<std::optional<sim::v1::SimLetter>> GetLetter(
      std::string_view provider, std::string_view letter_id) const;
  // A document's envelope not stored yet (every chunk of part `part`, in order).
  struct HeldPart {
    uint32_t part = 0;
    std::string bytes;
  };
  // Appends the envelopes `held` (of letter.upload_id()) to a segment and syncs them, then
  // one synced batch: their pointers, the letter, its "shown" mark, its receipt (if any, due
  // at receipt.time()) and the end of its upload.
  [[nodiscard]] absl::Status CommitLetter(std::string_view provider,
                                          const sim::v1::SimLetter& letter,
                                          const std::optional<provider::v1::Receipt>& receipt,
                                          const std::vector<HeldPart>& held = {});

  // Receipts due at or before `now`, oldest first, at most `max`.
  [[nodiscard]] absl::StatusOr<std::vector<provider::v1::Receipt>> DueReceipts(
      std::string_view provider, absl::Time now, size_t max) const;
  // Deletes the receipts named (ids from ReceiptId); unknown ids are ignored. Synced.
  [[nodiscard]] absl::Status AcknowledgeReceipts(std::string_view provider,
                                                 const std::vector<std::string>& receipt_ids);
  // The id of a receipt for `letter_id` due at `due`: the key of its record, so that an
  // acknowledgement needs no index.
  static std::string ReceiptId(absl::Time due, std::string_view letter_id);

  [[nodiscard]] absl::StatusOr<std::optional<sim::v1::SimBatch>> GetBatch(
      std::string_view provider, std::string_view batch_id) const;
  // One synced batch: the record and the end of its upload.
  [[nodiscard]] absl::Status CommitBatch(std::string_view provider, const sim::v1::SimBatch& batch);

  struct MailboxCount {
    std::string address;
    uint64_t letters = 0;
    std::vector<std::string> letter_ids;  // by delivery time, at most 1000
  };
  struct Counts {
    uint64_t letters = 0;
    uint64_t duplicates = 0;
    uint64_t receipts = 0;
    uint64_t batches = 0;
    uint64_t batch_letters = 0;
    std::vector<MailboxCount> mailboxes;  // by address; only when asked
  };
  // Counts by scanning the provider's keys (a simulator holds few letters).
  [[nodiscard]] absl::StatusOr<Counts> Count(std::string_view provider, bool list_mailboxes) const;

  // A RocksDB checkpoint in `dir` (created) and the sealed segments hard-linked into
  // dir/segments, as the ledger's. Returns the bytes written or linked.
  [[nodiscard]] absl::StatusOr<uint64_t> Checkpoint(const std::filesystem::path& dir);

  // The database and the segments beneath, for tests and start-up logs.
  rocksdb::DB& raw() { return *db_; }
  const storage::SegmentStore& segments() const { return *segments_; }

 private:
  SimStore(std::unique_ptr<rocksdb::DB> db, std::unique_ptr<storage::SegmentStore> segments)
      : db_(std::move(db)), segments_(std::move(segments)) {}
  [[nodiscard]] absl::Status RemoveUnfinishedUploads();
  [[nodiscard]] absl::Status ForEach(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const;

  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<storage::SegmentStore> segments_;
};

}  // namespace utpost::mailbox_sim
