// The recovery of a document segment file (storage/segments.h) from arbitrary bytes: what a
// crash, a bad disk or a hand-edited file leaves. The input, after its first 32 bytes, is
// written as segment 1 of an empty store directory, which is then opened; the first 32 bytes
// are a pointer (offset u64, length u32, checksum u32, in segment 1), then the length (modulo
// 16) and bytes of the owner key to read it with.
//
// Invariants:
//   - Open succeeds on any file it can read: a file that is not wholly records ending in a
//     seal has its tail cut back to the last whole record, and is sealed.
//   - After Open the file ends with a seal: a second Open repairs nothing and sees the same
//     segments.
//   - Read never returns bytes other than the ones the pointer names: an answer is exactly
//     `length` bytes with the pointer's checksum; otherwise DATA_LOSS (or NOT_FOUND for a
//     segment that is not there), never another code, never a crash.
//   - A record appended after recovery reads back, in a new segment.
#include <stdlib.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fuzz/fuzz_check.h"
#include "storage/crc32c.h"
#include "storage/segments.h"

namespace utpost::fuzz {
namespace {

namespace fs = std::filesystem;

uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

const fs::path& Dir() {
  static const fs::path dir = [] {
    char pattern[] = "/tmp/utpost-segment-fuzz-XXXXXX";
    const char* made = ::mkdtemp(pattern);
    if (made == nullptr) std::abort();
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(Dir(), ec);
    });
    return fs::path(made);
  }();
  return dir;
}

std::vector<storage::SegmentInfo> OpenAndList(const fs::path& dir, bool expect_no_repairs) {
  absl::StatusOr<std::unique_ptr<storage::SegmentStore>> store =
      storage::SegmentStore::Open({.dir = dir, .segment_bytes = 1 << 16});
  UTPOST_FUZZ_CHECK(store.ok());
  if (expect_no_repairs) UTPOST_FUZZ_CHECK((*store)->repairs().empty());
  return (*store)->Segments();
}

}  // namespace
}  // namespace utpost::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace utpost;
  using namespace utpost::fuzz;
  if (size < 32 || size > (1 << 20)) return 0;
  const fs::path dir = Dir() / "store";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  const fs::path file = dir / storage::SegmentFileName(1);
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 32), static_cast<std::streamsize>(size - 32));
  }
  const storage::SegmentPointer pointer{1, GetU64(data), GetU32(data + 8), GetU32(data + 12)};
  const std::string owner(reinterpret_cast<const char*>(data + 17), data[16] % 16);
  {
    absl::StatusOr<std::unique_ptr<storage::SegmentStore>> store =
        storage::SegmentStore::Open({.dir = dir, .segment_bytes = 1 << 16});
    UTPOST_FUZZ_CHECK(store.ok());
    const std::vector<storage::SegmentInfo> segments = (*store)->Segments();
    UTPOST_FUZZ_CHECK(segments.size() == 1 && segments[0].id == 1 && segments[0].sealed);
    UTPOST_FUZZ_CHECK(segments[0].bytes == fs::file_size(file));
    UTPOST_FUZZ_CHECK(segments[0].bytes >= storage::kSegmentHeaderBytes);
    UTPOST_FUZZ_CHECK(segments[0].bytes <= size - 32 + storage::kSegmentHeaderBytes);

    absl::StatusOr<std::string> read = (*store)->Read(pointer, owner);
    if (read.ok()) {
      UTPOST_FUZZ_CHECK(read->size() == pointer.length);
      // The record's own checksum: zlib's CRC-32 ("UTR1") or CRC-32C ("UTR2").
      const uint32_t crc = static_cast<uint32_t>(
          ::crc32_z(0, reinterpret_cast<const Bytef*>(read->data()), read->size()));
      UTPOST_FUZZ_CHECK(crc == pointer.crc ||
                        storage::Crc32c(read->data(), read->size()) == pointer.crc);
    } else {
      UTPOST_FUZZ_CHECK(read.status().code() == absl::StatusCode::kDataLoss);
    }

    const std::string payload = "appended after recovery";
    const storage::SegmentRecord record{"fuzz", payload};
    absl::StatusOr<storage::SegmentAppend> appended = (*store)->Append({&record, 1});
    UTPOST_FUZZ_CHECK(appended.ok());
    const storage::SegmentPointer& at = appended->pointers().front();
    UTPOST_FUZZ_CHECK(at.segment == 2 && at.offset == 0);
    absl::StatusOr<std::string> back = (*store)->Read(at, "fuzz");
    UTPOST_FUZZ_CHECK(back.ok() && *back == payload);
  }
  // Sealed by the recovery (segment 1) and by the clean close (segment 2): nothing to repair.
  const std::vector<storage::SegmentInfo> again = OpenAndList(dir, true);
  UTPOST_FUZZ_CHECK(again.size() == 2);
  return 0;
}
