#include "storage/checkpoint.h"

#include <fcntl.h>
#include <rocksdb/utilities/checkpoint.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "storage/db.h"

namespace utpost::storage {

absl::Status SyncDir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open ", dir.string(), ": ", std::strerror(errno)));
  }
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot sync ", dir.string(), ": ", std::strerror(error)));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> CheckpointTo(rocksdb::DB& db, const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(dir.string(), " exists already"));
  }
  rocksdb::Checkpoint* raw = nullptr;
  if (rocksdb::Status s = rocksdb::Checkpoint::Create(&db, &raw); !s.ok()) {
    return FromRocksDb(s, "checkpoint");
  }
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush 0: always flush, so the checkpoint needs no WAL replay and holds
  // every acknowledged write in its SST and blob files.
  if (rocksdb::Status s = checkpoint->CreateCheckpoint(dir.string(), /*log_size_for_flush=*/0);
      !s.ok()) {
    return FromRocksDb(s, absl::StrCat("checkpoint to ", dir.string()));
  }
  uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    bytes += entry.file_size(ec);
    // Hard links share the live files' data, already synced; a copied file is synced here.
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      if (fd >= 0) ::close(fd);
      return absl::UnavailableError(absl::StrCat("cannot sync ", entry.path().string()));
    }
    ::close(fd);
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list ", dir.string()));
  if (absl::Status s = SyncDir(dir); !s.ok()) return s;
  return bytes;
}

}  // namespace utpost::storage
