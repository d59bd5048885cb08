// The ledger's RocksDB instance, every column family opened once at start, and beside it the
// segment files that hold document ciphertext (storage/segments.h, in "segments/" of the
// database directory): each document is written to the disk once, there, and the database
// holds a pointer to it.
//
// Durability: Write() uses WriteOptions::sync = true, so when it returns OK the batch is in
// the write-ahead log and the log has been fdatasync'ed: it survives a process crash and a
// power loss (given a disk that honours flushes). Concurrent writers are grouped by RocksDB's
// write thread: one leader writes and syncs the log for the whole group, so letters that
// arrive together share one sync (group commit). Segment records are synced before the batch
// that points to them is written: a new letter's by WriteAfterSegments, whose groups do both
// for all their writers at once.
#pragma once

#include <array>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/db.h"
#include "rocksdb/statistics.h"
#include "rocksdb/write_batch.h"
#include "storage/segments.h"

namespace utpost::storage {

// Column families. Keys are described in storage/keys.h.
enum class Cf : int {
  kLetters = 0,   // letter id -> LetterRecord
  kDocuments,     // letter id + position -> SegmentPointer (before segments: the ciphertext)
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
  kSegments,  // segment id (8 bytes, big-endian) -> bytes its live pointers name (uint64, added)
  kCount,
};

std::string_view CfName(Cf cf);

struct DbOptions {
  std::filesystem::path path;
  // Memtable size per column family.
  size_t write_buffer_bytes = 32ull << 20;
  // Background flush and compaction threads.
  int background_jobs = 2;
  // Size at which a document segment is sealed and a new one started.
  uint64_t segment_bytes = 256ull << 20;
  // Tests only: sees every segment write and sync (SegmentOptions::observer).
  std::function<void(const SegmentEvent&)> segment_observer = {};
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

  // As Write, for a batch that points to segment records of sync generation
  // `segment_generation` (SegmentStore::Write): the records are made durable first, then the
  // batch is written. Writers that arrive together are committed as one group by one of them,
  // the leader: one segment sync for the whole group, then one synced write of all their
  // batches, applied in the order they arrived. Each other writer sleeps once, until the
  // leader is done, instead of once for the segment sync and again in RocksDB's write group.
  // A failure of either step fails every batch of the group, and none of them is applied.
  [[nodiscard]] absl::Status WriteAfterSegments(rocksdb::WriteBatch& batch,
                                                uint64_t segment_generation);

  // The document segments. A pointer committed to kDocuments is counted in kSegments
  // (AddSegmentBytes) in the same batch, and uncounted when it is deleted.
  SegmentStore& segments() { return *segments_; }
  const SegmentStore& segments() const { return *segments_; }
  // Adds `delta` (negative when pointers are deleted) to `segment`'s live bytes in `batch`.
  [[nodiscard]] absl::Status AddSegmentBytes(rocksdb::WriteBatch& batch, uint64_t segment,
                                             int64_t delta);
  // The bytes that committed pointers name in `segment`.
  [[nodiscard]] absl::StatusOr<uint64_t> SegmentLiveBytes(uint64_t segment) const;
  // Deletes those of `segments` that are sealed and hold nothing live (SegmentStore::Reclaim).
  [[nodiscard]] absl::Status ReclaimSegments(const std::vector<uint64_t>& segments);

  // A consistent copy for backups: a RocksDB checkpoint in `dir` (see storage/checkpoint.h)
  // and the sealed segments hard-linked into `dir`/segments, every record a pointer in the
  // checkpoint names among them. Returns the bytes of the copy.
  [[nodiscard]] absl::StatusOr<uint64_t> Checkpoint(const std::filesystem::path& dir);

  rocksdb::DB& raw() { return *db_; }
  rocksdb::ColumnFamilyHandle* cf(Cf cf) const { return handles_[static_cast<int>(cf)]; }

  // A RocksDB statistics ticker, e.g. rocksdb::WAL_FILE_SYNCED.
  uint64_t Ticker(rocksdb::Tickers ticker) const { return statistics_->getTickerCount(ticker); }
  // A RocksDB statistics histogram, e.g. rocksdb::READ_NUM_MERGE_OPERANDS.
  rocksdb::HistogramData Histogram(rocksdb::Histograms histogram) const {
    rocksdb::HistogramData data;
    statistics_->histogramData(histogram, &data);
    return data;
  }

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
  std::unique_ptr<SegmentStore> segments_;
  std::mutex physical_delete_mutex_;

  // WriteAfterSegments' groups. While group g commits, new writers queue for g + 1, so only
  // two generations ever wait, each on its own condition variable (group_cv_[g % 2]); the end
  // of group g wakes its writers, and one writer of the next to lead it.
  struct GroupWriter {
    rocksdb::WriteBatch* batch;
    uint64_t segment_generation;
    absl::Status status;
  };
  absl::Status CommitGroup(const std::vector<GroupWriter*>& group);
  std::mutex group_mutex_;
  std::condition_variable group_cv_[2];
  bool group_committing_ = false;
  uint64_t groups_started_ = 0;
  uint64_t groups_completed_ = 0;
  std::vector<GroupWriter*> group_queue_;
};

// The one place where rocksdb::Status becomes absl::Status. `context` names the operation.
// Busy/TryAgain/TimedOut/IOError -> UNAVAILABLE, Corruption -> DATA_LOSS, NotFound ->
// NOT_FOUND, others -> INTERNAL.
absl::Status FromRocksDb(const rocksdb::Status& status, std::string_view context);

}  // namespace utpost::storage
