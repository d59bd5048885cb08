#include "services/print/spool_store.h"

#include <google/protobuf/util/time_util.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"

namespace utpost::print {
namespace {

using google::protobuf::util::TimeUtil;
using storage::v1::PrintBatchRecord;
using storage::v1::PrintEntryRecord;

std::string BatchKey(std::string_view batch) { return absl::StrCat("b/", common::Av(batch)); }
std::string EnvelopeKey(std::string_view batch) { return absl::StrCat("c/", common::Av(batch)); }
std::string EntryPrefix(std::string_view batch) {
  return absl::StrCat("e/", common::Av(batch), "/");
}
std::string EntryKey(std::string_view batch, std::string_view letter) {
  return absl::StrCat(EntryPrefix(batch), common::Av(letter));
}
std::string LetterKey(std::string_view letter) { return absl::StrCat("l/", common::Av(letter)); }

std::string LetterAad(std::string_view letter) {
  return absl::StrCat("utpost.print.letter/", common::Av(letter));
}
std::string CompletionAad(std::string_view letter) {
  return absl::StrCat("utpost.print.complete/", common::Av(letter));
}

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat("print spool ", common::Av(what), ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

template <typename Message>
absl::StatusOr<Message> ParseRecord(const std::string& bytes, std::string_view what) {
  Message m;
  if (!m.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("print spool: malformed ", common::Av(what)));
  }
  return m;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SpoolStore>> SpoolStore::Open(const std::filesystem::path& path,
                                                             const crypto::KeyStore& keys) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_background_jobs = 1;
  options.write_buffer_size = 16 << 20;
  // Spooled letters are large values written once and deleted once printed.
  options.enable_blob_files = true;
  options.min_blob_size = 4096;
  rocksdb::DB* raw = nullptr;
  UTPOST_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(options, path.string(), &raw), "open"));
  return std::unique_ptr<SpoolStore>(new SpoolStore(std::unique_ptr<rocksdb::DB>(raw), keys));
}

SpoolStore::SpoolStore(std::unique_ptr<rocksdb::DB> db, const crypto::KeyStore& keys)
    : db_(std::move(db)), envelope_(keys) {}

SpoolStore::~SpoolStore() {
  if (db_ != nullptr) {
    (void)db_->SyncWAL();  // every write was synced already; closing changes nothing
    (void)db_->Close();
  }
}

absl::Status SpoolStore::Write(rocksdb::WriteBatch& batch) {
  rocksdb::WriteOptions options;
  options.sync = true;
  return FromRocks(db_->Write(options, &batch), "write");
}

absl::StatusOr<std::optional<std::string>> SpoolStore::Get(std::string_view key) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  UTPOST_RETURN_IF_ERROR(FromRocks(s, "read"));
  return value;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> SpoolStore::Scan(
    std::string_view prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Valid() && it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  UTPOST_RETURN_IF_ERROR(FromRocks(it->status(), "scan"));
  return out;
}

absl::StatusOr<std::optional<std::string>> SpoolStore::BatchOf(std::string_view letter_id) {
  return Get(LetterKey(letter_id));
}

absl::Status SpoolStore::OpenBatch(const std::string& batch_id, absl::Time now) {
  PrintBatchRecord record;
  record.set_batch_id(batch_id);
  record.set_state(storage::v1::PRINT_BATCH_STATE_OPEN);
  *record.mutable_open_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  return PutBatch(record);
}

absl::Status SpoolStore::PutPending(const std::string& batch_id,
                                    const provider::v1::SpoolLetter& letter,
                                    const internal::v1::CompleteTaskRequest& completion,
                                    absl::Time now) {
  const std::string& letter_id = letter.letter_id();
  UTPOST_ASSIGN_OR_RETURN(std::optional<std::string> existing, BatchOf(letter_id));
  if (existing.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("letter ", letter_id, " is spooled already in batch ", *existing));
  }
  UTPOST_ASSIGN_OR_RETURN(std::optional<PrintBatchRecord> batch, Batch(batch_id));
  if (!batch.has_value() || batch->state() != storage::v1::PRINT_BATCH_STATE_OPEN) {
    return absl::FailedPreconditionError(absl::StrCat("batch ", batch_id, " is not open"));
  }
  const std::string plain = letter.SerializeAsString();
  UTPOST_ASSIGN_OR_RETURN(crypto::EncryptedDocument sealed_letter,
                          envelope_.Seal(plain, LetterAad(letter_id)));
  UTPOST_ASSIGN_OR_RETURN(crypto::EncryptedDocument sealed_completion,
                          envelope_.Seal(completion.SerializeAsString(), CompletionAad(letter_id)));
  PrintEntryRecord entry;
  entry.set_letter_id(letter_id);
  entry.set_state(storage::v1::PRINT_ENTRY_STATE_PENDING);
  entry.set_batch_id(batch_id);
  entry.set_sealed_completion(sealed_completion.Serialize());
  entry.set_sealed_letter(sealed_letter.Serialize());
  entry.set_letter_bytes(plain.size());
  *entry.mutable_spool_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  rocksdb::WriteBatch wb;
  wb.Put(EntryKey(batch_id, letter_id), entry.SerializeAsString());
  wb.Put(LetterKey(letter_id), batch_id);
  return Write(wb);
}

absl::StatusOr<std::vector<PendingLetter>> SpoolStore::Pending() {
  UTPOST_ASSIGN_OR_RETURN(auto rows, Scan("e/"));
  std::vector<PendingLetter> out;
  for (const auto& [key, value] : rows) {
    UTPOST_ASSIGN_OR_RETURN(PrintEntryRecord entry, ParseRecord<PrintEntryRecord>(value, key));
    if (entry.state() != storage::v1::PRINT_ENTRY_STATE_PENDING) continue;
    UTPOST_ASSIGN_OR_RETURN(crypto::EncryptedDocument sealed,
                            crypto::EncryptedDocument::Parse(entry.sealed_completion()));
    UTPOST_ASSIGN_OR_RETURN(std::string plain,
                            envelope_.Open(sealed, CompletionAad(entry.letter_id())));
    PendingLetter pending;
    pending.batch_id = entry.batch_id();
    pending.letter_id = entry.letter_id();
    if (!pending.completion.ParseFromString(plain)) {
      return absl::DataLossError("print spool: malformed pending completion");
    }
    out.push_back(std::move(pending));
  }
  return out;
}

absl::StatusOr<int> SpoolStore::PendingIn(const std::string& batch_id) {
  UTPOST_ASSIGN_OR_RETURN(auto rows, Scan(EntryPrefix(batch_id)));
  int n = 0;
  for (const auto& [key, value] : rows) {
    UTPOST_ASSIGN_OR_RETURN(PrintEntryRecord entry, ParseRecord<PrintEntryRecord>(value, key));
    if (entry.state() == storage::v1::PRINT_ENTRY_STATE_PENDING) ++n;
  }
  return n;
}

absl::Status SpoolStore::Commit(const std::string& batch_id, const std::string& letter_id) {
  UTPOST_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(EntryKey(batch_id, letter_id)));
  if (!value.has_value()) return absl::NotFoundError("print spool: no such entry");
  UTPOST_ASSIGN_OR_RETURN(PrintEntryRecord entry, ParseRecord<PrintEntryRecord>(*value, "entry"));
  if (entry.state() == storage::v1::PRINT_ENTRY_STATE_COMMITTED) return absl::OkStatus();
  UTPOST_ASSIGN_OR_RETURN(std::optional<PrintBatchRecord> batch, Batch(batch_id));
  if (!batch.has_value()) return absl::DataLossError("print spool: entry of a missing batch");
  entry.set_state(storage::v1::PRINT_ENTRY_STATE_COMMITTED);
  entry.clear_sealed_completion();
  batch->set_letter_count(batch->letter_count() + 1);
  batch->set_letter_bytes(batch->letter_bytes() + entry.letter_bytes());
  rocksdb::WriteBatch wb;
  wb.Put(EntryKey(batch_id, letter_id), entry.SerializeAsString());
  wb.Put(BatchKey(batch_id), batch->SerializeAsString());
  return Write(wb);
}

absl::Status SpoolStore::Drop(const std::string& batch_id, const std::string& letter_id) {
  rocksdb::WriteBatch wb;
  wb.Delete(EntryKey(batch_id, letter_id));
  wb.Delete(LetterKey(letter_id));
  return Write(wb);
}

absl::StatusOr<std::vector<PrintBatchRecord>> SpoolStore::Batches() {
  UTPOST_ASSIGN_OR_RETURN(auto rows, Scan("b/"));
  std::vector<PrintBatchRecord> out;
  for (const auto& [key, value] : rows) {
    UTPOST_ASSIGN_OR_RETURN(PrintBatchRecord record, ParseRecord<PrintBatchRecord>(value, key));
    out.push_back(std::move(record));
  }
  return out;
}

absl::StatusOr<std::optional<PrintBatchRecord>> SpoolStore::Batch(const std::string& batch_id) {
  UTPOST_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(BatchKey(batch_id)));
  if (!value.has_value()) return std::nullopt;
  UTPOST_ASSIGN_OR_RETURN(PrintBatchRecord record, ParseRecord<PrintBatchRecord>(*value, "batch"));
  return record;
}

absl::Status SpoolStore::PutBatch(const PrintBatchRecord& record) {
  rocksdb::WriteBatch wb;
  wb.Put(BatchKey(record.batch_id()), record.SerializeAsString());
  return Write(wb);
}

absl::StatusOr<provider::v1::SpoolBatch> SpoolStore::ReadBatch(const std::string& batch_id) {
  UTPOST_ASSIGN_OR_RETURN(auto rows, Scan(EntryPrefix(batch_id)));
  provider::v1::SpoolBatch out;
  out.set_batch_id(batch_id);
  for (const auto& [key, value] : rows) {
    UTPOST_ASSIGN_OR_RETURN(PrintEntryRecord entry, ParseRecord<PrintEntryRecord>(value, key));
    if (entry.state() != storage::v1::PRINT_ENTRY_STATE_COMMITTED) continue;
    UTPOST_ASSIGN_OR_RETURN(crypto::EncryptedDocument sealed,
                            crypto::EncryptedDocument::Parse(entry.sealed_letter()));
    UTPOST_ASSIGN_OR_RETURN(std::string plain,
                            envelope_.Open(sealed, LetterAad(entry.letter_id())));
    if (!out.add_letters()->ParseFromString(plain)) {
      return absl::DataLossError("print spool: malformed spooled letter");
    }
  }
  return out;
}

absl::Status SpoolStore::CloseBatch(PrintBatchRecord record, std::string_view envelope) {
  record.set_state(storage::v1::PRINT_BATCH_STATE_CLOSED);
  record.set_envelope_bytes(envelope.size());
  rocksdb::WriteBatch wb;
  wb.Put(EnvelopeKey(record.batch_id()), rocksdb::Slice(envelope.data(), envelope.size()));
  wb.Put(BatchKey(record.batch_id()), record.SerializeAsString());
  return Write(wb);
}

absl::StatusOr<std::string> SpoolStore::Envelope(const std::string& batch_id) {
  UTPOST_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(EnvelopeKey(batch_id)));
  if (!value.has_value()) return absl::NotFoundError("print spool: batch has no envelope");
  return *std::move(value);
}

absl::Status SpoolStore::FinishBatch(const std::string& batch_id) {
  UTPOST_ASSIGN_OR_RETURN(auto rows, Scan(EntryPrefix(batch_id)));
  rocksdb::WriteBatch wb;
  for (const auto& row : rows) wb.Delete(row.first);
  wb.Delete(EnvelopeKey(batch_id));
  wb.Delete(BatchKey(batch_id));
  return Write(wb);
}

}  // namespace utpost::print
