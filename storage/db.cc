#include "storage/db.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "storage/checkpoint.h"
#include "storage/stats_store.h"

namespace utpost::storage {
namespace {

constexpr std::array<std::string_view, static_cast<int>(Cf::kCount)> kCfNames = {
    "letters",
    "documents",
    "events",
    "feed",
    "tasks",
    "idempotency",
    "sender_index",
    "document_keys",
    "meta",
    "task_due",
    "form_types",
    "submissions",
    "submission_envelopes",
    "form_index",
    "stats",
    "segments"};

std::string SegmentKey(uint64_t segment) {
  std::string key(8, '\0');
  for (int i = 0; i < 8; ++i) key[i] = static_cast<char>(segment >> (8 * (7 - i)));
  return key;
}

// The "utpost.add64" operand: a little-endian uint64 (a negative delta wraps, and adds as
// a subtraction).
std::string EncodeAdd(int64_t delta) {
  std::string value(8, '\0');
  const auto v = static_cast<uint64_t>(delta);
  for (int i = 0; i < 8; ++i) value[i] = static_cast<char>(v >> (8 * i));
  return value;
}

}  // namespace

std::string_view CfName(Cf cf) { return kCfNames[static_cast<int>(cf)]; }

absl::Status FromRocksDb(const rocksdb::Status& status, std::string_view context) {
  if (status.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(common::Av(context), ": ", status.ToString());
  switch (status.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(message);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(message);
    case rocksdb::Status::kIOError:
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kIncomplete:
    case rocksdb::Status::kShutdownInProgress:
      return absl::UnavailableError(message);
    case rocksdb::Status::kInvalidArgument:
    case rocksdb::Status::kNotSupported:
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<std::unique_ptr<Db>> Db::Open(const DbOptions& options) {
  std::unique_ptr<Db> db(new Db());
  db->statistics_ = rocksdb::CreateDBStatistics();
  db->statistics_->set_stats_level(rocksdb::StatsLevel::kExceptDetailedTimers);

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.statistics = db->statistics_;
  db_options.max_background_jobs = options.background_jobs;
  // Document bytes do not pass through RocksDB (they go to segments), so its I/O is small
  // records and its defaults hold on any disk: no direct I/O, no tuned sync sizes, and no
  // pipelined writes (with small batches the memtable insert is short, and a write that goes
  // through one write group rather than two wakes fewer threads).
  // Keep the info LOG small: operators read utpost's own logs.
  db_options.max_log_file_size = 8 << 20;
  db_options.keep_log_file_num = 3;

  rocksdb::ColumnFamilyOptions base;
  base.write_buffer_size = options.write_buffer_bytes;
  base.compression = rocksdb::kLZ4Compression;
  base.bottommost_compression = rocksdb::kZSTD;
  rocksdb::BlockBasedTableOptions table;
  // Most point reads ask for keys that do not exist: every SendLetter with an idempotency key
  // asks for its key, which is new but for a retry. A Bloom filter in each table file (10 bits
  // a key, about 1 % false positives) answers those without searching the file's index and a
  // data block in every level, so a read costs the same in a store of ten million letters as
  // in a new one. Iterators (a sender's listing, the task queue) do not use it.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  base.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int i = 0; i < static_cast<int>(Cf::kCount); ++i) {
    rocksdb::ColumnFamilyOptions cf_options = base;
    if (static_cast<Cf>(i) == Cf::kDocuments || static_cast<Cf>(i) == Cf::kSubmissionEnvelopes) {
      // Submission envelopes, and documents stored before segments, are ciphertext, which does
      // not compress. Blob files keep these large values out of compaction; blob garbage
      // collection reclaims destroyed ones. Segment pointers are below min_blob_size.
      cf_options.compression = rocksdb::kNoCompression;
      cf_options.bottommost_compression = rocksdb::kNoCompression;
      cf_options.enable_blob_files = true;
      cf_options.min_blob_size = 1024;
      cf_options.blob_compression_type = rocksdb::kNoCompression;
      cf_options.enable_blob_garbage_collection = true;
    }
    if (static_cast<Cf>(i) == Cf::kDocumentKeys) {
      // Small, random values that do not compress; uncompressed, a scan of the files for a
      // destroyed key's bytes is conclusive.
      cf_options.compression = rocksdb::kNoCompression;
      cf_options.bottommost_compression = rocksdb::kNoCompression;
    }
    if (static_cast<Cf>(i) == Cf::kSegments) {
      // A segment's counter gets a merge for every document stored in it and every one
      // purged, and is read after each purge (ReclaimSegments): without a bound, a read folds
      // every operand in the memtable, thousands for a busy segment. Past this many, a write
      // folds them into one value instead.
      cf_options.max_successive_merges = 32;
    }
    if (static_cast<Cf>(i) == Cf::kStats || static_cast<Cf>(i) == Cf::kSegments) {
      // Counters: merges that add, folded by compaction.
      cf_options.merge_operator = NewAdd64MergeOperator();
    }
    // Column family "task_due" (the queue) keeps the base options on purpose. Its keys are
    // put once and removed with SingleDelete, which vanishes together with its put when a
    // flush or compaction sees both: a finished task whose entries were written within one
    // memtable's life leaves nothing on disk, and one that spans memtables leaves a
    // tombstone until compaction brings it to its put. (RocksDB 7.8's
    // CompactOnDeletionCollector counts only Delete entries, never SingleDelete ones, so it
    // could not mark these files.) Leasing does not wait for either: it seeks past finished
    // tasks (LedgerStore's due floor).
    descriptors.emplace_back(std::string(kCfNames[i]), cf_options);
  }
  // The default column family must be opened too; utpost keeps nothing in it.
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, base);

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(db_options, options.path.string(), descriptors, &handles, &raw);
  if (!s.ok()) {
    // A held LOCK file is reported as an IOError mentioning "lock".
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return absl::UnavailableError(
          absl::StrCat("database ", options.path.string(), " is in use: ", s.ToString()));
    }
    return FromRocksDb(s, absl::StrCat("open ", options.path.string()));
  }
  db->db_.reset(raw);
  for (int i = 0; i < static_cast<int>(Cf::kCount); ++i) db->handles_[i] = handles[i];
  // The default family's handle is owned by the DB; destroying it is a no-op.
  raw->DestroyColumnFamilyHandle(handles.back()).PermitUncheckedError();

  SegmentOptions segment_options;
  segment_options.dir = options.path / "segments";
  segment_options.segment_bytes = options.segment_bytes;
  segment_options.observer = options.segment_observer;
  UTPOST_ASSIGN_OR_RETURN(db->segments_, SegmentStore::Open(std::move(segment_options)));
  // Segments that hold nothing live: emptied before a stop, or holding only records whose
  // batch never committed (a crash between the two writes).
  Db& self = *db;
  UTPOST_RETURN_IF_ERROR(
      db->segments_->ReclaimAll([&](uint64_t id) { return self.SegmentLiveBytes(id); }).status());
  return db;
}

absl::Status Db::AddSegmentBytes(rocksdb::WriteBatch& batch, uint64_t segment, int64_t delta) {
  return FromRocksDb(batch.Merge(cf(Cf::kSegments), SegmentKey(segment), EncodeAdd(delta)),
                     "batch merge");
}

absl::StatusOr<uint64_t> Db::SegmentLiveBytes(uint64_t segment) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(Cf::kSegments), SegmentKey(segment), &value);
  if (s.IsNotFound()) return 0;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get segment live bytes"));
  if (value.size() != 8) return absl::DataLossError("malformed segment live bytes");
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(value[i]);
  return v;
}

absl::Status Db::ReclaimSegments(const std::vector<uint64_t>& segments) {
  return segments_->Reclaim(segments, [&](uint64_t id) { return SegmentLiveBytes(id); }).status();
}

absl::StatusOr<uint64_t> Db::Checkpoint(const std::filesystem::path& dir) {
  uint64_t database_bytes = 0;
  UTPOST_ASSIGN_OR_RETURN(const uint64_t segment_bytes,
                          segments_->LinkSealed(dir / "segments", [&]() -> absl::Status {
                            UTPOST_ASSIGN_OR_RETURN(database_bytes, CheckpointTo(*db_, dir));
                            return absl::OkStatus();
                          }));
  return database_bytes + segment_bytes;
}

Db::~Db() {
  if (!db_) return;
  // Every acknowledged write was synced already; this is belt and braces for unsynced
  // internal writes.
  db_->SyncWAL().PermitUncheckedError();
  for (auto* handle : handles_) {
    if (handle != nullptr) db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  db_->Close().PermitUncheckedError();
}

absl::Status Db::Write(rocksdb::WriteBatch& batch) {
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  return FromRocksDb(db_->Write(write_options, &batch), "write batch");
}

absl::Status Db::WriteAfterSegments(rocksdb::WriteBatch& batch, uint64_t segment_generation) {
  GroupWriter writer{&batch, segment_generation, absl::OkStatus()};
  std::unique_lock<std::mutex> lock(group_mutex_);
  group_queue_.push_back(&writer);
  const uint64_t target = groups_started_ + 1;
  while (groups_completed_ < target) {
    if (group_committing_) {
      group_cv_[target % 2].wait(lock);
      continue;
    }
    group_committing_ = true;
    const uint64_t generation = ++groups_started_;
    std::vector<GroupWriter*> group;
    group.swap(group_queue_);
    lock.unlock();
    const absl::Status status = CommitGroup(group);
    lock.lock();
    for (GroupWriter* member : group) member->status = status;
    group_committing_ = false;
    groups_completed_ = generation;
    group_cv_[generation % 2].notify_all();
    group_cv_[(generation + 1) % 2].notify_one();
  }
  return writer.status;
}

absl::Status Db::CommitGroup(const std::vector<GroupWriter*>& group) {
  uint64_t segment_generation = 0;
  for (const GroupWriter* member : group) {
    segment_generation = std::max(segment_generation, member->segment_generation);
  }
  UTPOST_RETURN_IF_ERROR(segments_->WaitDurable(segment_generation));
  if (group.size() == 1) return Write(*group.front()->batch);
  // One batch of all of them: RocksDB's own representation of a batch (and of a WAL record)
  // is a 12-byte header (sequence number, then the count of records, fixed32 little-endian)
  // followed by the records, so batches join by concatenating their records under one header
  // with the counts summed, as RocksDB joins a write group's batches itself.
  constexpr size_t kHeader = 12;
  size_t bytes = kHeader;
  for (const GroupWriter* member : group) bytes += member->batch->GetDataSize() - kHeader;
  std::string rep;
  rep.reserve(bytes);
  rep.append(group.front()->batch->Data());
  uint32_t count = group.front()->batch->Count();
  for (size_t i = 1; i < group.size(); ++i) {
    const std::string& data = group[i]->batch->Data();
    rep.append(data, kHeader, std::string::npos);
    count += group[i]->batch->Count();
  }
  for (int i = 0; i < 4; ++i) rep[8 + i] = static_cast<char>((count >> (8 * i)) & 0xff);
  rocksdb::WriteBatch joined(std::move(rep));
  return Write(joined);
}

absl::Status Db::FlushAll() {
  rocksdb::FlushOptions flush_options;
  flush_options.wait = true;
  std::vector<rocksdb::ColumnFamilyHandle*> handles(handles_.begin(), handles_.end());
  return FromRocksDb(db_->Flush(flush_options, handles), "flush");
}

absl::Status Db::MakeDeletionsPhysical(Cf cf, std::string_view begin, std::string_view end) {
  std::lock_guard<std::mutex> lock(physical_delete_mutex_);
  UTPOST_RETURN_IF_ERROR(FromRocksDb(db_->DisableFileDeletions(), "disable file deletions"));
  absl::Status status = FlushAll();
  if (status.ok()) {
    rocksdb::CompactRangeOptions options;
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    // Run now even if it stalls writes for a moment: the point is that it is done on return.
    options.allow_write_stall = true;
    const rocksdb::Slice begin_slice(begin.data(), begin.size());
    const rocksdb::Slice end_slice(end.data(), end.size());
    status = FromRocksDb(
        db_->CompactRange(options, handles_[static_cast<int>(cf)], &begin_slice, &end_slice),
        "compact");
  }
  // Undoes this call's DisableFileDeletions; when no other holder remains, RocksDB finds every
  // obsolete file (including the flushed write-ahead logs and the compacted SST files) and
  // deletes them in this thread before returning.
  absl::Status enabled =
      FromRocksDb(db_->EnableFileDeletions(/*force=*/false), "enable file deletions");
  UTPOST_RETURN_IF_ERROR(status);
  return enabled;
}

}  // namespace utpost::storage
