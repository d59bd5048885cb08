// The print component's spool: letters handed to print and the batches they go out in, in a
// RocksDB of its own (print.data_dir). Every write is one synced WriteBatch.
//
// Nothing personal is stored in clear: a letter's SpoolLetter (address, cover page,
// documents) and the CompleteTaskRequest of a pending letter are sealed with crypto::Envelope
// under the key store's key-encryption key, each bound to its letter id; a closed batch is
// kept as the CMS envelope made for the provider.
//
// Keys: "b/<batch>" PrintBatchRecord, "c/<batch>" the batch's CMS envelope,
// "e/<batch>/<letter>" PrintEntryRecord, "l/<letter>" the batch id (so that a letter is in
// one batch at most).
//
// Not thread-safe: one print worker owns it.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/envelope.h"
#include "crypto/key_store.h"
#include "rocksdb/db.h"
#include "utpost/internal/v1/tasks.pb.h"
#include "utpost/provider/v1/provider.pb.h"
#include "utpost/storage/v1/print_records.pb.h"

namespace utpost::print {

// A letter spooled but not yet known to the ledger as QUEUED_FOR_PRINT.
struct PendingLetter {
  std::string batch_id;
  std::string letter_id;
  internal::v1::CompleteTaskRequest completion;
};

class SpoolStore {
 public:
  // Opens or creates the database at `path`. `keys` must outlive the store.
  // UNAVAILABLE if another process holds it, DATA_LOSS if it is corrupt, INTERNAL otherwise.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SpoolStore>> Open(
      const std::filesystem::path& path, const crypto::KeyStore& keys);
  ~SpoolStore();
  SpoolStore(const SpoolStore&) = delete;
  SpoolStore& operator=(const SpoolStore&) = delete;
  // The database, for a checkpoint (storage/checkpoint.h).
  rocksdb::DB& raw() { return *db_; }

  // The batch `letter_id` is in (pending or committed), if any.
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> BatchOf(std::string_view letter_id);

  // Writes a new OPEN batch record.
  [[nodiscard]] absl::Status OpenBatch(const std::string& batch_id, absl::Time now);

  // Writes the letter as pending in `batch_id` with the completion to send (which holds the
  // lease token). FAILED_PRECONDITION if the letter is in a batch already or the batch is not
  // open.
  [[nodiscard]] absl::Status PutPending(const std::string& batch_id,
                                        const provider::v1::SpoolLetter& letter,
                                        const internal::v1::CompleteTaskRequest& completion,
                                        absl::Time now);
  // Every pending letter, oldest batch first.
  [[nodiscard]] absl::StatusOr<std::vector<PendingLetter>> Pending();
  // The ledger applied the completion: the entry becomes committed and counts in its batch.
  [[nodiscard]] absl::Status Commit(const std::string& batch_id, const std::string& letter_id);
  // The ledger refused the completion: the entry goes.
  [[nodiscard]] absl::Status Drop(const std::string& batch_id, const std::string& letter_id);
  // Pending letters of `batch_id`.
  [[nodiscard]] absl::StatusOr<int> PendingIn(const std::string& batch_id);

  // Every batch record.
  [[nodiscard]] absl::StatusOr<std::vector<storage::v1::PrintBatchRecord>> Batches();
  [[nodiscard]] absl::StatusOr<std::optional<storage::v1::PrintBatchRecord>> Batch(
      const std::string& batch_id);
  // Replaces the batch record.
  [[nodiscard]] absl::Status PutBatch(const storage::v1::PrintBatchRecord& record);

  // The committed letters of `batch_id`, opened, in spool order (letter id order).
  [[nodiscard]] absl::StatusOr<provider::v1::SpoolBatch> ReadBatch(const std::string& batch_id);
  // Stores the batch as CLOSED with its letters and envelope, in one write.
  [[nodiscard]] absl::Status CloseBatch(storage::v1::PrintBatchRecord record,
                                        std::string_view envelope);
  // The CMS envelope of a closed batch. NOT_FOUND if there is none.
  [[nodiscard]] absl::StatusOr<std::string> Envelope(const std::string& batch_id);
  // Deletes the batch, its envelope and its letters (the letters' ids stay taken: "l/" keys
  // are kept, so a letter is never spooled again).
  [[nodiscard]] absl::Status FinishBatch(const std::string& batch_id);

 private:
  SpoolStore(std::unique_ptr<rocksdb::DB> db, const crypto::KeyStore& keys);
  [[nodiscard]] absl::Status Write(rocksdb::WriteBatch& batch);
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> Get(std::string_view key);
  [[nodiscard]] absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view prefix);

  std::unique_ptr<rocksdb::DB> db_;
  crypto::Envelope envelope_;
};

}  // namespace utpost::print
