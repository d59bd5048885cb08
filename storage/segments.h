// Append-only segment files for document ciphertext: each document's bytes reach the disk
// once, here, and the ledger's RocksDB batch holds only a small SegmentPointer to them.
//
// A segment is a file "<id as 16 hex digits>.seg" in the store's directory. It is a sequence
// of records, each a 40-byte header and a payload:
//
//   0  u32  magic "UTR2" (a record) or "UTS1" (the seal, the last record of a sealed file);
//           "UTR1" records, written by earlier releases, are read as well
//   4  u32  payload length
//   8  u32  checksum of the payload: CRC-32C in "UTR2" records (storage/crc32c.h, the
//           CPU's crc32 instruction), zlib's CRC-32 in "UTR1" records
//  12  u8   length of the owner key, then 3 zero bytes
//  16  20   owner key (the RocksDB key that points here: letter id + position), zero-padded
//  36  u32  zlib's CRC-32 of the segment id (u64), the record's offset (u64) and bytes 0..35
//
// All integers are little-endian. The header's checksum covers where the record sits, so a
// header copied to another offset or file is not taken for a record there.
//
// Durability: Append writes the records (one writer at a time, so a segment never has a hole)
// and returns once an fdatasync that began after the write has completed. Appends waiting
// together share one fdatasync (group commit), of every file written since the last one.
// The caller commits the pointers afterwards, so a pointer never names bytes that are not on
// the disk; a crash between the two leaves records no pointer names, whose space comes back
// with their segment. Once synced, a record's pages are given back to the page cache
// (POSIX_FADV_DONTNEED): documents are written once and read rarely, and a cache that reuses
// pages takes writes faster than one that grows (README, "Writing each document once").
//
// Recovery: Open seals every segment it finds and starts a new one. A segment without a seal
// was being written when the process stopped: it is scanned, and a torn tail (a record cut
// short, or bytes that are not a record) is truncated and logged by name before the seal is
// written. Nothing acknowledged is in a torn tail: the pointers to a record are committed
// only after the record is synced.
//
// Reads check the header and the payload's checksum: a corrupt record is reported with its
// segment's name and offset (DATA_LOSS), never returned.
//
// Space: a sealed segment is deleted by Reclaim once the caller's live count for it is zero
// and no Append whose pointers are still being committed holds it. Sealed segments never
// change, so a checkpoint hard-links them (LinkSealed).
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace utpost::storage {

inline constexpr size_t kSegmentHeaderBytes = 40;
inline constexpr size_t kSegmentOwnerBytes = 20;

// Where a record's payload is: segment, offset of the record's header, payload length and
// checksum.
struct SegmentPointer {
  uint64_t segment = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  uint32_t crc = 0;

  // The bytes the record takes in its segment.
  uint64_t RecordBytes() const { return kSegmentHeaderBytes + length; }
  bool operator==(const SegmentPointer&) const = default;
};

// The stored form of a pointer (28 bytes, beginning "UTSP\x01"), and back. nullopt if `value`
// is not one: a value written before documents went to segments is the ciphertext itself.
std::string EncodeSegmentPointer(const SegmentPointer& pointer);
std::optional<SegmentPointer> DecodeSegmentPointer(std::string_view value);

// The file name of segment `id`.
std::string SegmentFileName(uint64_t id);

// What the store did, in order, for tests that check durability from the outside.
struct SegmentEvent {
  enum class Kind {
    kWritten,  // records [offset, offset + bytes) of `segment` written (not yet synced)
    kSyncing,  // an fdatasync of `segment` begins
    kSynced,   // it returned without error
  };
  Kind kind;
  uint64_t segment = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

struct SegmentOptions {
  std::filesystem::path dir;
  // A segment is sealed, and a new one started, when an append would take it past this size
  // (a single larger append still gets a segment of its own).
  uint64_t segment_bytes = 256ull << 20;
  // Called with every SegmentEvent, under the store's locks (tests only; must not block).
  std::function<void(const SegmentEvent&)> observer = {};
  // Tests only: write records as earlier releases did ("UTR1", payload checksum zlib's
  // CRC-32), to check that they are still read. Records are "UTR2" (CRC-32C) otherwise.
  bool write_v1_records = false;
};

// One record to append: the key of the pointer that will name it (at most
// kSegmentOwnerBytes), and its payload.
struct SegmentRecord {
  std::string_view owner;
  std::string_view payload;
};

class SegmentStore;

// Records appended and synced, whose pointers the caller is committing: while this lives, its
// segment is not reclaimed even though no committed pointer names it yet.
class SegmentAppend {
 public:
  SegmentAppend(SegmentAppend&& other) noexcept;
  SegmentAppend& operator=(SegmentAppend&&) = delete;
  SegmentAppend(const SegmentAppend&) = delete;
  ~SegmentAppend();

  const std::vector<SegmentPointer>& pointers() const { return pointers_; }
  // The group sync after whose completion these records are durable (0: no records).
  uint64_t sync_generation() const { return sync_generation_; }

 private:
  friend class SegmentStore;
  SegmentAppend(SegmentStore* store, std::vector<SegmentPointer> pointers, uint64_t sync_generation)
      : store_(store), pointers_(std::move(pointers)), sync_generation_(sync_generation) {}
  SegmentStore* store_;
  std::vector<SegmentPointer> pointers_;
  uint64_t sync_generation_ = 0;
};

// A torn tail that Open truncated.
struct SegmentRepair {
  uint64_t segment = 0;
  uint64_t valid_bytes = 0;    // where the file now ends (before its seal)
  uint64_t dropped_bytes = 0;  // what was cut
};

struct SegmentInfo {
  uint64_t id = 0;
  uint64_t bytes = 0;  // file size (the active segment: bytes appended so far)
  bool sealed = false;
};

class SegmentStore {
 public:
  friend class SegmentAppend;
  // Opens (creating the directory if needed) and recovers: every segment found is sealed,
  // after its torn tail, if any, is truncated; then a new segment is started.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SegmentStore>> Open(SegmentOptions options);
  ~SegmentStore();
  SegmentStore(const SegmentStore&) = delete;
  SegmentStore& operator=(const SegmentStore&) = delete;

  // Appends `records` to the active segment, in order and contiguously, and returns once they
  // are durable. UNAVAILABLE if the disk refuses (nothing of the call is then readable, and
  // after a failed fdatasync every later append fails until the process restarts, since the
  // kernel may have dropped the unsynced pages). INVALID_ARGUMENT for an owner key too long
  // or a payload of 4 GiB or more.
  [[nodiscard]] absl::StatusOr<SegmentAppend> Append(absl::Span<const SegmentRecord> records);
  // Append in two steps, for a caller that syncs on behalf of a group of writers
  // (Db::WriteAfterSegments): Write appends without waiting, and the records are durable once
  // WaitDurable(their sync_generation()) has returned OK, from any thread. Append is the two
  // in a row.
  [[nodiscard]] absl::StatusOr<SegmentAppend> Write(absl::Span<const SegmentRecord> records);
  [[nodiscard]] absl::Status WaitDurable(uint64_t sync_generation);

  // The payload `pointer` names, checked against its header (magic, place, owner, length) and
  // its checksum. NOT_FOUND if the segment no longer exists (reclaimed: its pointers were
  // deleted), DATA_LOSS naming the segment and offset if the bytes there are not that record.
  [[nodiscard]] absl::StatusOr<std::string> Read(const SegmentPointer& pointer,
                                                 std::string_view owner) const;

  // Deletes each sealed segment among `candidates` whose `live` count (the bytes that
  // committed pointers name) is zero and that no SegmentAppend holds; ReclaimAll considers
  // every sealed segment. Returns how many files were deleted. Calls are serialised, and
  // wait for LinkSealed.
  [[nodiscard]] absl::StatusOr<int> Reclaim(
      const std::vector<uint64_t>& candidates,
      absl::FunctionRef<absl::StatusOr<uint64_t>(uint64_t)> live);
  [[nodiscard]] absl::StatusOr<int> ReclaimAll(
      absl::FunctionRef<absl::StatusOr<uint64_t>(uint64_t)> live);

  // For a checkpoint: runs `first` (the checkpoint of the database that holds the pointers),
  // then seals the active segment (a new one starts with the next append) and hard-links every
  // sealed segment into `dir` (created; copied when it is on another filesystem), syncing
  // each and `dir`. Every record appended before `first` returned is in a linked file, and
  // no segment is reclaimed from the start of `first` to the end. Returns the bytes linked.
  [[nodiscard]] absl::StatusOr<uint64_t> LinkSealed(const std::filesystem::path& dir,
                                                    absl::FunctionRef<absl::Status()> first);

  // The segments, oldest first.
  std::vector<SegmentInfo> Segments() const;
  // fdatasync calls completed (each may have covered many appends).
  uint64_t syncs() const;
  // The torn tails Open truncated (for the caller to log).
  const std::vector<SegmentRepair>& repairs() const { return repairs_; }
  const std::filesystem::path& dir() const { return options_.dir; }

 private:
  struct File;
  explicit SegmentStore(SegmentOptions options) : options_(std::move(options)) {}

  absl::Status Recover();
  // Seals the active segment and opens the next one. Holds append_mutex_.
  absl::Status RollLocked();
  absl::Status StartSegmentLocked(uint64_t id);
  void Release(const std::vector<SegmentPointer>& pointers);
  void Notify(SegmentEvent::Kind kind, uint64_t segment, uint64_t offset, uint64_t bytes) const;

  const SegmentOptions options_;
  std::vector<SegmentRepair> repairs_;

  // The active segment and where the next record goes. A writer holds append_mutex_ while it
  // writes, so records are contiguous.
  mutable std::mutex append_mutex_;
  std::shared_ptr<File> active_;  // null until the first append after Open or a roll
  uint64_t tail_ = 0;
  uint64_t next_id_ = 1;

  // Group commit. A writer waits for the sync after its write: while sync g runs, new writers
  // wait for g + 1, so only two generations ever wait, each on its own condition variable
  // (sync_cv_[g % 2]). The end of sync g wakes its own waiters, and one of the next
  // generation's to lead it: not every writer, most of whom would only go back to sleep.
  mutable std::mutex sync_mutex_;
  std::condition_variable sync_cv_[2];
  bool syncing_ = false;
  uint64_t syncs_started_ = 0;
  uint64_t syncs_completed_ = 0;
  absl::Status broken_;  // set for good by a failed fdatasync
  std::vector<std::shared_ptr<File>> dirty_;

  // Sealed segments (id -> size) and appends not yet released, per segment.
  mutable std::mutex files_mutex_;
  std::map<uint64_t, uint64_t> sealed_;
  std::map<uint64_t, int> held_;

  // Serialises Reclaim and LinkSealed.
  std::mutex reclaim_mutex_;
};

}  // namespace utpost::storage
