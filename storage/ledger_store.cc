#include "storage/ledger_store.h"

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "rocksdb/iterator.h"
#include "storage/keys.h"

namespace utpost::storage {
namespace {

template <typename Message>
absl::StatusOr<Message> ParseRecord(const rocksdb::Slice& value, std::string_view what) {
  Message message;
  if (!message.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(absl::StrCat("unparsable ", common::Av(what), " record"));
  }
  return message;
}

std::string Serialize(const google::protobuf::MessageLite& message) {
  std::string out;
  // Deterministic so that equal records are equal bytes (simplifies checks and diffs).
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeWithCachedSizes(&coded);
  return out;
}

// ByteSizeLong must run before SerializeWithCachedSizes.
std::string SerializeRecord(const google::protobuf::MessageLite& message) {
  message.ByteSizeLong();
  return Serialize(message);
}

absl::Status IteratorStatus(rocksdb::Iterator& it, std::string_view what) {
  return FromRocksDb(it.status(), what);
}

}  // namespace

absl::Status LedgerStore::CommitNewLetter(const NewLetter& letter) {
  rocksdb::WriteBatch batch;
  const std::string& sender = letter.record.sender();
  auto put = [&](Cf cf, const std::string& key, std::string_view value) {
    return FromRocksDb(batch.Put(db_.cf(cf), key, rocksdb::Slice(value.data(), value.size())),
                       "batch put");
  };
  UTPOST_RETURN_IF_ERROR(
      put(Cf::kLetters, keys::Letter(letter.id), SerializeRecord(letter.record)));
  for (uint32_t i = 0; i < letter.documents.size(); ++i) {
    const crypto::EncryptedDocument& document = letter.documents[i];
    UTPOST_RETURN_IF_ERROR(
        put(Cf::kDocuments, keys::Document(letter.id, i), document.ciphertext()));
    UTPOST_RETURN_IF_ERROR(
        put(Cf::kDocumentKeys, keys::DocumentKey(letter.id, i), document.SerializeKey()));
  }
  const std::string event = SerializeRecord(letter.event);
  UTPOST_RETURN_IF_ERROR(put(Cf::kEvents, keys::Event(letter.id, 0), event));
  UTPOST_RETURN_IF_ERROR(
      put(Cf::kFeed, keys::Feed(sender, letter.event.event().sequence()), event));
  UTPOST_RETURN_IF_ERROR(put(Cf::kSenderIndex, keys::SenderIndex(sender, letter.id), ""));
  UTPOST_RETURN_IF_ERROR(put(Cf::kTasks,
                             keys::Task(absl::ToUnixMillis(letter.task_due), letter.id,
                                        static_cast<uint8_t>(letter.task.kind())),
                             SerializeRecord(letter.task)));
  if (!letter.idempotency_key.empty()) {
    UTPOST_RETURN_IF_ERROR(put(Cf::kIdempotency, keys::Idempotency(sender, letter.idempotency_key),
                               SerializeRecord(letter.idempotency)));
  }
  return db_.Write(batch);
}

absl::Status LedgerStore::CommitLetterUpdate(const LetterUpdate& update) {
  if (update.record.event_count() == 0) {
    return absl::InternalError("letter update without an event");
  }
  rocksdb::WriteBatch batch;
  const std::string event = SerializeRecord(update.event);
  UTPOST_RETURN_IF_ERROR(FromRocksDb(
      batch.Put(db_.cf(Cf::kLetters), keys::Letter(update.id), SerializeRecord(update.record)),
      "batch put"));
  UTPOST_RETURN_IF_ERROR(
      FromRocksDb(batch.Put(db_.cf(Cf::kEvents),
                            keys::Event(update.id, update.record.event_count() - 1), event),
                  "batch put"));
  UTPOST_RETURN_IF_ERROR(FromRocksDb(
      batch.Put(db_.cf(Cf::kFeed),
                keys::Feed(update.record.sender(), update.event.event().sequence()), event),
      "batch put"));
  if (update.purge_documents) {
    for (uint32_t i = 0; i < update.document_count; ++i) {
      UTPOST_RETURN_IF_ERROR(FromRocksDb(
          batch.Delete(db_.cf(Cf::kDocuments), keys::Document(update.id, i)), "batch delete"));
      UTPOST_RETURN_IF_ERROR(
          FromRocksDb(batch.Delete(db_.cf(Cf::kDocumentKeys), keys::DocumentKey(update.id, i)),
                      "batch delete"));
    }
    UTPOST_RETURN_IF_ERROR(
        FromRocksDb(batch.Put(db_.cf(Cf::kMeta), keys::ShredPending(update.id), ""), "batch put"));
  }
  return db_.Write(batch);
}

absl::Status LedgerStore::ShredDocuments(const common::LetterIdBytes& id) {
  // Every key of the letter in document_keys starts with its id.
  const std::string begin = keys::Letter(id);
  std::string end = keys::DocumentKey(id, UINT32_MAX);
  end.push_back('\xff');
  UTPOST_RETURN_IF_ERROR(db_.MakeDeletionsPhysical(Cf::kDocumentKeys, begin, end));
  rocksdb::WriteBatch batch;
  UTPOST_RETURN_IF_ERROR(
      FromRocksDb(batch.Delete(db_.cf(Cf::kMeta), keys::ShredPending(id)), "batch delete"));
  return db_.Write(batch);
}

absl::StatusOr<bool> LedgerStore::IsShredPending(const common::LetterIdBytes& id) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kMeta), keys::ShredPending(id), &value);
  if (s.IsNotFound()) return false;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get shred mark"));
  return true;
}

absl::StatusOr<std::vector<common::LetterIdBytes>> LedgerStore::PendingShreds() const {
  std::vector<common::LetterIdBytes> ids;
  const std::string prefix = keys::ShredPendingPrefix();
  std::unique_ptr<rocksdb::Iterator> it(
      db_.raw().NewIterator(rocksdb::ReadOptions(), db_.cf(Cf::kMeta)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + sizeof(common::LetterIdBytes)) {
      return absl::DataLossError("malformed shred mark");
    }
    common::LetterIdBytes id{};
    std::memcpy(id.data(), it->key().data() + prefix.size(), id.size());
    ids.push_back(id);
  }
  UTPOST_RETURN_IF_ERROR(IteratorStatus(*it, "scan shred marks"));
  return ids;
}

absl::StatusOr<std::vector<KeyCheckRecord>> LedgerStore::GetKeyChecks() const {
  std::vector<KeyCheckRecord> checks;
  const std::string prefix = keys::KeyCheckPrefix();
  std::unique_ptr<rocksdb::Iterator> it(
      db_.raw().NewIterator(rocksdb::ReadOptions(), db_.cf(Cf::kMeta)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    UTPOST_ASSIGN_OR_RETURN(auto check, ParseRecord<KeyCheckRecord>(it->value(), "key check"));
    checks.push_back(std::move(check));
  }
  UTPOST_RETURN_IF_ERROR(IteratorStatus(*it, "scan key checks"));
  return checks;
}

absl::Status LedgerStore::PutKeyCheck(const KeyCheckRecord& record) {
  rocksdb::WriteBatch batch;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(
      batch.Put(db_.cf(Cf::kMeta), keys::KeyCheck(record.kek_id()), SerializeRecord(record)),
      "batch put"));
  return db_.Write(batch);
}

absl::StatusOr<std::optional<LetterRecord>> LedgerStore::GetLetter(
    const common::LetterIdBytes& id) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kLetters), keys::Letter(id), &value);
  if (s.IsNotFound()) return std::nullopt;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get letter"));
  UTPOST_ASSIGN_OR_RETURN(LetterRecord record, ParseRecord<LetterRecord>(value, "letter"));
  return record;
}

absl::StatusOr<std::vector<EventRecord>> LedgerStore::GetEvents(
    const common::LetterIdBytes& id) const {
  std::vector<EventRecord> events;
  const std::string prefix = keys::EventPrefix(id);
  rocksdb::ReadOptions options;
  std::string upper = keys::Event(id, UINT32_MAX);
  upper.push_back('\xff');
  rocksdb::Slice upper_slice(upper);
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_.raw().NewIterator(options, db_.cf(Cf::kEvents)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    UTPOST_ASSIGN_OR_RETURN(auto event, ParseRecord<EventRecord>(it->value(), "event"));
    events.push_back(std::move(event));
  }
  UTPOST_RETURN_IF_ERROR(IteratorStatus(*it, "scan events"));
  return events;
}

absl::StatusOr<crypto::EncryptedDocument> LedgerStore::GetDocument(const common::LetterIdBytes& id,
                                                                   uint32_t position) const {
  rocksdb::PinnableSlice key;
  rocksdb::Status s = db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kDocumentKeys),
                                    keys::DocumentKey(id, position), &key);
  if (s.IsNotFound()) return absl::NotFoundError("document not found");
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get document key"));
  std::string ciphertext;
  s = db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kDocuments), keys::Document(id, position),
                    &ciphertext);
  if (s.IsNotFound()) return absl::NotFoundError("document not found");
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get document"));
  return crypto::EncryptedDocument::FromParts(key.ToStringView(), std::move(ciphertext));
}

absl::StatusOr<std::optional<IdempotencyRecord>> LedgerStore::GetIdempotency(
    std::string_view sender, std::string_view key) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kIdempotency),
                                    keys::Idempotency(sender, key), &value);
  if (s.IsNotFound()) return std::nullopt;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get idempotency key"));
  UTPOST_ASSIGN_OR_RETURN(auto record, ParseRecord<IdempotencyRecord>(value, "idempotency"));
  return record;
}

absl::StatusOr<std::vector<common::LetterIdBytes>> LedgerStore::ListLetterIds(
    std::string_view sender, const std::optional<common::LetterIdBytes>& before,
    const std::optional<common::LetterIdBytes>& not_before, size_t limit) const {
  std::vector<common::LetterIdBytes> ids;
  const std::string prefix = keys::SenderIndexPrefix(sender);
  const std::string lower = not_before ? keys::SenderIndex(sender, *not_before) : prefix;
  rocksdb::ReadOptions options;
  rocksdb::Slice lower_slice(lower);
  options.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_.raw().NewIterator(options, db_.cf(Cf::kSenderIndex)));
  if (before) {
    // SeekForPrev lands on the key itself when it exists; step past it (exclusive bound).
    const std::string start = keys::SenderIndex(sender, *before);
    it->SeekForPrev(start);
    if (it->Valid() && it->key() == rocksdb::Slice(start)) it->Prev();
  } else {
    std::string end = prefix;
    end.append(17, '\xff');
    it->SeekForPrev(end);
  }
  for (; it->Valid() && it->key().starts_with(prefix) && ids.size() < limit; it->Prev()) {
    ids.push_back(keys::LetterIdFromSenderIndex(it->key().ToStringView()));
  }
  UTPOST_RETURN_IF_ERROR(IteratorStatus(*it, "scan sender index"));
  return ids;
}

absl::StatusOr<std::vector<EventRecord>> LedgerStore::ReadFeed(std::string_view sender,
                                                               uint64_t after, uint64_t up_to,
                                                               size_t limit) const {
  std::vector<EventRecord> events;
  if (up_to <= after) return events;
  const std::string start = keys::Feed(sender, after + 1);
  std::string upper = keys::Feed(sender, up_to);
  upper.push_back('\0');  // just past `up_to`
  rocksdb::ReadOptions options;
  rocksdb::Slice upper_slice(upper);
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_.raw().NewIterator(options, db_.cf(Cf::kFeed)));
  for (it->Seek(start); it->Valid() && events.size() < limit; it->Next()) {
    UTPOST_ASSIGN_OR_RETURN(auto event, ParseRecord<EventRecord>(it->value(), "feed"));
    events.push_back(std::move(event));
  }
  UTPOST_RETURN_IF_ERROR(IteratorStatus(*it, "scan feed"));
  return events;
}

absl::StatusOr<absl::flat_hash_map<std::string, uint64_t>> LedgerStore::LastSequences() const {
  absl::flat_hash_map<std::string, uint64_t> last;
  std::unique_ptr<rocksdb::Iterator> it(
      db_.raw().NewIterator(rocksdb::ReadOptions(), db_.cf(Cf::kFeed)));
  it->SeekToFirst();
  while (it->Valid()) {
    std::string_view key = it->key().ToStringView();
    const size_t slash = key.find('/');
    if (slash == std::string_view::npos) return absl::DataLossError("malformed feed key");
    std::string prefix(key.substr(0, slash + 1));
    std::string end = prefix;
    end.append(8, '\xff');
    it->SeekForPrev(end);
    if (!it->Valid()) break;
    last[prefix.substr(0, slash)] = keys::SequenceFromFeed(it->key().ToStringView());
    // Next sender: the first key after every key with this prefix.
    prefix.back() = '/' + 1;
    it->Seek(prefix);
  }
  UTPOST_RETURN_IF_ERROR(IteratorStatus(*it, "scan feed"));
  return last;
}

absl::StatusOr<std::vector<common::LetterIdBytes>> LedgerStore::AllLetterIds() const {
  std::vector<common::LetterIdBytes> ids;
  std::unique_ptr<rocksdb::Iterator> it(
      db_.raw().NewIterator(rocksdb::ReadOptions(), db_.cf(Cf::kLetters)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != sizeof(common::LetterIdBytes)) {
      return absl::DataLossError("malformed letter key");
    }
    common::LetterIdBytes id{};
    std::memcpy(id.data(), it->key().data(), id.size());
    ids.push_back(id);
  }
  UTPOST_RETURN_IF_ERROR(IteratorStatus(*it, "scan letters"));
  return ids;
}

absl::StatusOr<std::vector<TaskRecord>> LedgerStore::DueTasks(absl::Time due_by,
                                                              size_t limit) const {
  std::vector<TaskRecord> tasks;
  std::string upper;
  keys::AppendU64(upper, static_cast<uint64_t>(absl::ToUnixMillis(due_by)) + 1);
  rocksdb::ReadOptions options;
  rocksdb::Slice upper_slice(upper);
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_.raw().NewIterator(options, db_.cf(Cf::kTasks)));
  for (it->SeekToFirst(); it->Valid() && tasks.size() < limit; it->Next()) {
    UTPOST_ASSIGN_OR_RETURN(auto task, ParseRecord<TaskRecord>(it->value(), "task"));
    tasks.push_back(std::move(task));
  }
  UTPOST_RETURN_IF_ERROR(IteratorStatus(*it, "scan tasks"));
  return tasks;
}

}  // namespace utpost::storage
