// The ledger's RocksDB instance: every column family opened once, at start.
//
// Durability: Write() uses WriteOptions::sync = true, so when it returns OK the batch is in
// the write-ahead log and the log has been fdatasync'ed: it survives a process crash and a
// power loss (given a disk that honours flushes). Concurrent writers are grouped by RocksDB's
// write thread: one leader writes and syncs the log for the whole group, so letters that
// arrive together share one sync (group commit).
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/db.h"
#include "rocksdb/statistics.h"
#include "rocksdb/write_batch.h"

namespace utpost::storage {

// Column families. Keys are described in storage/keys.h.
enum class Cf : int {
  kLetters = 0,   // letter id -> LetterRecord
  kDocuments,     // letter id + position -> document ciphertext (in blob files)
  kEvents,        // letter id + index -> EventRecord
  kFeed,          // sender + sequence -> EventRecord (the WatchLetterEvents feed)
  kTasks,         // task id -> TaskRecord
  kIdempotency,   // sender + idempotency key -> IdempotencyRecord
  kSenderIndex,   // sender + letter id -> "" (ListLetters)
  kDocumentKeys,  // letter id + position -> DocumentKeyRecord (wrapped data keys)
  kMeta,          // "kek/" + id -> KeyCheckRecord; "shred/" + letter id -> ""
  kTaskDue,       // kind + due time + task id -> "" (the queue; keys put once, SingleDelete)
  // Citizen form submissions (storage/forms_store.h).
  kFormTypes,            // municipality + "/" + form type id -> FormTypeRecord
  kSubmissions,          // submission id -> SubmissionRecord
  kSubmissionEnvelopes,  // submission id -> CMS envelope (in blob files)
  kFormIndex,            // pending queues, listing index, portals' idempotency keys
  kStats,                // sender + day + counter -> uint64 (storage/stats_store.h)
  kCount,
};

std::string_view CfName(Cf cf);

struct DbOptions {
  std::filesystem::path path;
  // Values at least this large in the documents family go to blob files, out of the LSM
  // tree that compaction rewrites.
  uint64_t min_blob_bytes = 1024;
  // Memtable size per column family; the documents family gets four times this.
  size_t write_buffer_bytes = 32ull << 20;
  // Background flush and compaction threads.
  int background_jobs = 2;
  // Write flushed files with O_DIRECT where the filesystem supports it: documents reach the
  // disk twice (WAL, then blob file), and the second copy need not pass the page cache.
  bool direct_io_for_flush = true;
};

class Db {
 public:
  // Opens or creates the database. UNAVAILABLE if another process holds it (RocksDB's LOCK),
  // DATA_LOSS if it is corrupt, INTERNAL otherwise.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Db>> Open(const DbOptions& options);

  // Flushes nothing that is not already durable: the WAL of every acknowledged write is
  // synced. Closing syncs the WAL again and releases the lock.
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Applies `batch` atomically and syncs the WAL before returning.
  [[nodiscard]] absl::Status Write(rocksdb::WriteBatch& batch);

  rocksdb::DB& raw() { return *db_; }
  rocksdb::ColumnFamilyHandle* cf(Cf cf) const { return handles_[static_cast<int>(cf)]; }

  // A RocksDB statistics ticker, e.g. rocksdb::WAL_FILE_SYNCED.
  uint64_t Ticker(rocksdb::Tickers ticker) const { return statistics_->getTickerCount(ticker); }

  // Flushes every memtable to SST and blob files (for tests and clean shutdown).
  [[nodiscard]] absl::Status FlushAll();

  // Makes deletions already written (and synced) to keys in [begin, end) of `cf` physical:
  // when it returns OK, no file of the database holds the deleted values any more.
  //  1. every memtable is flushed, so the write-ahead log files that held the values become
  //     obsolete (a log is kept until every column family's data in it is flushed);
  //  2. [begin, end) of `cf` is compacted down to the bottommost level (forced), so no SST
  //     file keeps an older version of those keys;
  //  3. obsolete files are deleted before returning (file deletions are held off during 1
  //     and 2, then a full purge runs in this thread).
  // Costly (a flush of every column family), so for rare events such as crypto-shredding.
  // Calls are serialised. Files copied elsewhere (backups, checkpoints) are out of reach.
  [[nodiscard]] absl::Status MakeDeletionsPhysical(Cf cf, std::string_view begin,
                                                   std::string_view end);

 private:
  Db() = default;
  std::shared_ptr<rocksdb::Statistics> statistics_;
  std::array<rocksdb::ColumnFamilyHandle*, static_cast<int>(Cf::kCount)> handles_{};
  std::unique_ptr<rocksdb::DB> db_;
  std::mutex physical_delete_mutex_;
};

// The one place where rocksdb::Status becomes absl::Status. `context` names the operation.
// Busy/TryAgain/TimedOut/IOError -> UNAVAILABLE, Corruption -> DATA_LOSS, NotFound ->
// NOT_FOUND, others -> INTERNAL.
absl::Status FromRocksDb(const rocksdb::Status& status, std::string_view context);

}  // namespace utpost::storage
