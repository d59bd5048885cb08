// A consistent copy of a live RocksDB database, for backups (AdminService.CreateCheckpoint).
#pragma once

#include <rocksdb/db.h>

#include <cstdint>
#include <filesystem>

#include "absl/status/statusor.h"

namespace utpost::storage {

// Writes a RocksDB checkpoint of `db` to `dir`, which must not exist: every memtable is
// flushed first, then the files are hard-linked (copied when `dir` is on another filesystem)
// and the directory synced, so `dir` opens as the database was at one instant, with every
// write acknowledged before the call. Returns the bytes of its files. UNAVAILABLE when the
// disk refuses, INVALID_ARGUMENT when `dir` exists.
// fsync of a directory, so that the names in it (files created, renamed, deleted) survive a
// power loss. UNAVAILABLE naming the directory and the error.
[[nodiscard]] absl::Status SyncDir(const std::filesystem::path& dir);

[[nodiscard]] absl::StatusOr<uint64_t> CheckpointTo(rocksdb::DB& db,
                                                    const std::filesystem::path& dir);

}  // namespace utpost::storage
