#include "storage/registry_store.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/registry_rules.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/digest.h"
#include "google/protobuf/util/time_util.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "storage/db.h"
#include "utpost/storage/v1/registry_records.pb.h"

namespace utpost::storage {
namespace {

using common::ToProto;

using Family = RegistryStore::Family;

constexpr std::array<std::string_view, static_cast<int>(Family::kCount)> kFamilyNames = {
    "persons", "organisations", "providers", "meta"};
constexpr std::string_view kIndexKeyName = "index-key";
constexpr size_t kIndexKeyBytes = 32;
// With the terminating NUL, which separates it from what follows.
constexpr std::string_view kIndexKeyAad{"utpost.v1.registry-index-key",
                                        sizeof("utpost.v1.registry-index-key")};
constexpr std::string_view kEntryAadPrefix{"utpost.v1.registry-entry",
                                           sizeof("utpost.v1.registry-entry")};

std::string_view FamilyName(Family f) { return kFamilyNames[static_cast<int>(f)]; }

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// Creates `dir` with mode 0700 (parents with the default mode) if missing.
absl::Status MakePrivateDir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (dir.has_parent_path()) {
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", dir.parent_path().string(), ": ", ec.message()));
    }
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat("cannot create registry directory ", dir.string(),
                                               ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string EntryAad(Family family, std::string_view key_hash) {
  std::string aad(kEntryAadPrefix);
  aad.append(FamilyName(family));
  aad.push_back('\0');
  aad.append(key_hash);
  return aad;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RegistryStore>> RegistryStore::Open(
    const RegistryStoreOptions& options, const crypto::KeyStore& keys, absl::Time now) {
  UTPOST_RETURN_IF_ERROR(MakePrivateDir(options.path));
  std::unique_ptr<RegistryStore> store(new RegistryStore(keys));
  store->statistics_ = rocksdb::CreateDBStatistics();
  store->statistics_->set_stats_level(rocksdb::StatsLevel::kExceptDetailedTimers);

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.statistics = store->statistics_;
  db_options.max_background_jobs = options.background_jobs;
  db_options.bytes_per_sync = 1 << 20;
  db_options.max_log_file_size = 8 << 20;
  db_options.keep_log_file_num = 3;

  rocksdb::ColumnFamilyOptions base;
  base.write_buffer_size = options.write_buffer_bytes;
  // Sealed values and hashed keys do not compress; uncompressed, a scan of the files for a
  // plaintext identifier is conclusive.
  base.compression = rocksdb::kNoCompression;
  base.bottommost_compression = rocksdb::kNoCompression;
  rocksdb::BlockBasedTableOptions table;
  // Imports ask, for every row, whether its key exists: a Bloom filter answers "no" for new
  // keys without reading a block.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  base.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int i = 0; i < static_cast<int>(Family::kCount); ++i) {
    descriptors.emplace_back(std::string(kFamilyNames[i]), base);
  }
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, base);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(db_options, options.path.string(), descriptors, &handles, &raw);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return absl::UnavailableError(
          absl::StrCat("registry database ", options.path.string(), " is in use: ", s.ToString()));
    }
    return FromRocksDb(s, absl::StrCat("open ", options.path.string()));
  }
  store->db_.reset(raw);
  for (int i = 0; i < static_cast<int>(Family::kCount); ++i) store->handles_[i] = handles[i];
  raw->DestroyColumnFamilyHandle(handles.back()).PermitUncheckedError();
  UTPOST_RETURN_IF_ERROR(store->LoadIndexKey(keys, now));
  return store;
}

RegistryStore::~RegistryStore() {
  if (!db_) return;
  db_->SyncWAL().PermitUncheckedError();
  for (auto* handle : handles_) {
    if (handle != nullptr) db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  db_->Close().PermitUncheckedError();
}

absl::Status RegistryStore::LoadIndexKey(const crypto::KeyStore& keys, absl::Time now) {
  std::string stored;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(Family::kMeta), ToSlice(kIndexKeyName), &stored);
  storage::v1::RegistryIndexKeyRecord record;
  if (s.IsNotFound()) {
    UTPOST_ASSIGN_OR_RETURN(const bool empty, Empty());
    if (!empty) {
      return absl::DataLossError(
          "the registry database has entries but no index key: its entries cannot be found");
    }
    index_key_ = crypto::SecretBytes::Random(kIndexKeyBytes);
    UTPOST_ASSIGN_OR_RETURN(crypto::WrappedKey wrapped, keys.Wrap(index_key_, kIndexKeyAad));
    record.set_kek_id(wrapped.kek_id);
    record.set_wrapped_key(wrapped.wrapped);
    *record.mutable_create_time() = ToProto(now);
    *record.mutable_wrap_time() = ToProto(now);
  } else {
    UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "read the registry index key"));
    if (!record.ParseFromString(stored) || record.kek_id().empty()) {
      return absl::DataLossError("the registry index key record does not parse");
    }
    absl::StatusOr<crypto::SecretBytes> key =
        keys.Unwrap(crypto::WrappedKey{record.kek_id(), record.wrapped_key()}, kIndexKeyAad);
    if (absl::IsNotFound(key.status())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the registry's index key is wrapped by key-encryption key ", record.kek_id(),
          ", which the key store does not hold: restore that key (the registry cannot find "
          "any entry without it)"));
    }
    if (absl::IsDataLoss(key.status())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the registry's index key does not unwrap with key-encryption key ", record.kek_id(),
          ": the key store holds a different key under that id; restore the original key"));
    }
    UTPOST_RETURN_IF_ERROR(key.status());
    if (key->size() != kIndexKeyBytes) {
      return absl::DataLossError("the registry index key has the wrong size");
    }
    index_key_ = *std::move(key);
    if (record.kek_id() == keys.CurrentKeyId()) {
      index_kek_id_ = record.kek_id();
      return absl::OkStatus();
    }
    // Rotation: rewrap under the current key, so the old one can be retired.
    UTPOST_ASSIGN_OR_RETURN(crypto::WrappedKey wrapped, keys.Wrap(index_key_, kIndexKeyAad));
    record.set_kek_id(wrapped.kek_id);
    record.set_wrapped_key(wrapped.wrapped);
    *record.mutable_wrap_time() = ToProto(now);
  }
  rocksdb::WriteBatch batch;
  UTPOST_RETURN_IF_ERROR(
      FromRocksDb(batch.Put(cf(Family::kMeta), ToSlice(kIndexKeyName), record.SerializeAsString()),
                  "batch put"));
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  UTPOST_RETURN_IF_ERROR(
      FromRocksDb(db_->Write(write_options, &batch), "write the registry index key"));
  index_kek_id_ = record.kek_id();
  return absl::OkStatus();
}

std::pair<Family, std::string> RegistryStore::Locate(const utpost::v1::RegistryKey& key) const {
  Family family = Family::kProviders;
  if (key.has_person()) family = Family::kPersons;
  if (key.has_organisation()) family = Family::kOrganisations;
  return {family, crypto::HmacSha256(index_key_, common::CanonicalRegistryKey(key))};
}

absl::StatusOr<std::string> RegistryStore::Seal(Family family, std::string_view key_hash,
                                                const utpost::v1::RegistryEntry& entry) const {
  storage::v1::RegistryEntryRecord record;
  *record.mutable_entry() = entry;
  std::string plain = record.SerializeAsString();
  absl::StatusOr<crypto::EncryptedDocument> sealed =
      envelope_.Seal(plain, EntryAad(family, key_hash));
  crypto::Wipe(plain);
  UTPOST_RETURN_IF_ERROR(sealed.status());
  return sealed->Serialize();
}

absl::StatusOr<utpost::v1::RegistryEntry> RegistryStore::Open(Family family,
                                                              std::string_view key_hash,
                                                              std::string_view stored) const {
  UTPOST_ASSIGN_OR_RETURN(crypto::EncryptedDocument doc, crypto::EncryptedDocument::Parse(stored));
  UTPOST_ASSIGN_OR_RETURN(std::string plain, envelope_.Open(doc, EntryAad(family, key_hash)));
  storage::v1::RegistryEntryRecord record;
  const bool parsed = plain.size() <= static_cast<size_t>(INT_MAX) &&
                      record.ParseFromArray(plain.data(), static_cast<int>(plain.size()));
  crypto::Wipe(plain);
  if (!parsed) return absl::DataLossError("a registry entry does not parse");
  return std::move(*record.mutable_entry());
}

absl::StatusOr<std::vector<bool>> RegistryStore::Put(
    std::span<const utpost::v1::RegistryEntry> entries) {
  std::vector<Family> family_of;
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  std::vector<std::string> hashes;
  family_of.reserve(entries.size());
  families.reserve(entries.size());
  hashes.reserve(entries.size());
  for (const utpost::v1::RegistryEntry& entry : entries) {
    auto [family, hash] = Locate(common::RegistryKeyOf(entry));
    family_of.push_back(family);
    families.push_back(cf(family));
    hashes.push_back(std::move(hash));
  }
  std::vector<rocksdb::Slice> slices;
  slices.reserve(hashes.size());
  for (const std::string& h : hashes) slices.push_back(ToSlice(h));
  std::vector<std::string> values;
  // Existence only: the values are not opened.
  std::vector<rocksdb::Status> found =
      db_->MultiGet(rocksdb::ReadOptions(), families, slices, &values);
  std::vector<bool> replaced(entries.size());
  absl::flat_hash_set<std::string> in_batch;
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!found[i].ok() && !found[i].IsNotFound()) {
      return FromRocksDb(found[i], "read a registry entry");
    }
    // Hashes of different families never collide in practice (different canonical texts),
    // but the family is part of the identity all the same.
    const bool again =
        !in_batch.insert(absl::StrCat(static_cast<int>(family_of[i]), "/", hashes[i])).second;
    replaced[i] = found[i].ok() || again;
    UTPOST_ASSIGN_OR_RETURN(std::string sealed, Seal(family_of[i], hashes[i], entries[i]));
    UTPOST_RETURN_IF_ERROR(FromRocksDb(batch.Put(families[i], slices[i], sealed), "batch put"));
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(db_->Write(write_options, &batch), "write registry entries"));
  return replaced;
}

absl::StatusOr<bool> RegistryStore::Delete(const utpost::v1::RegistryKey& key) {
  auto [family, hash] = Locate(key);
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(family), ToSlice(hash), &value);
  if (s.IsNotFound()) return false;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "read a registry entry"));
  rocksdb::WriteBatch batch;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(batch.Delete(cf(family), ToSlice(hash)), "batch delete"));
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(db_->Write(write_options, &batch), "delete a registry entry"));
  return true;
}

absl::StatusOr<std::vector<std::optional<utpost::v1::RegistryEntry>>> RegistryStore::Get(
    std::span<const utpost::v1::RegistryKey> keys) const {
  std::vector<Family> family_of;
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  std::vector<std::string> hashes;
  for (const utpost::v1::RegistryKey& key : keys) {
    auto [family, hash] = Locate(key);
    family_of.push_back(family);
    families.push_back(cf(family));
    hashes.push_back(std::move(hash));
  }
  std::vector<rocksdb::Slice> slices;
  slices.reserve(hashes.size());
  for (const std::string& h : hashes) slices.push_back(ToSlice(h));
  std::vector<std::string> values;
  std::vector<rocksdb::Status> found =
      db_->MultiGet(rocksdb::ReadOptions(), families, slices, &values);
  std::vector<std::optional<utpost::v1::RegistryEntry>> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (found[i].IsNotFound()) continue;
    UTPOST_RETURN_IF_ERROR(FromRocksDb(found[i], "read a registry entry"));
    UTPOST_ASSIGN_OR_RETURN(out[i], Open(family_of[i], hashes[i], values[i]));
  }
  return out;
}

absl::Status RegistryStore::ForEach(
    Family family, const std::function<absl::Status(utpost::v1::RegistryEntry)>& f) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(family)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    const rocksdb::Slice value = it->value();
    UTPOST_ASSIGN_OR_RETURN(utpost::v1::RegistryEntry entry,
                            Open(family, std::string_view(key.data(), key.size()),
                                 std::string_view(value.data(), value.size())));
    UTPOST_RETURN_IF_ERROR(f(std::move(entry)));
  }
  return FromRocksDb(it->status(), "scan registry entries");
}

absl::StatusOr<bool> RegistryStore::Empty() const {
  for (Family family : {Family::kPersons, Family::kOrganisations, Family::kProviders}) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(family)));
    it->SeekToFirst();
    if (it->Valid()) return false;
    UTPOST_RETURN_IF_ERROR(FromRocksDb(it->status(), "scan registry entries"));
  }
  return true;
}

absl::Status RegistryStore::FlushAndCompact() {
  rocksdb::FlushOptions flush_options;
  flush_options.wait = true;
  std::vector<rocksdb::ColumnFamilyHandle*> handles(handles_.begin(), handles_.end());
  UTPOST_RETURN_IF_ERROR(FromRocksDb(db_->Flush(flush_options, handles), "flush"));
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (auto* handle : handles_) {
    UTPOST_RETURN_IF_ERROR(
        FromRocksDb(db_->CompactRange(compact, handle, nullptr, nullptr), "compact"));
  }
  return absl::OkStatus();
}

}  // namespace utpost::storage
