// The document segments on real files in a temp dir: records, group commit (checked from the
// outside, write by write and sync by sync), sealing and rolling, torn tails, corruption,
// reclaiming and links for checkpoints.
#include "storage/segments.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "storage/crc32c.h"
#include "tests/testutil/files.h"

namespace utpost::storage {
namespace {

namespace fs = std::filesystem;

std::string Payload(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string Owner(int i) { return absl::StrCat("owner-", i); }

std::unique_ptr<SegmentStore> OpenStore(const fs::path& dir, uint64_t segment_bytes = 1 << 20,
                                        std::function<void(const SegmentEvent&)> observer = {}) {
  auto store = SegmentStore::Open(
      {.dir = dir, .segment_bytes = segment_bytes, .observer = std::move(observer)});
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

SegmentPointer AppendOne(SegmentStore& store, std::string_view owner, std::string_view payload) {
  SegmentRecord record{owner, payload};
  auto appended = store.Append({&record, 1});
  EXPECT_TRUE(appended.ok()) << appended.status();
  return appended.ok() ? appended->pointers().at(0) : SegmentPointer{};
}

uint64_t FileSize(const fs::path& path) { return fs::file_size(path); }

// Overwrites one byte of `path` at `offset`.
void FlipByte(const fs::path& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

TEST(SegmentPointerTest, EncodesAndDecodesAndTellsLegacyValuesApart) {
  const SegmentPointer p{7, 123456789012, 65536, 0xdeadbeef};
  const std::string encoded = EncodeSegmentPointer(p);
  EXPECT_EQ(DecodeSegmentPointer(encoded), p);
  // A document stored before segments is its ciphertext: not a pointer.
  EXPECT_FALSE(DecodeSegmentPointer(Payload(encoded.size(), 1)).has_value());
  EXPECT_FALSE(DecodeSegmentPointer(encoded.substr(1)).has_value());
  EXPECT_FALSE(DecodeSegmentPointer(encoded + "x").has_value());
  EXPECT_EQ(SegmentFileName(0x2a), "000000000000002a.seg");
}

TEST(SegmentStoreTest, RecordsAreContiguousAndReadBackByOwner) {
  testutil::TempDir dir;
  auto store = OpenStore(dir.path());
  std::vector<std::string> payloads = {Payload(100, 1), "", Payload(70000, 2)};
  std::vector<std::string> owners = {Owner(0), Owner(1), Owner(2)};
  std::vector<SegmentRecord> records;
  for (size_t i = 0; i < payloads.size(); ++i) records.push_back({owners[i], payloads[i]});
  auto appended = store->Append(records);
  ASSERT_TRUE(appended.ok()) << appended.status();
  const auto& pointers = appended->pointers();
  ASSERT_EQ(pointers.size(), 3u);
  EXPECT_EQ(pointers[0].offset, 0u);
  EXPECT_EQ(pointers[1].offset, pointers[0].RecordBytes());
  EXPECT_EQ(pointers[2].offset, pointers[1].offset + pointers[1].RecordBytes());
  for (size_t i = 0; i < payloads.size(); ++i) {
    auto read = store->Read(pointers[i], owners[i]);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, payloads[i]);
  }
  // A pointer read on behalf of another owner, or with another length, is not served.
  EXPECT_EQ(store->Read(pointers[0], owners[1]).status().code(), absl::StatusCode::kDataLoss);
  SegmentPointer wrong = pointers[2];
  wrong.length -= 1;
  EXPECT_EQ(store->Read(wrong, owners[2]).status().code(), absl::StatusCode::kDataLoss);
  // A damaged pointer asks for more than the file holds: refused before anything is allocated.
  SegmentPointer huge = pointers[2];
  huge.length = UINT32_MAX - 100;
  EXPECT_EQ(store->Read(huge, owners[2]).status().code(), absl::StatusCode::kDataLoss);
  SegmentPointer far = pointers[0];
  far.offset = UINT64_MAX - 10;
  EXPECT_EQ(store->Read(far, owners[0]).status().code(), absl::StatusCode::kDataLoss);
  // An owner key longer than the header holds is refused, and nothing is written.
  const std::string long_owner(kSegmentOwnerBytes + 1, 'x');
  SegmentRecord bad{long_owner, "x"};
  EXPECT_EQ(store->Append({&bad, 1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Segments().back().bytes, pointers[2].offset + pointers[2].RecordBytes());
}

// Pages of `path` in the page cache, of its first `bytes` bytes (mincore on a mapping that is
// never touched, so mapping it brings nothing in).
size_t ResidentPages(const fs::path& path, uint64_t bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  EXPECT_NE(map, MAP_FAILED);
  if (map == MAP_FAILED) return SIZE_MAX;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((bytes + page - 1) / page);
  EXPECT_EQ(::mincore(map, bytes, resident.data()), 0);
  ::munmap(map, bytes);
  size_t count = 0;
  for (unsigned char r : resident) count += r & 1;
  return count;
}

// Documents are written once and read rarely: once synced, their pages leave the page cache
// (so the cache reuses pages instead of growing), and they still read back, from the disk.
TEST(SegmentStoreTest, SyncedRecordsLeaveThePageCacheAndStillReadBack) {
  testutil::TempDir dir;
  struct statfs fs_info {};
  ASSERT_EQ(::statfs(dir.path().c_str(), &fs_info), 0);
  if (fs_info.f_type == TMPFS_MAGIC) GTEST_SKIP() << "tmpfs keeps every page in memory";
  auto store = OpenStore(dir.path(), 64 << 20);
  std::vector<std::pair<SegmentPointer, std::string>> written;
  for (int i = 0; i < 8; ++i) {
    std::string payload = Payload(1 << 20, 100 + i);
    written.emplace_back(AppendOne(*store, Owner(i), payload), std::move(payload));
  }
  const fs::path file = dir.path() / SegmentFileName(written.front().first.segment);
  const uint64_t end = written.back().first.offset + written.back().first.RecordBytes();
  // All but the page the last record ends in, which the next append may still fill.
  const uint64_t whole_pages = end / 4096 * 4096;
  EXPECT_EQ(ResidentPages(file, whole_pages), 0u);
  for (int i = 0; i < 8; ++i) {
    auto read = store->Read(written[i].first, Owner(i));
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, written[i].second);
  }
}

// Every acknowledged append was covered by an fdatasync of its segment that began after the
// append's bytes were written and ended before the append returned; concurrent appends share
// syncs. Seen from the outside, through the store's observer, with 16 writers.
TEST(SegmentStoreTest, EveryAcknowledgedAppendWasSyncedAfterItsWriteAndSyncsAreShared) {
  testutil::TempDir dir;
  struct Entry {
    enum Kind { kWritten, kSyncing, kSynced, kAcked } kind;
    uint64_t segment, a, b;  // written/acked: offset, end; syncing/synced: generation
  };
  std::mutex mutex;
  std::vector<Entry> log;
  auto observer = [&](const SegmentEvent& e) {
    std::lock_guard<std::mutex> lock(mutex);
    switch (e.kind) {
      case SegmentEvent::Kind::kWritten:
        log.push_back({Entry::kWritten, e.segment, e.offset, e.offset + e.bytes});
        break;
      case SegmentEvent::Kind::kSyncing:
        log.push_back({Entry::kSyncing, e.segment, e.offset, 0});
        break;
      case SegmentEvent::Kind::kSynced:
        log.push_back({Entry::kSynced, e.segment, e.offset, 0});
        break;
    }
  };
  // Small segments, so that appends also cross rolls.
  auto store = OpenStore(dir.path(), 512 << 10, observer);
  constexpr int kThreads = 16, kPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string owner = Owner(t * 1000 + i);
        const std::string payload = Payload(4096 + 977 * i, t * 1000 + i);
        SegmentRecord record{owner, payload};
        auto appended = store->Append({&record, 1});
        if (!appended.ok()) {
          ++failures;
          continue;
        }
        const SegmentPointer& p = appended->pointers()[0];
        std::lock_guard<std::mutex> lock(mutex);
        log.push_back({Entry::kAcked, p.segment, p.offset, p.offset + p.RecordBytes()});
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);

  int acked = 0;
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].kind != Entry::kAcked) continue;
    ++acked;
    const Entry& ack = log[i];
    // The write that put these bytes there.
    size_t written = log.size();
    for (size_t j = 0; j < i; ++j) {
      if (log[j].kind == Entry::kWritten && log[j].segment == ack.segment && log[j].a <= ack.a &&
          ack.b <= log[j].b) {
        written = j;
      }
    }
    ASSERT_LT(written, i) << "no write before the ack of " << ack.segment << ":" << ack.a;
    // A sync of the segment that began after the write and completed before the ack.
    bool covered = false;
    for (size_t j = written + 1; j < i && !covered; ++j) {
      if (log[j].kind != Entry::kSyncing || log[j].segment != ack.segment) continue;
      for (size_t k = j + 1; k < i; ++k) {
        if (log[k].kind == Entry::kSynced && log[k].segment == ack.segment &&
            log[k].a == log[j].a) {
          covered = true;
          break;
        }
      }
    }
    EXPECT_TRUE(covered) << "append at " << ack.segment << ":" << ack.a
                         << " acknowledged without a sync after its write";
  }
  EXPECT_EQ(acked, kThreads * kPerThread);
  EXPECT_GE(store->syncs(), 1u);
  EXPECT_LT(store->syncs(), static_cast<uint64_t>(kThreads * kPerThread))
      << "concurrent appends should share fdatasyncs";
  EXPECT_GT(store->Segments().size(), 2u) << "the appends should have crossed segment rolls";
}

TEST(SegmentStoreTest, RollsSealsAndReopensWithoutScanningOrRepairing) {
  testutil::TempDir dir;
  std::vector<std::pair<SegmentPointer, std::string>> written;
  {
    auto store = OpenStore(dir.path(), 200 << 10);
    for (int i = 0; i < 10; ++i) {
      std::string payload = Payload(60000, i);
      written.emplace_back(AppendOne(*store, Owner(i), payload), std::move(payload));
    }
    const auto segments = store->Segments();
    ASSERT_GE(segments.size(), 3u);
    for (size_t i = 0; i + 1 < segments.size(); ++i) EXPECT_TRUE(segments[i].sealed);
    EXPECT_FALSE(segments.back().sealed);
  }
  auto store = OpenStore(dir.path(), 200 << 10);
  EXPECT_TRUE(store->repairs().empty());
  for (const auto& s : store->Segments()) EXPECT_TRUE(s.sealed) << s.id;
  for (size_t i = 0; i < written.size(); ++i) {
    auto read = store->Read(written[i].first, Owner(static_cast<int>(i)));
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, written[i].second);
  }
  // New appends go to a new segment, never into a sealed one.
  const SegmentPointer next = AppendOne(*store, Owner(99), "after");
  EXPECT_GT(next.segment, written.back().first.segment);
  EXPECT_EQ(next.offset, 0u);
}

// A process that stops while writing leaves a segment without a seal, perhaps with a record
// cut short or garbage after the last one. The next start keeps every whole record, cuts the
// rest, reports it, and never serves the cut record.
TEST(SegmentStoreTest, ATornTailIsTruncatedAtStartAndReported) {
  testutil::TempDir dir;
  SegmentPointer a, b, c;
  uint64_t segment = 0;
  {
    auto store = OpenStore(dir.path());
    a = AppendOne(*store, Owner(1), Payload(5000, 1));
    b = AppendOne(*store, Owner(2), Payload(6000, 2));
    c = AppendOne(*store, Owner(3), Payload(7000, 3));
    segment = c.segment;
  }
  const fs::path file = dir.path() / SegmentFileName(segment);
  // Undo the clean stop's seal, then cut the last record in the middle: what a crash during
  // its write leaves.
  fs::resize_file(file, c.offset + kSegmentHeaderBytes + 1234);
  {
    auto store = OpenStore(dir.path());
    ASSERT_EQ(store->repairs().size(), 1u);
    EXPECT_EQ(store->repairs()[0].segment, segment);
    EXPECT_EQ(store->repairs()[0].valid_bytes, c.offset);
    EXPECT_EQ(store->repairs()[0].dropped_bytes, kSegmentHeaderBytes + 1234);
    EXPECT_EQ(*store->Read(a, Owner(1)), Payload(5000, 1));
    EXPECT_EQ(*store->Read(b, Owner(2)), Payload(6000, 2));
    auto cut = store->Read(c, Owner(3));
    EXPECT_EQ(cut.status().code(), absl::StatusCode::kDataLoss) << cut.status();
    EXPECT_NE(cut.status().message().find(SegmentFileName(segment)), std::string::npos);
  }
  // Sealed now: the next start has nothing to repair.
  EXPECT_EQ(FileSize(file), c.offset + kSegmentHeaderBytes);
  EXPECT_TRUE(OpenStore(dir.path())->repairs().empty());

  // Garbage after the last whole record (e.g. zeros of a preallocated block) goes the same way.
  {
    std::ofstream f(file, std::ios::binary | std::ios::app);
    f << std::string(100, '\0') << "not a record";
  }
  {
    // The file no longer ends with a seal, so it is scanned: a and b are whole, and what
    // follows them (the old seal, then the garbage) is cut.
    auto store = OpenStore(dir.path());
    ASSERT_EQ(store->repairs().size(), 1u);
    EXPECT_EQ(store->repairs()[0].valid_bytes, c.offset);
    EXPECT_EQ(*store->Read(b, Owner(2)), Payload(6000, 2));
  }
}

TEST(SegmentStoreTest, ACorruptRecordIsReportedByNameAndNeverServed) {
  testutil::TempDir dir;
  SegmentPointer a, b;
  {
    auto store = OpenStore(dir.path());
    a = AppendOne(*store, Owner(1), Payload(5000, 1));
    b = AppendOne(*store, Owner(2), Payload(5000, 2));
  }
  const fs::path file = dir.path() / SegmentFileName(a.segment);
  FlipByte(file, a.offset + kSegmentHeaderBytes + 2500);  // a's payload
  FlipByte(file, b.offset + 3);                           // b's header
  auto store = OpenStore(dir.path());
  EXPECT_TRUE(store->repairs().empty()) << "a sealed segment is not scanned at start";
  for (const auto& [pointer, owner] : {std::pair{a, Owner(1)}, std::pair{b, Owner(2)}}) {
    auto read = store->Read(pointer, owner);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << read.status();
    EXPECT_NE(read.status().message().find(SegmentFileName(a.segment)), std::string::npos)
        << read.status();
    EXPECT_NE(read.status().message().find(absl::StrCat("offset ", pointer.offset)),
              std::string::npos)
        << read.status();
  }
}

TEST(SegmentStoreTest, ReclaimDeletesOnlySealedSegmentsWithNothingLiveOrHeld) {
  testutil::TempDir dir;
  // Records of 60 KB in segments of 100 KiB: one record per segment.
  auto store = OpenStore(dir.path(), 100 << 10);
  std::vector<SegmentPointer> pointers;
  for (int i = 0; i < 4; ++i) pointers.push_back(AppendOne(*store, Owner(i), Payload(60000, i)));
  for (int i = 1; i < 4; ++i) ASSERT_EQ(pointers[i].segment, pointers[i - 1].segment + 1);
  // Records appended whose pointers are still being committed hold their segment, even once
  // it is sealed.
  const std::string held_payload = Payload(60000, 7);
  SegmentRecord record{"held", held_payload};
  auto held = std::make_unique<SegmentAppend>(*store->Append({&record, 1}));
  const uint64_t held_segment = held->pointers()[0].segment;
  const uint64_t active = AppendOne(*store, Owner(8), Payload(60000, 8)).segment;
  ASSERT_EQ(active, held_segment + 1);
  // Nothing live anywhere but in the second segment.
  auto live = [&](uint64_t id) -> absl::StatusOr<uint64_t> {
    return id == pointers[1].segment ? pointers[1].RecordBytes() : 0;
  };
  std::vector<uint64_t> candidates = {pointers[0].segment, pointers[1].segment, pointers[2].segment,
                                      held_segment, active};
  auto deleted = store->Reclaim(candidates, live);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 2);
  auto exists = [&](uint64_t id) { return fs::exists(dir.path() / SegmentFileName(id)); };
  EXPECT_FALSE(exists(pointers[0].segment));
  EXPECT_TRUE(exists(pointers[1].segment)) << "live";
  EXPECT_FALSE(exists(pointers[2].segment));
  EXPECT_TRUE(exists(pointers[3].segment)) << "not a candidate";
  EXPECT_TRUE(exists(held_segment)) << "held by an append being committed";
  EXPECT_TRUE(exists(active)) << "still taking appends";
  // A read of a reclaimed segment is NOT_FOUND: its pointers were deleted.
  EXPECT_EQ(store->Read(pointers[0], Owner(0)).status().code(), absl::StatusCode::kNotFound);
  // Once the append's pointers are committed (or abandoned), its segment may go.
  held.reset();
  deleted = store->Reclaim({held_segment}, live);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  EXPECT_FALSE(exists(held_segment));
  // Everything sealed with nothing live, found by ReclaimAll.
  deleted = store->ReclaimAll(live);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  EXPECT_FALSE(exists(pointers[3].segment));
}

TEST(SegmentStoreTest, LinkSealedGivesACheckpointEveryRecordAppendedBefore) {
  testutil::TempDir dir;
  testutil::TempDir out;
  auto store = OpenStore(dir.path());
  std::vector<SegmentPointer> pointers;
  for (int i = 0; i < 5; ++i) pointers.push_back(AppendOne(*store, Owner(i), Payload(3000, i)));
  bool first_ran = false;
  auto bytes = store->LinkSealed(out.path() / "segments", [&] {
    first_ran = true;
    return absl::OkStatus();
  });
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_TRUE(first_ran);
  EXPECT_GT(*bytes, 5u * 3000);
  // The live store goes on in a new segment; the copy is sealed and complete.
  const SegmentPointer after = AppendOne(*store, Owner(9), "after the checkpoint");
  EXPECT_GT(after.segment, pointers.back().segment);
  auto copy = OpenStore(out.path() / "segments");
  EXPECT_TRUE(copy->repairs().empty());
  for (int i = 0; i < 5; ++i) {
    auto read = copy->Read(pointers[i], Owner(i));
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, Payload(3000, i));
  }
  EXPECT_EQ(copy->Read(after, Owner(9)).status().code(), absl::StatusCode::kNotFound);
}

// Records written before CRC-32C ("UTR1", zlib's CRC-32) are still read, beside new ones, a
// damaged one is still refused, and a torn tail of them is cut where it begins (the scan
// checks each whole record by its own checksum); new records are "UTR2" with CRC-32C.
TEST(SegmentStoreTest, RecordsOfTheEarlierFormatAreStillReadBesideNewOnes) {
  testutil::TempDir dir;
  const std::string old_payload = Payload(70000, 1);
  SegmentPointer old_pointer, damaged, cut;
  {
    auto store = SegmentStore::Open({.dir = dir.path(), .write_v1_records = true});
    ASSERT_TRUE(store.ok()) << store.status();
    old_pointer = AppendOne(**store, Owner(1), old_payload);
    damaged = AppendOne(**store, Owner(2), Payload(5000, 2));
    cut = AppendOne(**store, Owner(4), Payload(9000, 4));
  }
  // A crash during the last record's write, in the earlier release.
  fs::resize_file(dir.path() / SegmentFileName(cut.segment),
                  cut.offset + kSegmentHeaderBytes + 1000);
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->repairs().size(), 1u);
  EXPECT_EQ(store->repairs()[0].valid_bytes, cut.offset) << "the whole records are kept";
  const std::string new_payload = Payload(65536, 3);
  const SegmentPointer new_pointer = AppendOne(*store, Owner(3), new_payload);
  auto magic_at = [&](const SegmentPointer& p) {
    const std::string file = testutil::ReadAll(dir.path() / SegmentFileName(p.segment));
    return file.substr(p.offset, 4);
  };
  EXPECT_EQ(magic_at(old_pointer), "UTR1");
  // As earlier releases wrote it: zlib's CRC-32 of the payload.
  EXPECT_EQ(old_pointer.crc,
            static_cast<uint32_t>(::crc32_z(0, reinterpret_cast<const Bytef*>(old_payload.data()),
                                            old_payload.size())));
  EXPECT_EQ(magic_at(new_pointer), "UTR2");
  EXPECT_EQ(new_pointer.crc, Crc32c(new_payload.data(), new_payload.size()));
  auto old_read = store->Read(old_pointer, Owner(1));
  ASSERT_TRUE(old_read.ok()) << old_read.status();
  EXPECT_EQ(*old_read, old_payload);
  auto new_read = store->Read(new_pointer, Owner(3));
  ASSERT_TRUE(new_read.ok()) << new_read.status();
  EXPECT_EQ(*new_read, new_payload);
  FlipByte(dir.path() / SegmentFileName(damaged.segment),
           damaged.offset + kSegmentHeaderBytes + 100);
  EXPECT_EQ(store->Read(damaged, Owner(2)).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace utpost::storage
