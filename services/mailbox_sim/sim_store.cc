#include "services/mailbox_sim/sim_store.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"
#include "storage/checkpoint.h"
#include "storage/db.h"

namespace utpost::mailbox_sim {
namespace {

using storage::FromRocksDb;

constexpr size_t kMaxListedLetters = 1000;

void AppendBe32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void AppendBe64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

uint64_t ReadBe64(std::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

// Microseconds since the epoch, shifted so that times before 1970 still sort (never used,
// but a clock set wrong must not wrap around).
uint64_t SortableMicros(absl::Time t) {
  return static_cast<uint64_t>(absl::ToUnixMicros(t)) ^ (uint64_t{1} << 63);
}

std::string ProviderPrefix(char kind, std::string_view provider) {
  return absl::StrCat(std::string(1, kind), common::Av(provider), std::string(1, '\0'));
}

std::string LetterKey(std::string_view provider, std::string_view letter_id) {
  return absl::StrCat(ProviderPrefix('l', provider), common::Av(letter_id));
}

std::string ShownKey(std::string_view provider, std::string_view letter_id,
                     std::string_view delivery_id) {
  return absl::StrCat(ProviderPrefix('e', provider), common::Av(letter_id), std::string(1, '\0'),
                      common::Av(delivery_id));
}

std::string ReceiptKey(std::string_view provider, uint64_t due, std::string_view letter_id) {
  std::string key = ProviderPrefix('r', provider);
  AppendBe64(key, due);
  key.append(letter_id);
  return key;
}

std::string BatchKey(std::string_view provider, std::string_view batch_id) {
  return absl::StrCat(ProviderPrefix('b', provider), common::Av(batch_id));
}

std::string UploadKey(std::string_view upload_id) {
  return absl::StrCat("u", common::Av(upload_id));
}

std::string ChunkPrefix(std::string_view upload_id) {
  return absl::StrCat("c", common::Av(upload_id), std::string(1, '\0'));
}

std::string ChunkKey(std::string_view upload_id, uint32_t part, uint32_t chunk) {
  std::string key = ChunkPrefix(upload_id);
  AppendBe32(key, part);
  AppendBe32(key, chunk);
  return key;
}

// The first key after every key that starts with `prefix` (prefixes here never end in 0xff).
std::string PrefixEnd(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

// The owner key of a held envelope's segment record (storage/segments.h): the first 16
// characters of its upload id (random, 32 hex digits) and its part, 20 bytes. A check that
// the pointer and the record belong together, not an index.
std::string SegmentOwner(std::string_view upload_id, uint32_t part) {
  std::string owner(upload_id.substr(0, 16));
  AppendBe32(owner, part);
  return owner;
}

rocksdb::WriteOptions Synced() {
  rocksdb::WriteOptions options;
  options.sync = true;
  return options;
}

template <typename Message>
absl::StatusOr<std::optional<Message>> Parse(const std::string& value, std::string_view what) {
  Message message;
  if (!message.ParseFromString(value)) {
    return absl::DataLossError(absl::StrCat("unreadable ", common::Av(what), " record"));
  }
  return message;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SimStore>> SimStore::Open(const std::filesystem::path& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 3;
  // Envelopes (64 KiB and up) go to blob files at flush and stay there: compaction moves
  // only the small records, instead of rewriting every document at each level.
  options.enable_blob_files = true;
  options.min_blob_size = 4096;
  options.enable_blob_garbage_collection = true;
  rocksdb::DB* raw = nullptr;
  UTPOST_RETURN_IF_ERROR(
      FromRocksDb(rocksdb::DB::Open(options, path.string(), &raw), "opening mailbox-sim db"));
  std::unique_ptr<rocksdb::DB> db(raw);
  storage::SegmentOptions segment_options;
  segment_options.dir = path / "segments";
  UTPOST_ASSIGN_OR_RETURN(std::unique_ptr<storage::SegmentStore> segments,
                          storage::SegmentStore::Open(std::move(segment_options)));
  // Open seals the last segment and starts another, so each start would leave one behind
  // even with nothing in it. The simulator never deletes a letter, so a segment holding any
  // record is kept; one holding only its seal goes.
  std::map<uint64_t, uint64_t> sizes;
  for (const storage::SegmentInfo& info : segments->Segments()) sizes[info.id] = info.bytes;
  UTPOST_RETURN_IF_ERROR(segments
                             ->ReclaimAll([&](uint64_t id) -> absl::StatusOr<uint64_t> {
                               const auto it = sizes.find(id);
                               return it == sizes.end() || it->second > storage::kSegmentHeaderBytes
                                          ? 1
                                          : 0;
                             })
                             .status());
  std::unique_ptr<SimStore> store(new SimStore(std::move(db), std::move(segments)));
  UTPOST_RETURN_IF_ERROR(store->RemoveUnfinishedUploads());
  return store;
}

SimStore::~SimStore() {
  if (db_ != nullptr) {
    // Best effort: every acknowledged write is already synced; this only releases files.
    (void)db_->SyncWAL();
    (void)db_->Close();
  }
}

absl::Status SimStore::ForEach(
    std::string_view prefix,
    const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
  rocksdb::ReadOptions options;
  const std::string end = PrefixEnd(std::string(prefix));
  rocksdb::Slice upper(end);
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    if (!fn(std::string_view(it->key().data(), it->key().size()),
            std::string_view(it->value().data(), it->value().size()))) {
      break;
    }
  }
  return FromRocksDb(it->status(), "scanning mailbox-sim db");
}

absl::Status SimStore::RemoveUnfinishedUploads() {
  std::vector<std::string> uploads;
  UTPOST_RETURN_IF_ERROR(ForEach("u", [&](std::string_view key, std::string_view) {
    uploads.emplace_back(key.substr(1));
    return true;
  }));
  for (const std::string& upload : uploads) UTPOST_RETURN_IF_ERROR(DiscardUpload(upload));
  return absl::OkStatus();
}

absl::Status SimStore::BeginUpload(std::string_view upload_id) {
  return FromRocksDb(db_->Put(rocksdb::WriteOptions(), UploadKey(upload_id), ""),
                     "starting an upload");
}

absl::Status SimStore::PutChunk(std::string_view upload_id, uint32_t part, uint32_t chunk,
                                std::string_view bytes) {
  return FromRocksDb(db_->Put(rocksdb::WriteOptions(), ChunkKey(upload_id, part, chunk),
                              rocksdb::Slice(bytes.data(), bytes.size())),
                     "storing a chunk");
}

absl::Status SimStore::ReadChunks(std::string_view upload_id, uint32_t part,
                                  const std::function<void(std::string_view)>& fn) const {
  std::string prefix = ChunkPrefix(upload_id);
  AppendBe32(prefix, part);
  absl::Status read = absl::OkStatus();
  UTPOST_RETURN_IF_ERROR(ForEach(prefix, [&](std::string_view, std::string_view value) {
    const std::optional<storage::SegmentPointer> pointer = storage::DecodeSegmentPointer(value);
    if (!pointer.has_value()) {
      fn(value);  // stored in RocksDB as received (an envelope begins with a DER SEQUENCE)
      return true;
    }
    absl::StatusOr<std::string> bytes = segments_->Read(*pointer, SegmentOwner(upload_id, part));
    if (!bytes.ok()) {
      read = bytes.status();
      return false;
    }
    fn(*bytes);
    return true;
  }));
  return read;
}

absl::Status SimStore::DiscardUpload(std::string_view upload_id) {
  rocksdb::WriteBatch batch;
  const std::string begin = ChunkPrefix(upload_id);
  const std::string end = PrefixEnd(begin);
  UTPOST_RETURN_IF_ERROR(FromRocksDb(batch.DeleteRange(db_->DefaultColumnFamily(), begin, end),
                                     "discarding an upload"));
  UTPOST_RETURN_IF_ERROR(FromRocksDb(batch.Delete(UploadKey(upload_id)), "discarding an upload"));
  return FromRocksDb(db_->Write(Synced(), &batch), "discarding an upload");
}

absl::StatusOr<std::optional<sim::v1::SimLetter>> SimStore::GetLetter(
    std::string_view provider, std::string_view letter_id) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), LetterKey(provider, letter_id), &value);
  if (s.IsNotFound()) return std::optional<sim::v1::SimLetter>();
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "reading a letter"));
  return Parse<sim::v1::SimLetter>(value, "letter");
}

absl::Status SimStore::CommitLetter(std::string_view provider, const sim::v1::SimLetter& letter,
                                    const std::optional<provider::v1::Receipt>& receipt,
                                    const std::vector<HeldPart>& held) {
  rocksdb::WriteBatch batch;
  // Held here until the batch is written, so that its segment is never taken for empty.
  std::optional<storage::SegmentAppend> appended;
  if (!held.empty()) {
    std::vector<std::string> owners;
    std::vector<storage::SegmentRecord> records;
    owners.reserve(held.size());
    records.reserve(held.size());
    for (const HeldPart& h : held) {
      owners.push_back(SegmentOwner(letter.upload_id(), h.part));
      records.push_back({owners.back(), h.bytes});
    }
    UTPOST_ASSIGN_OR_RETURN(storage::SegmentAppend append, segments_->Append(records));
    appended.emplace(std::move(append));
    for (size_t i = 0; i < held.size(); ++i) {
      UTPOST_RETURN_IF_ERROR(
          FromRocksDb(batch.Put(ChunkKey(letter.upload_id(), held[i].part, 0),
                                storage::EncodeSegmentPointer(appended->pointers()[i])),
                      "committing a letter"));
    }
  }
  UTPOST_RETURN_IF_ERROR(
      FromRocksDb(batch.Put(LetterKey(provider, letter.letter_id()), letter.SerializeAsString()),
                  "committing a letter"));
  UTPOST_RETURN_IF_ERROR(
      FromRocksDb(batch.Put(ShownKey(provider, letter.letter_id(), letter.delivery_id()), ""),
                  "committing a letter"));
  if (receipt.has_value()) {
    const uint64_t due = SortableMicros(common::FromProto(receipt->time()));
    UTPOST_RETURN_IF_ERROR(FromRocksDb(
        batch.Put(ReceiptKey(provider, due, letter.letter_id()), receipt->SerializeAsString()),
        "committing a letter"));
  }
  UTPOST_RETURN_IF_ERROR(
      FromRocksDb(batch.Delete(UploadKey(letter.upload_id())), "committing a letter"));
  return FromRocksDb(db_->Write(Synced(), &batch), "committing a letter");
}

absl::StatusOr<uint64_t> SimStore::Checkpoint(const std::filesystem::path& dir) {
  uint64_t database_bytes = 0;
  UTPOST_ASSIGN_OR_RETURN(
      const uint64_t segment_bytes, segments_->LinkSealed(dir / "segments", [&]() -> absl::Status {
        UTPOST_ASSIGN_OR_RETURN(database_bytes, storage::CheckpointTo(*db_, dir));
        return absl::OkStatus();
      }));
  return database_bytes + segment_bytes;
}

std::string SimStore::ReceiptId(absl::Time due, std::string_view letter_id) {
  return absl::StrCat(absl::Hex(SortableMicros(due), absl::kZeroPad16), "-", common::Av(letter_id));
}

absl::StatusOr<std::vector<provider::v1::Receipt>> SimStore::DueReceipts(std::string_view provider,
                                                                         absl::Time now,
                                                                         size_t max) const {
  std::vector<provider::v1::Receipt> out;
  const std::string prefix = ProviderPrefix('r', provider);
  const uint64_t limit = SortableMicros(now);
  absl::Status parse_error;
  UTPOST_RETURN_IF_ERROR(ForEach(prefix, [&](std::string_view key, std::string_view value) {
    if (out.size() >= max || key.size() < prefix.size() + 8 ||
        ReadBe64(key.substr(prefix.size())) > limit) {
      return false;
    }
    provider::v1::Receipt receipt;
    if (!receipt.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      parse_error = absl::DataLossError("unreadable receipt record");
      return false;
    }
    out.push_back(std::move(receipt));
    return true;
  }));
  UTPOST_RETURN_IF_ERROR(parse_error);
  return out;
}

absl::Status SimStore::AcknowledgeReceipts(std::string_view provider,
                                           const std::vector<std::string>& receipt_ids) {
  rocksdb::WriteBatch batch;
  for (const std::string& id : receipt_ids) {
    // "<16 hex digits>-<letter id>"; anything else is not one of ours and is ignored.
    uint64_t due = 0;
    if (id.size() < 18 || id[16] != '-' ||
        !absl::SimpleHexAtoi(absl::string_view(id.data(), 16), &due)) {
      continue;
    }
    UTPOST_RETURN_IF_ERROR(
        FromRocksDb(batch.Delete(ReceiptKey(provider, due, std::string_view(id).substr(17))),
                    "acknowledging receipts"));
  }
  if (batch.Count() == 0) return absl::OkStatus();
  return FromRocksDb(db_->Write(Synced(), &batch), "acknowledging receipts");
}

absl::StatusOr<std::optional<sim::v1::SimBatch>> SimStore::GetBatch(
    std::string_view provider, std::string_view batch_id) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), BatchKey(provider, batch_id), &value);
  if (s.IsNotFound()) return std::optional<sim::v1::SimBatch>();
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "reading a batch"));
  return Parse<sim::v1::SimBatch>(value, "batch");
}

absl::Status SimStore::CommitBatch(std::string_view provider, const sim::v1::SimBatch& batch) {
  rocksdb::WriteBatch write;
  UTPOST_RETURN_IF_ERROR(
      FromRocksDb(write.Put(BatchKey(provider, batch.batch_id()), batch.SerializeAsString()),
                  "committing a batch"));
  UTPOST_RETURN_IF_ERROR(
      FromRocksDb(write.Delete(UploadKey(batch.upload_id())), "committing a batch"));
  return FromRocksDb(db_->Write(Synced(), &write), "committing a batch");
}

absl::StatusOr<SimStore::Counts> SimStore::Count(std::string_view provider,
                                                 bool list_mailboxes) const {
  Counts counts;
  struct Listed {
    absl::Time delivered;
    std::string letter_id;
  };
  std::map<std::string, std::vector<Listed>> by_mailbox;
  absl::Status parse_error;
  UTPOST_RETURN_IF_ERROR(
      ForEach(ProviderPrefix('l', provider), [&](std::string_view, std::string_view value) {
        ++counts.letters;
        if (!list_mailboxes) return true;
        sim::v1::SimLetter letter;
        if (!letter.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          parse_error = absl::DataLossError("unreadable letter record");
          return false;
        }
        by_mailbox[letter.mailbox_address()].push_back(
            {common::FromProto(letter.delivered_time()), letter.letter_id()});
        return true;
      }));
  UTPOST_RETURN_IF_ERROR(parse_error);
  // Shown marks sort by letter id, so the marks of one letter are adjacent.
  const std::string shown_prefix = ProviderPrefix('e', provider);
  std::string previous;
  UTPOST_RETURN_IF_ERROR(ForEach(shown_prefix, [&](std::string_view key, std::string_view) {
    std::string_view rest = key.substr(shown_prefix.size());
    const std::string letter(rest.substr(0, rest.find('\0')));
    if (letter == previous) ++counts.duplicates;
    previous = letter;
    return true;
  }));
  UTPOST_RETURN_IF_ERROR(ForEach(ProviderPrefix('r', provider), [&](auto, auto) {
    ++counts.receipts;
    return true;
  }));
  UTPOST_RETURN_IF_ERROR(
      ForEach(ProviderPrefix('b', provider), [&](std::string_view, std::string_view value) {
        ++counts.batches;
        sim::v1::SimBatch batch;
        if (batch.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          counts.batch_letters += batch.letter_count();
        }
        return true;
      }));
  for (auto& [address, letters] : by_mailbox) {
    std::sort(letters.begin(), letters.end(),
              [](const Listed& a, const Listed& b) { return a.delivered < b.delivered; });
    MailboxCount m;
    m.address = address;
    m.letters = letters.size();
    for (size_t i = 0; i < letters.size() && i < kMaxListedLetters; ++i) {
      m.letter_ids.push_back(letters[i].letter_id);
    }
    counts.mailboxes.push_back(std::move(m));
  }
  return counts;
}

}  // namespace utpost::mailbox_sim
