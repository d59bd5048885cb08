#include "storage/segments.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "storage/checkpoint.h"
#include "storage/crc32c.h"

namespace utpost::storage {
namespace {

namespace fs = std::filesystem;

// A record's payload checksum: zlib's CRC-32 in "UTR1" records (earlier releases, still
// read), CRC-32C in "UTR2" records (the CPU's crc32 instruction where it has one).
constexpr uint32_t kRecordMagicV1 = 0x31525455;  // "UTR1" as little-endian bytes
constexpr uint32_t kRecordMagic = 0x32525455;    // "UTR2"
constexpr uint32_t kSealMagic = 0x31535455;      // "UTS1"
constexpr std::string_view kPointerTag("UTSP\x01", 5);
constexpr size_t kPointerBytes = kPointerTag.size() + 8 + 8 + 4 + 4;
constexpr std::string_view kSuffix = ".seg";

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t Crc(const char* data, size_t size, uint32_t crc = 0) {
  return static_cast<uint32_t>(
      ::crc32_z(crc, reinterpret_cast<const Bytef*>(data), static_cast<z_size_t>(size)));
}

bool IsRecord(uint32_t magic) { return magic == kRecordMagic || magic == kRecordMagicV1; }

uint32_t PayloadCrc(uint32_t magic, const char* data, size_t size) {
  return magic == kRecordMagicV1 ? Crc(data, size) : Crc32c(data, size);
}

uint32_t HeaderCrc(uint64_t segment, uint64_t offset, const char* header) {
  char place[16];
  PutU64(place, segment);
  PutU64(place + 8, offset);
  return Crc(header, 36, Crc(place, sizeof(place)));
}

using Header = std::array<char, kSegmentHeaderBytes>;

Header EncodeHeader(uint32_t magic, uint64_t segment, uint64_t offset, std::string_view owner,
                    uint32_t length, uint32_t crc) {
  Header h{};
  PutU32(h.data(), magic);
  PutU32(h.data() + 4, length);
  PutU32(h.data() + 8, crc);
  h[12] = static_cast<char>(owner.size());
  std::memcpy(h.data() + 16, owner.data(), owner.size());
  PutU32(h.data() + 36, HeaderCrc(segment, offset, h.data()));
  return h;
}

struct Decoded {
  uint32_t magic = 0;
  uint32_t length = 0;
  uint32_t crc = 0;
  std::string_view owner;
};

// nullopt unless `h` is a well-formed header written at `offset` of `segment`.
std::optional<Decoded> DecodeHeader(const char* h, uint64_t segment, uint64_t offset) {
  if (GetU32(h + 36) != HeaderCrc(segment, offset, h)) return std::nullopt;
  Decoded d;
  d.magic = GetU32(h);
  d.length = GetU32(h + 4);
  d.crc = GetU32(h + 8);
  const auto owner_size = static_cast<uint8_t>(h[12]);
  if ((!IsRecord(d.magic) && d.magic != kSealMagic) || owner_size > kSegmentOwnerBytes) {
    return std::nullopt;
  }
  d.owner = std::string_view(h + 16, owner_size);
  return d;
}

absl::Status Errno(std::string_view what, const fs::path& file, int error) {
  return absl::UnavailableError(
      absl::StrCat(common::Av(what), " ", file.string(), ": ", std::strerror(error)));
}

// Writes every byte of `iov` at `offset`, resuming after short writes.
bool PwriteAll(int fd, std::vector<iovec> iov, off_t offset) {
  size_t first = 0;
  while (first < iov.size()) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    const ssize_t n = ::pwritev(fd, iov.data() + first, count, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = EIO;
      return false;
    }
    offset += n;
    auto left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (left > 0) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return true;
}

// Reads exactly `size` bytes at `offset`; false on an error or end of file (errno 0 then).
bool PreadAll(int fd, char* out, size_t size, off_t offset) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, out, size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = 0;
      return false;
    }
    out += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return true;
}

std::optional<uint64_t> ParseSegmentName(const std::string& name) {
  if (name.size() != 16 + kSuffix.size() || !name.ends_with(kSuffix)) return std::nullopt;
  uint64_t id = 0;
  for (size_t i = 0; i < 16; ++i) {
    const char c = name[i];
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    id = (id << 4) | static_cast<uint64_t>(digit);
  }
  return id;
}

// Copies `from` to `to` (a new file), for a checkpoint on another filesystem.
absl::Status CopyFile(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, ec);
  if (ec)
    return absl::UnavailableError(absl::StrCat("cannot copy ", from.string(), ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

struct SegmentStore::File {
  File(uint64_t id_in, int fd_in) : id(id_in), fd(fd_in) {}
  ~File() {
    if (fd >= 0) ::close(fd);
  }
  const uint64_t id;
  const int fd;
  // End of the bytes written so far (set after each write, under append_mutex_).
  std::atomic<uint64_t> written{0};
  // Start of the synced bytes not yet given back to the page cache (under sync_mutex_).
  uint64_t dropped = 0;
};

namespace {

constexpr uint64_t kPageBytes = 4096;

// Gives the page cache's copies of [from, to) of a synced file back. Documents are written
// once and read at most a few times later, so caching them only crowds out what is read
// often (RocksDB's tables), and writing into pages the cache has not held before costs more
// than into pages it gave back (on the virtual machines measured, 0.5 against 4 GB/s for a
// buffered write). Advice only: a failure leaves the pages cached, which is harmless.
void DropSyncedPages(int fd, uint64_t from, uint64_t to) {
  (void)::posix_fadvise(fd, static_cast<off_t>(from), static_cast<off_t>(to - from),
                        POSIX_FADV_DONTNEED);
}

}  // namespace

std::string EncodeSegmentPointer(const SegmentPointer& pointer) {
  std::string out(kPointerBytes, '\0');
  std::memcpy(out.data(), kPointerTag.data(), kPointerTag.size());
  char* p = out.data() + kPointerTag.size();
  PutU64(p, pointer.segment);
  PutU64(p + 8, pointer.offset);
  PutU32(p + 16, pointer.length);
  PutU32(p + 20, pointer.crc);
  return out;
}

std::optional<SegmentPointer> DecodeSegmentPointer(std::string_view value) {
  if (value.size() != kPointerBytes || !value.starts_with(kPointerTag)) return std::nullopt;
  const char* p = value.data() + kPointerTag.size();
  return SegmentPointer{GetU64(p), GetU64(p + 8), GetU32(p + 16), GetU32(p + 20)};
}

std::string SegmentFileName(uint64_t id) { return absl::StrFormat("%016x%s", id, kSuffix); }

SegmentAppend::SegmentAppend(SegmentAppend&& other) noexcept
    : store_(other.store_),
      pointers_(std::move(other.pointers_)),
      sync_generation_(other.sync_generation_) {
  other.store_ = nullptr;
}

SegmentAppend::~SegmentAppend() {
  if (store_ != nullptr) store_->Release(pointers_);
}

absl::StatusOr<std::unique_ptr<SegmentStore>> SegmentStore::Open(SegmentOptions options) {
  std::unique_ptr<SegmentStore> store(new SegmentStore(std::move(options)));
  UTPOST_RETURN_IF_ERROR(store->Recover());
  return store;
}

SegmentStore::~SegmentStore() {
  std::lock_guard<std::mutex> lock(append_mutex_);
  if (!active_) return;
  const fs::path path = options_.dir / SegmentFileName(active_->id);
  if (tail_ == 0) {
    // Nothing was appended to it: it need not exist.
    ::unlink(path.c_str());
    return;
  }
  // A clean stop seals the active segment, so the next start need not scan it.
  std::lock_guard<std::mutex> sync_lock(sync_mutex_);
  if (!broken_.ok()) return;
  const Header seal = EncodeHeader(kSealMagic, active_->id, tail_, "", 0, 0);
  if (PwriteAll(active_->fd, {{const_cast<char*>(seal.data()), seal.size()}},
                static_cast<off_t>(tail_))) {
    (void)::fdatasync(active_->fd);
  }
}

void SegmentStore::Notify(SegmentEvent::Kind kind, uint64_t segment, uint64_t offset,
                          uint64_t bytes) const {
  if (options_.observer) options_.observer(SegmentEvent{kind, segment, offset, bytes});
}

absl::Status SegmentStore::Recover() {
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", options_.dir.string(), ": ", ec.message()));
  }
  fs::permissions(options_.dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  std::vector<uint64_t> ids;
  for (const auto& entry : fs::directory_iterator(options_.dir, ec)) {
    if (auto id = ParseSegmentName(entry.path().filename().string())) ids.push_back(*id);
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot list ", options_.dir.string(), ": ", ec.message()));
  }
  std::sort(ids.begin(), ids.end());
  bool changed = false;
  std::string payload;
  for (const uint64_t id : ids) {
    const fs::path path = options_.dir / SegmentFileName(id);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Errno("cannot open segment", path, errno);
    File file(id, fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return Errno("cannot stat segment", path, errno);
    const auto size = static_cast<uint64_t>(st.st_size);
    Header h{};
    if (size >= kSegmentHeaderBytes &&
        PreadAll(fd, h.data(), h.size(), static_cast<off_t>(size - kSegmentHeaderBytes))) {
      auto decoded = DecodeHeader(h.data(), id, size - kSegmentHeaderBytes);
      if (decoded && decoded->magic == kSealMagic) {
        sealed_[id] = size;
        continue;
      }
    }
    // Not sealed: keep the records that are whole and intact, cut the rest.
    uint64_t valid = 0;
    while (valid + kSegmentHeaderBytes <= size) {
      if (!PreadAll(fd, h.data(), h.size(), static_cast<off_t>(valid))) break;
      auto decoded = DecodeHeader(h.data(), id, valid);
      if (!decoded || !IsRecord(decoded->magic)) break;
      if (valid + kSegmentHeaderBytes + decoded->length > size) break;
      payload.resize(decoded->length);
      if (!PreadAll(fd, payload.data(), payload.size(),
                    static_cast<off_t>(valid + kSegmentHeaderBytes))) {
        break;
      }
      if (PayloadCrc(decoded->magic, payload.data(), payload.size()) != decoded->crc) break;
      valid += kSegmentHeaderBytes + decoded->length;
    }
    if (valid < size) {
      if (::ftruncate(fd, static_cast<off_t>(valid)) != 0) {
        return Errno("cannot truncate the torn tail of segment", path, errno);
      }
      repairs_.push_back({id, valid, size - valid});
    }
    const Header seal = EncodeHeader(kSealMagic, id, valid, "", 0, 0);
    if (!PwriteAll(fd, {{const_cast<char*>(seal.data()), seal.size()}},
                   static_cast<off_t>(valid)) ||
        ::fdatasync(fd) != 0) {
      return Errno("cannot seal segment", path, errno);
    }
    sealed_[id] = valid + kSegmentHeaderBytes;
    changed = true;
  }
  payload.clear();
  payload.shrink_to_fit();
  next_id_ = ids.empty() ? 1 : ids.back() + 1;
  if (changed) UTPOST_RETURN_IF_ERROR(SyncDir(options_.dir));
  return absl::OkStatus();
}

absl::Status SegmentStore::StartSegmentLocked(uint64_t id) {
  // Never the same id twice, even when this attempt fails half-way.
  next_id_ = id + 1;
  const fs::path path = options_.dir / SegmentFileName(id);
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create segment", path, errno);
  auto file = std::make_shared<File>(id, fd);
  // The name must be durable before a pointer to the file is committed.
  UTPOST_RETURN_IF_ERROR(SyncDir(options_.dir));
  active_ = std::move(file);
  tail_ = 0;
  return absl::OkStatus();
}

absl::Status SegmentStore::RollLocked() {
  const Header seal = EncodeHeader(kSealMagic, active_->id, tail_, "", 0, 0);
  if (!PwriteAll(active_->fd, {{const_cast<char*>(seal.data()), seal.size()}},
                 static_cast<off_t>(tail_))) {
    return Errno("cannot seal segment", options_.dir / SegmentFileName(active_->id), errno);
  }
  Notify(SegmentEvent::Kind::kWritten, active_->id, tail_, seal.size());
  active_->written.store(tail_ + seal.size(), std::memory_order_release);
  {
    // The seal is synced by the next group sync (or by LinkSealed, which syncs what it links).
    std::lock_guard<std::mutex> lock(sync_mutex_);
    if (std::find(dirty_.begin(), dirty_.end(), active_) == dirty_.end()) {
      dirty_.push_back(active_);
    }
  }
  {
    std::lock_guard<std::mutex> lock(files_mutex_);
    sealed_[active_->id] = tail_ + seal.size();
  }
  active_.reset();
  tail_ = 0;
  return StartSegmentLocked(next_id_);
}

absl::StatusOr<SegmentAppend> SegmentStore::Append(absl::Span<const SegmentRecord> records) {
  UTPOST_ASSIGN_OR_RETURN(SegmentAppend appended, Write(records));
  UTPOST_RETURN_IF_ERROR(WaitDurable(appended.sync_generation()));
  return appended;
}

absl::StatusOr<SegmentAppend> SegmentStore::Write(absl::Span<const SegmentRecord> records) {
  if (records.empty()) return SegmentAppend(nullptr, {}, 0);
  // Checksums before the lock: they are most of the CPU an append costs.
  const uint32_t magic = options_.write_v1_records ? kRecordMagicV1 : kRecordMagic;
  std::vector<SegmentPointer> pointers(records.size());
  uint64_t total = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].owner.size() > kSegmentOwnerBytes) {
      return absl::InvalidArgumentError("segment record owner key longer than 20 bytes");
    }
    if (records[i].payload.size() >= (uint64_t{1} << 32) - kSegmentHeaderBytes) {
      return absl::InvalidArgumentError("segment record of 4 GiB or more");
    }
    pointers[i].length = static_cast<uint32_t>(records[i].payload.size());
    pointers[i].crc = PayloadCrc(magic, records[i].payload.data(), records[i].payload.size());
    total += pointers[i].RecordBytes();
  }
  {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    UTPOST_RETURN_IF_ERROR(broken_);
  }
  std::shared_ptr<File> file;
  {
    std::lock_guard<std::mutex> lock(append_mutex_);
    if (!active_) {
      UTPOST_RETURN_IF_ERROR(StartSegmentLocked(next_id_));
    } else if (tail_ > 0 && tail_ + total + kSegmentHeaderBytes > options_.segment_bytes) {
      UTPOST_RETURN_IF_ERROR(RollLocked());
    }
    std::vector<Header> headers(records.size());
    std::vector<iovec> iov;
    iov.reserve(records.size() * 2);
    uint64_t offset = tail_;
    for (size_t i = 0; i < records.size(); ++i) {
      pointers[i].segment = active_->id;
      pointers[i].offset = offset;
      headers[i] = EncodeHeader(magic, active_->id, offset, records[i].owner, pointers[i].length,
                                pointers[i].crc);
      iov.push_back({headers[i].data(), headers[i].size()});
      if (!records[i].payload.empty()) {
        iov.push_back({const_cast<char*>(records[i].payload.data()), records[i].payload.size()});
      }
      offset += pointers[i].RecordBytes();
    }
    if (!PwriteAll(active_->fd, std::move(iov), static_cast<off_t>(tail_))) {
      const int error = errno;
      // Leave no partial record behind for the next append to follow.
      (void)::ftruncate(active_->fd, static_cast<off_t>(tail_));
      return Errno("cannot write segment", options_.dir / SegmentFileName(active_->id), error);
    }
    Notify(SegmentEvent::Kind::kWritten, active_->id, tail_, total);
    tail_ += total;
    active_->written.store(tail_, std::memory_order_release);
    file = active_;
    std::lock_guard<std::mutex> files_lock(files_mutex_);
    ++held_[active_->id];
  }
  uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    if (std::find(dirty_.begin(), dirty_.end(), file) == dirty_.end()) dirty_.push_back(file);
    // A sync in progress may have begun before this write: the next one covers it.
    generation = syncs_started_ + 1;
  }
  return SegmentAppend(this, std::move(pointers), generation);
}

absl::Status SegmentStore::WaitDurable(uint64_t target) {
  std::unique_lock<std::mutex> lock(sync_mutex_);
  // What a sync this call led gives back to the page cache, once the waiters are released.
  struct Drop {
    std::shared_ptr<File> file;
    uint64_t from = 0;
    uint64_t to = 0;
  };
  std::vector<Drop> drops;
  while (syncs_completed_ < target) {
    UTPOST_RETURN_IF_ERROR(broken_);
    if (syncing_) {
      sync_cv_[target % 2].wait(lock);
      continue;
    }
    // Lead: sync every file written since the last sync began, for everyone waiting.
    syncing_ = true;
    const uint64_t generation = ++syncs_started_;
    std::vector<std::shared_ptr<File>> files;
    files.swap(dirty_);
    lock.unlock();
    absl::Status status;
    for (const auto& f : files) {
      // Everything written before this point is covered by the sync below.
      const uint64_t written = f->written.load(std::memory_order_acquire);
      Notify(SegmentEvent::Kind::kSyncing, f->id, generation, 0);
      if (::fdatasync(f->fd) != 0) {
        status = Errno("cannot sync segment", options_.dir / SegmentFileName(f->id), errno);
        break;
      }
      Notify(SegmentEvent::Kind::kSynced, f->id, generation, 0);
      // Whole pages only: the page `written` falls in may still take more bytes.
      drops.push_back({f, 0, written / kPageBytes * kPageBytes});
    }
    files.clear();
    lock.lock();
    syncing_ = false;
    if (status.ok()) {
      syncs_completed_ = generation;
      for (Drop& drop : drops) {
        drop.from = drop.file->dropped;
        drop.file->dropped = std::max(drop.from, drop.to);
      }
    } else {
      drops.clear();
      // After a failed fdatasync the kernel may have dropped the dirty pages: nothing written
      // since the last good sync can be trusted, so no later append is acknowledged either.
      broken_ = absl::UnavailableError(
          absl::StrCat(status.message(), "; the segment store refuses writes until restarted"));
    }
    // This generation's writers are done (or failed); one writer of the next leads it. After
    // a failure every waiter must see broken_.
    sync_cv_[generation % 2].notify_all();
    if (status.ok()) {
      sync_cv_[(generation + 1) % 2].notify_one();
    } else {
      sync_cv_[(generation + 1) % 2].notify_all();
    }
  }
  lock.unlock();
  for (const Drop& drop : drops) {
    if (drop.to > drop.from) DropSyncedPages(drop.file->fd, drop.from, drop.to);
  }
  return absl::OkStatus();
}

void SegmentStore::Release(const std::vector<SegmentPointer>& pointers) {
  if (pointers.empty()) return;
  std::lock_guard<std::mutex> lock(files_mutex_);
  auto it = held_.find(pointers.front().segment);
  if (it != held_.end() && --it->second <= 0) held_.erase(it);
}

absl::StatusOr<std::string> SegmentStore::Read(const SegmentPointer& pointer,
                                               std::string_view owner) const {
  const std::string name = SegmentFileName(pointer.segment);
  const fs::path path = options_.dir / name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("segment ", name, " is gone"));
    return Errno("cannot open segment", path, errno);
  }
  File file(pointer.segment, fd);
  auto corrupt = [&](std::string_view what) {
    return absl::DataLossError(absl::StrCat("segment ", name, " is corrupt at offset ",
                                            pointer.offset, ": ", common::Av(what)));
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Errno("cannot stat segment", path, errno);
  // Checked before anything is allocated: a damaged pointer or header cannot ask for more
  // memory than the file holds.
  const auto file_size = static_cast<uint64_t>(st.st_size);
  if (pointer.offset > file_size ||
      file_size - pointer.offset < kSegmentHeaderBytes + uint64_t{pointer.length}) {
    return corrupt("the file ends before the end of the record");
  }
  Header h{};
  if (!PreadAll(fd, h.data(), h.size(), static_cast<off_t>(pointer.offset))) {
    if (errno != 0) return Errno("cannot read segment", path, errno);
    return corrupt("the file ends before the record");
  }
  auto decoded = DecodeHeader(h.data(), pointer.segment, pointer.offset);
  if (!decoded || !IsRecord(decoded->magic)) return corrupt("no record header");
  if (decoded->owner != owner || decoded->length != pointer.length || decoded->crc != pointer.crc) {
    return corrupt("the record there is not the one the pointer names");
  }
  std::string payload(pointer.length, '\0');
  if (!PreadAll(fd, payload.data(), payload.size(),
                static_cast<off_t>(pointer.offset + kSegmentHeaderBytes))) {
    if (errno != 0) return Errno("cannot read segment", path, errno);
    return corrupt("the file ends inside the record");
  }
  if (PayloadCrc(decoded->magic, payload.data(), payload.size()) != pointer.crc) {
    return corrupt("checksum mismatch");
  }
  return payload;
}

absl::StatusOr<int> SegmentStore::Reclaim(
    const std::vector<uint64_t>& candidates,
    absl::FunctionRef<absl::StatusOr<uint64_t>(uint64_t)> live) {
  std::lock_guard<std::mutex> lock(reclaim_mutex_);
  int deleted = 0;
  for (const uint64_t id : candidates) {
    {
      std::lock_guard<std::mutex> files_lock(files_mutex_);
      // Only sealed segments: the active one still takes appends. A held one has records
      // whose pointers are being committed.
      if (!sealed_.contains(id) || held_.contains(id)) continue;
    }
    UTPOST_ASSIGN_OR_RETURN(const uint64_t bytes, live(id));
    if (bytes != 0) continue;
    const fs::path path = options_.dir / SegmentFileName(id);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Errno("cannot delete segment", path, errno);
    }
    std::lock_guard<std::mutex> files_lock(files_mutex_);
    sealed_.erase(id);
    ++deleted;
  }
  if (deleted > 0) UTPOST_RETURN_IF_ERROR(SyncDir(options_.dir));
  return deleted;
}

absl::StatusOr<int> SegmentStore::ReclaimAll(
    absl::FunctionRef<absl::StatusOr<uint64_t>(uint64_t)> live) {
  std::vector<uint64_t> ids;
  {
    std::lock_guard<std::mutex> lock(files_mutex_);
    for (const auto& [id, size] : sealed_) ids.push_back(id);
  }
  return Reclaim(ids, live);
}

absl::StatusOr<uint64_t> SegmentStore::LinkSealed(const fs::path& dir,
                                                  absl::FunctionRef<absl::Status()> first) {
  std::lock_guard<std::mutex> lock(reclaim_mutex_);
  UTPOST_RETURN_IF_ERROR(first());
  {
    std::lock_guard<std::mutex> append_lock(append_mutex_);
    if (active_ && tail_ > 0) UTPOST_RETURN_IF_ERROR(RollLocked());
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return absl::UnavailableError(absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  std::map<uint64_t, uint64_t> sealed;
  {
    std::lock_guard<std::mutex> files_lock(files_mutex_);
    sealed = sealed_;
  }
  uint64_t bytes = 0;
  for (const auto& [id, size] : sealed) {
    const fs::path from = options_.dir / SegmentFileName(id);
    const fs::path to = dir / SegmentFileName(id);
    if (::link(from.c_str(), to.c_str()) != 0) {
      if (errno != EXDEV) return Errno("cannot link segment", from, errno);
      UTPOST_RETURN_IF_ERROR(CopyFile(from, to));
    }
    // A segment sealed just now may have its seal (and the last records) not yet synced.
    const int fd = ::open(to.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("cannot open", to, errno);
    const int rc = ::fdatasync(fd);
    const int error = errno;
    ::close(fd);
    if (rc != 0) return Errno("cannot sync", to, error);
    bytes += size;
  }
  UTPOST_RETURN_IF_ERROR(SyncDir(dir));
  return bytes;
}

std::vector<SegmentInfo> SegmentStore::Segments() const {
  std::vector<SegmentInfo> out;
  std::lock_guard<std::mutex> lock(append_mutex_);
  {
    std::lock_guard<std::mutex> files_lock(files_mutex_);
    for (const auto& [id, size] : sealed_) out.push_back({id, size, true});
  }
  if (active_) out.push_back({active_->id, tail_, false});
  return out;
}

uint64_t SegmentStore::syncs() const {
  std::lock_guard<std::mutex> lock(sync_mutex_);
  return syncs_completed_;
}

}  // namespace utpost::storage
