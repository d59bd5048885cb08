// The recipient registry's own RocksDB. It holds personal data (who has a digital mailbox,
// who has reserved against digital mail, postal addresses), so nothing identifying is in
// clear on disk:
//
//   column family   key                                  value
//   persons         HMAC-SHA256(index key, "person/NO/<11 digits>" or "person/DK/<10>")
//   organisations   HMAC-SHA256(index key, "organisation/NO/<9>" or "organisation/DK/<8>")
//   providers       HMAC-SHA256(index key, "provider/<id>")
//                   -> EncryptedDocument (records.proto) sealing a RegistryEntryRecord
//   meta            "index-key" -> RegistryIndexKeyRecord
//
// Keys: the 32-byte HMAC of the normalised identifier (common::CanonicalRegistryKey), so a
// lookup by identifier is a point read and the identifier itself is never stored. The index
// key is 32 random bytes made when the database is created and stored only wrapped by the
// key store's current key-encryption key (as a document's data key is); it is not derived
// from a KEK, so it works with any KeyStore (a KMS that only wraps and unwraps) and survives
// rotation: at open, an index key wrapped by an older KEK is rewrapped by the current one
// (synced), after which the older KEK is no longer needed for the index.
//
// Values: crypto::Envelope (a fresh AES-256-GCM data key per value, wrapped by the current
// KEK) with additional authenticated data "utpost.v1.registry-entry" NUL <family> NUL <key
// hash>, so a value cannot be moved to another key or family. Provider ids are not personal
// data but are stored the same way, to keep one layout.
//
// Files are uncompressed (ciphertext does not compress), so a scan of the directory for a
// plaintext identifier or address is conclusive. Every write is one WriteBatch with
// WriteOptions::sync: durable when the call returns.
//
// No business rules here (what a valid entry is, which provider must exist): the registry
// logic (services/registry) decides. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/envelope.h"
#include "crypto/key_store.h"
#include "crypto/secret.h"
#include "rocksdb/db.h"
#include "rocksdb/statistics.h"
#include "utpost/v1/registry.pb.h"

namespace utpost::storage {

struct RegistryStoreOptions {
  // The database directory; created with mode 0700 if missing.
  std::filesystem::path path;
  // Memtable size per column family.
  size_t write_buffer_bytes = 64ull << 20;
  int background_jobs = 2;
};

class RegistryStore {
 public:
  // The database, for a checkpoint (storage/checkpoint.h).
  rocksdb::DB& raw() { return *db_; }
  enum class Family : int { kPersons = 0, kOrganisations, kProviders, kMeta, kCount };

  // Opens or creates the database, and loads (or makes, for a new database) the index key.
  // `keys` must outlive the store. UNAVAILABLE if another process holds the database,
  // DATA_LOSS if it is corrupt or has entries but no index key, FAILED_PRECONDITION naming
  // the key id if the key-encryption key that wrapped the index key is missing from `keys`
  // or is a different key. `now` stamps a new or rewrapped index key.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RegistryStore>> Open(
      const RegistryStoreOptions& options, const crypto::KeyStore& keys, absl::Time now);
  ~RegistryStore();
  RegistryStore(const RegistryStore&) = delete;
  RegistryStore& operator=(const RegistryStore&) = delete;

  // Writes `entries` (each must have a valid key: common::CheckRegistryEntry) in one synced
  // WriteBatch, replacing entries with the same key; a later entry in `entries` replaces an
  // earlier one with the same key. Returns, for each entry, whether it replaced one (already
  // stored, or earlier in `entries`).
  [[nodiscard]] absl::StatusOr<std::vector<bool>> Put(
      std::span<const utpost::v1::RegistryEntry> entries);

  // Deletes the entry `key` names (synced). Returns whether there was one.
  [[nodiscard]] absl::StatusOr<bool> Delete(const utpost::v1::RegistryKey& key);

  // The entries `keys` name (each valid), in order; nullopt where there is none.
  // DATA_LOSS if a stored value does not decrypt or parse.
  [[nodiscard]] absl::StatusOr<std::vector<std::optional<utpost::v1::RegistryEntry>>> Get(
      std::span<const utpost::v1::RegistryKey> keys) const;

  // Calls `f` with every stored entry of `family` (persons, organisations or providers), in
  // key-hash order (no meaningful order). Stops at and returns the first error of `f`.
  [[nodiscard]] absl::Status ForEach(
      Family family, const std::function<absl::Status(utpost::v1::RegistryEntry)>& f) const;

  // True if no person, organisation or provider is stored.
  [[nodiscard]] absl::StatusOr<bool> Empty() const;

  // Flushes every memtable to SST files, then compacts every family fully (tests: the
  // plaintext scan covers the files compaction writes too).
  [[nodiscard]] absl::Status FlushAndCompact();

  // A RocksDB statistics ticker, e.g. rocksdb::WAL_FILE_SYNCED.
  uint64_t Ticker(rocksdb::Tickers ticker) const { return statistics_->getTickerCount(ticker); }

  // The id of the key-encryption key that wraps the index key.
  const std::string& index_kek_id() const { return index_kek_id_; }

 private:
  RegistryStore(const crypto::KeyStore& keys) : envelope_(keys) {}

  [[nodiscard]] absl::Status LoadIndexKey(const crypto::KeyStore& keys, absl::Time now);
  rocksdb::ColumnFamilyHandle* cf(Family f) const { return handles_[static_cast<int>(f)]; }
  // The family and key hash of a valid key.
  std::pair<Family, std::string> Locate(const utpost::v1::RegistryKey& key) const;
  [[nodiscard]] absl::StatusOr<std::string> Seal(Family family, std::string_view key_hash,
                                                 const utpost::v1::RegistryEntry& entry) const;
  [[nodiscard]] absl::StatusOr<utpost::v1::RegistryEntry> Open(Family family,
                                                               std::string_view key_hash,
                                                               std::string_view stored) const;

  crypto::Envelope envelope_;
  crypto::SecretBytes index_key_;
  std::string index_kek_id_;
  std::shared_ptr<rocksdb::Statistics> statistics_;
  std::array<rocksdb::ColumnFamilyHandle*, static_cast<int>(Family::kCount)> handles_{};
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace utpost::storage
