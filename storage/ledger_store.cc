#include "storage/ledger_store.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "rocksdb/iterator.h"
#include "storage/keys.h"
#include "storage/stats_store.h"

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

absl::StatusOr<uint8_t> KindByte(const TaskRecord& task) {
  if (task.kind() <= 0 || task.kind() > 255) {
    return absl::InternalError(absl::StrCat("task ", task.task_id(), " has no valid kind"));
  }
  return static_cast<uint8_t>(task.kind());
}

}  // namespace

int64_t DueUnixMs(const TaskRecord& task) {
  return absl::ToUnixMillis(absl::FromUnixSeconds(task.due_time().seconds()) +
                            absl::Nanoseconds(task.due_time().nanos()));
}

LeaseScan::LeaseScan(DueFloors& floors, std::mutex& kind_mutex, uint8_t kind)
    : lock_(kind_mutex), floors_(floors), kind_(kind) {}

LeaseScan::~LeaseScan() {
  if (!ended_) floors_.EndScan(kind_, std::nullopt);
}

absl::Status LedgerStore::AddTaskChanges(rocksdb::WriteBatch& batch,
                                         const std::vector<TaskChange>& changes,
                                         std::vector<std::pair<uint8_t, int64_t>>& inserted) {
  for (const TaskChange& change : changes) {
    if (!change.before && !change.after) continue;
    const TaskRecord& any = change.after ? *change.after : *change.before;
    if (change.before && change.after && change.before->task_id() != change.after->task_id()) {
      return absl::InternalError("a task change names two tasks");
    }
    absl::StatusOr<common::LetterIdBytes> id = common::DecodeLetterId(any.task_id());
    if (!id.ok()) return absl::InternalError(absl::StrCat("malformed task id ", any.task_id()));
    std::optional<std::string> old_key, new_key;
    if (change.before) {
      UTPOST_ASSIGN_OR_RETURN(const uint8_t kind, KindByte(*change.before));
      old_key = keys::TaskDue(kind, DueUnixMs(*change.before), *id);
    }
    if (change.after) {
      UTPOST_ASSIGN_OR_RETURN(const uint8_t kind, KindByte(*change.after));
      new_key = keys::TaskDue(kind, DueUnixMs(*change.after), *id);
    }
    // A key is put once and removed once (SingleDelete's contract); an entry that stays
    // where it is is left alone rather than removed and put again.
    if (!(old_key && new_key && *old_key == *new_key)) {
      if (old_key) {
        UTPOST_RETURN_IF_ERROR(
            FromRocksDb(batch.SingleDelete(db_.cf(Cf::kTaskDue), *old_key), "batch delete"));
      }
      if (new_key) {
        UTPOST_RETURN_IF_ERROR(
            FromRocksDb(batch.Put(db_.cf(Cf::kTaskDue), *new_key, ""), "batch put"));
        inserted.emplace_back(static_cast<uint8_t>(change.after->kind()),
                              keys::DueMsFromTaskDue(*new_key));
      }
    }
    if (change.after) {
      UTPOST_RETURN_IF_ERROR(FromRocksDb(
          batch.Put(db_.cf(Cf::kTasks), keys::Task(*id), SerializeRecord(*change.after)),
          "batch put"));
    } else {
      UTPOST_RETURN_IF_ERROR(
          FromRocksDb(batch.Delete(db_.cf(Cf::kTasks), keys::Task(*id)), "batch delete"));
    }
  }
  return absl::OkStatus();
}

absl::Status LedgerStore::WriteWithTasks(rocksdb::WriteBatch& batch,
                                         std::vector<std::pair<uint8_t, int64_t>> inserted,
                                         uint64_t segment_generation) {
  // The floors go down before the entries can be seen, and stay down until the write is
  // over: a lease scan running meanwhile does not raise them past these entries.
  DueFloors::Inserting inserting(floors_, std::move(inserted));
  return segment_generation == 0 ? db_.Write(batch)
                                 : db_.WriteAfterSegments(batch, segment_generation);
}

absl::Status LedgerStore::CommitNewLetter(const NewLetter& letter) {
  return CommitNewLetter(letter, [](rocksdb::WriteBatch&) { return absl::OkStatus(); });
}

absl::Status LedgerStore::CommitNewLetter(
    const NewLetter& letter, absl::FunctionRef<absl::Status(rocksdb::WriteBatch&)> extra) {
  // The documents' bytes first, to a segment, synced; then the batch that points to them.
  // A crash in between leaves records nothing names, reclaimed with their segment.
  std::vector<std::string> owners;
  owners.reserve(letter.documents.size());
  std::vector<SegmentRecord> records;
  records.reserve(letter.documents.size());
  for (uint32_t i = 0; i < letter.documents.size(); ++i) {
    owners.push_back(keys::Document(letter.id, i));
    records.push_back({owners.back(), letter.documents[i].ciphertext()});
  }
  // Written now, synced by the group commit that also writes the batch (Db::WriteAfterSegments).
  UTPOST_ASSIGN_OR_RETURN(const SegmentAppend appended, db_.segments().Write(records));
  rocksdb::WriteBatch batch;
  std::vector<std::pair<uint8_t, int64_t>> inserted;
  UTPOST_RETURN_IF_ERROR(AddNewLetter(batch, letter, appended.pointers(), inserted));
  UTPOST_RETURN_IF_ERROR(extra(batch));
  return WriteWithTasks(batch, std::move(inserted), appended.sync_generation());
}

absl::Status LedgerStore::AddNewLetter(rocksdb::WriteBatch& batch, const NewLetter& letter,
                                       const std::vector<SegmentPointer>& pointers,
                                       std::vector<std::pair<uint8_t, int64_t>>& inserted) {
  if (pointers.size() != letter.documents.size()) {
    return absl::InternalError("segment pointers and documents differ in number");
  }
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
        put(Cf::kDocuments, keys::Document(letter.id, i), EncodeSegmentPointer(pointers[i])));
    UTPOST_RETURN_IF_ERROR(db_.AddSegmentBytes(batch, pointers[i].segment,
                                               static_cast<int64_t>(pointers[i].RecordBytes())));
    UTPOST_RETURN_IF_ERROR(
        put(Cf::kDocumentKeys, keys::DocumentKey(letter.id, i), document.SerializeKey()));
  }
  const std::string event = SerializeRecord(letter.event);
  UTPOST_RETURN_IF_ERROR(put(Cf::kEvents, keys::Event(letter.id, 0), event));
  UTPOST_RETURN_IF_ERROR(AddEventCounters(db_, batch, sender, letter.event.event()));
  UTPOST_RETURN_IF_ERROR(
      put(Cf::kFeed, keys::Feed(sender, letter.event.event().sequence()), event));
  UTPOST_RETURN_IF_ERROR(put(Cf::kSenderIndex, keys::SenderIndex(sender, letter.id), ""));
  std::vector<TaskChange> tasks;
  tasks.reserve(letter.tasks.size());
  for (const TaskRecord& task : letter.tasks) tasks.push_back({std::nullopt, task});
  UTPOST_RETURN_IF_ERROR(AddTaskChanges(batch, tasks, inserted));
  if (!letter.idempotency_key.empty()) {
    UTPOST_RETURN_IF_ERROR(put(Cf::kIdempotency, keys::Idempotency(sender, letter.idempotency_key),
                               SerializeRecord(letter.idempotency)));
  }
  return absl::OkStatus();
}

absl::Status LedgerStore::CommitLetterUpdate(const LetterUpdate& update) {
  return CommitLetterUpdates({&update});
}

absl::Status LedgerStore::CommitLetterUpdates(const std::vector<const LetterUpdate*>& updates) {
  rocksdb::WriteBatch batch;
  std::vector<std::pair<uint8_t, int64_t>> inserted;
  // Segments whose live bytes these updates lower: reclaimed after them if nothing is left.
  std::vector<uint64_t> emptied;
  for (const LetterUpdate* update : updates) {
    UTPOST_RETURN_IF_ERROR(AddLetterUpdate(batch, *update, inserted, emptied));
  }
  UTPOST_RETURN_IF_ERROR(WriteWithTasks(batch, std::move(inserted)));
  if (emptied.empty()) return absl::OkStatus();
  // The update is committed: a failure to delete a file now only delays getting the space
  // back (the next start reclaims it), so it does not fail the update.
  std::sort(emptied.begin(), emptied.end());
  emptied.erase(std::unique(emptied.begin(), emptied.end()), emptied.end());
  db_.ReclaimSegments(emptied).IgnoreError();
  return absl::OkStatus();
}

absl::Status LedgerStore::AddLetterUpdate(rocksdb::WriteBatch& batch, const LetterUpdate& update,
                                          std::vector<std::pair<uint8_t, int64_t>>& inserted,
                                          std::vector<uint64_t>& emptied) {
  if (update.event && update.record.event_count() == 0) {
    return absl::InternalError("letter update with an event but no event count");
  }
  UTPOST_RETURN_IF_ERROR(FromRocksDb(
      batch.Put(db_.cf(Cf::kLetters), keys::Letter(update.id), SerializeRecord(update.record)),
      "batch put"));
  if (update.event) {
    const std::string event = SerializeRecord(*update.event);
    UTPOST_RETURN_IF_ERROR(
        FromRocksDb(batch.Put(db_.cf(Cf::kEvents),
                              keys::Event(update.id, update.record.event_count() - 1), event),
                    "batch put"));
    UTPOST_RETURN_IF_ERROR(FromRocksDb(
        batch.Put(db_.cf(Cf::kFeed),
                  keys::Feed(update.record.sender(), update.event->event().sequence()), event),
        "batch put"));
    UTPOST_RETURN_IF_ERROR(
        AddEventCounters(db_, batch, update.record.sender(), update.event->event()));
  }
  if (update.purge_documents) {
    for (uint32_t i = 0; i < update.document_count; ++i) {
      std::string value;
      rocksdb::Status s = db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kDocuments),
                                        keys::Document(update.id, i), &value);
      if (!s.IsNotFound()) {
        UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get document"));
        if (std::optional<SegmentPointer> pointer = DecodeSegmentPointer(value)) {
          UTPOST_RETURN_IF_ERROR(db_.AddSegmentBytes(
              batch, pointer->segment, -static_cast<int64_t>(pointer->RecordBytes())));
          emptied.push_back(pointer->segment);
        }
      }
      UTPOST_RETURN_IF_ERROR(FromRocksDb(
          batch.Delete(db_.cf(Cf::kDocuments), keys::Document(update.id, i)), "batch delete"));
      UTPOST_RETURN_IF_ERROR(
          FromRocksDb(batch.Delete(db_.cf(Cf::kDocumentKeys), keys::DocumentKey(update.id, i)),
                      "batch delete"));
    }
    UTPOST_RETURN_IF_ERROR(
        FromRocksDb(batch.Put(db_.cf(Cf::kMeta), keys::ShredPending(update.id), ""), "batch put"));
  }
  return AddTaskChanges(batch, update.tasks, inserted);
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

absl::StatusOr<std::optional<FingerprintKeyRecord>> LedgerStore::GetFingerprintKey() const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kMeta), keys::FingerprintKey(), &value);
  if (s.IsNotFound()) return std::nullopt;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get fingerprint key"));
  UTPOST_ASSIGN_OR_RETURN(auto record, ParseRecord<FingerprintKeyRecord>(value, "fingerprint key"));
  return record;
}

absl::Status LedgerStore::PutFingerprintKey(const FingerprintKeyRecord& record) {
  rocksdb::WriteBatch batch;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(
      batch.Put(db_.cf(Cf::kMeta), keys::FingerprintKey(), SerializeRecord(record)), "batch put"));
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

absl::StatusOr<std::optional<EventRecord>> LedgerStore::GetEvent(const common::LetterIdBytes& id,
                                                                 uint32_t index) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kEvents), keys::Event(id, index), &value);
  if (s.IsNotFound()) return std::nullopt;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get event"));
  UTPOST_ASSIGN_OR_RETURN(EventRecord record, ParseRecord<EventRecord>(value, "event"));
  return record;
}

absl::StatusOr<crypto::EncryptedDocument> LedgerStore::GetDocument(const common::LetterIdBytes& id,
                                                                   uint32_t position) const {
  rocksdb::PinnableSlice key;
  rocksdb::Status s = db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kDocumentKeys),
                                    keys::DocumentKey(id, position), &key);
  if (s.IsNotFound()) return absl::NotFoundError("document not found");
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get document key"));
  const std::string owner = keys::Document(id, position);
  std::string value;
  s = db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kDocuments), owner, &value);
  if (s.IsNotFound()) return absl::NotFoundError("document not found");
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get document"));
  std::optional<SegmentPointer> pointer = DecodeSegmentPointer(value);
  if (!pointer) {
    // Stored before documents went to segments: the value is the ciphertext.
    return crypto::EncryptedDocument::FromParts(key.ToStringView(), std::move(value));
  }
  absl::StatusOr<std::string> ciphertext = db_.segments().Read(*pointer, owner);
  // The segment is reclaimed only once no pointer names it: the document was purged since.
  if (absl::IsNotFound(ciphertext.status())) return absl::NotFoundError("document not found");
  if (!ciphertext.ok()) return ciphertext.status();
  return crypto::EncryptedDocument::FromParts(key.ToStringView(), *std::move(ciphertext));
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

absl::StatusOr<std::optional<TaskRecord>> LedgerStore::GetTask(
    const common::LetterIdBytes& task_id) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kTasks), keys::Task(task_id), &value);
  if (s.IsNotFound()) return std::nullopt;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get task"));
  UTPOST_ASSIGN_OR_RETURN(TaskRecord record, ParseRecord<TaskRecord>(value, "task"));
  return record;
}

absl::StatusOr<std::unique_ptr<LeaseScan>> LedgerStore::ScanDue(uint8_t kind, absl::Time now,
                                                                size_t limit) {
  std::unique_ptr<LeaseScan> scan(new LeaseScan(floors_, lease_mutexes_[kind], kind));
  const int64_t floor = std::max<int64_t>(floors_.BeginScan(kind), 0);
  scan->end_ms_ = absl::ToUnixMillis(now) + 1;
  if (floor >= scan->end_ms_) return scan;  // nothing can be due yet
  const std::string lower = keys::TaskDueStart(kind, floor);
  const std::string upper = keys::TaskDueStart(kind, scan->end_ms_);
  rocksdb::ReadOptions options;
  rocksdb::Slice lower_slice(lower), upper_slice(upper);
  // Both bounds: the seek lands past the tombstones below the floor, and the scan stops at
  // `now` without stepping over tombstones of entries due later.
  options.iterate_lower_bound = &lower_slice;
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_.raw().NewIterator(options, db_.cf(Cf::kTaskDue)));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() != keys::kTaskDueKeySize) return absl::DataLossError("malformed queue key");
    if (scan->due_.size() == limit) {
      scan->next_due_ms_ = keys::DueMsFromTaskDue(key);
      break;
    }
    scan->due_.push_back({keys::TaskIdFromTaskDue(key), keys::DueMsFromTaskDue(key)});
  }
  UTPOST_RETURN_IF_ERROR(IteratorStatus(*it, "scan queue"));
  return scan;
}

absl::StatusOr<LedgerStore::DueSummary> LedgerStore::SummarizeDue(uint8_t kind, absl::Time now,
                                                                  size_t cap) const {
  DueSummary summary;
  const int64_t floor = std::max<int64_t>(floors_.floor(kind), 0);
  const int64_t end_ms = absl::ToUnixMillis(now) + 1;
  if (floor >= end_ms) return summary;
  const std::string lower = keys::TaskDueStart(kind, floor);
  const std::string upper = keys::TaskDueStart(kind, end_ms);
  rocksdb::ReadOptions options;
  rocksdb::Slice lower_slice(lower), upper_slice(upper);
  options.iterate_lower_bound = &lower_slice;
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_.raw().NewIterator(options, db_.cf(Cf::kTaskDue)));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() != keys::kTaskDueKeySize) return absl::DataLossError("malformed queue key");
    if (summary.due == cap) {
      summary.capped = true;
      break;
    }
    if (!summary.earliest_ms) summary.earliest_ms = keys::DueMsFromTaskDue(key);
    ++summary.due;
  }
  UTPOST_RETURN_IF_ERROR(IteratorStatus(*it, "summarise queue"));
  return summary;
}

absl::Status LedgerStore::CommitLease(std::unique_ptr<LeaseScan> scan,
                                      const std::vector<TaskChange>& changes) {
  // The scan's entries that this lease moves or removes.
  absl::flat_hash_map<std::string, int64_t> moved;
  for (const TaskChange& change : changes) {
    if (!change.before) continue;
    absl::StatusOr<common::LetterIdBytes> id = common::DecodeLetterId(change.before->task_id());
    if (!id.ok()) return absl::InternalError("malformed task id");
    moved[keys::Task(*id)] = DueUnixMs(*change.before);
  }
  // The floor may rise to the first entry left in place.
  int64_t first_live = scan->next_due_ms_.value_or(scan->end_ms_);
  for (const DueEntry& entry : scan->due_) {
    auto found = moved.find(keys::Task(entry.task_id));
    if (found == moved.end() || found->second != entry.due_unix_ms) {
      first_live = entry.due_unix_ms;
      break;
    }
  }
  absl::Status status;
  if (!changes.empty()) {
    rocksdb::WriteBatch batch;
    std::vector<std::pair<uint8_t, int64_t>> inserted;
    status = AddTaskChanges(batch, changes, inserted);
    if (status.ok()) status = WriteWithTasks(batch, std::move(inserted));
  }
  scan->ended_ = true;
  floors_.EndScan(scan->kind_, status.ok() ? std::optional<int64_t>(first_live) : std::nullopt);
  return status;
}

absl::Status LedgerStore::CommitTaskChanges(const std::vector<TaskChange>& changes) {
  rocksdb::WriteBatch batch;
  std::vector<std::pair<uint8_t, int64_t>> inserted;
  UTPOST_RETURN_IF_ERROR(AddTaskChanges(batch, changes, inserted));
  return WriteWithTasks(batch, std::move(inserted));
}

absl::StatusOr<std::vector<TaskRecord>> LedgerStore::QueuedTasks(uint8_t kind, size_t limit) const {
  std::vector<TaskRecord> tasks;
  const std::string lower = keys::TaskDueStart(kind, 0);
  rocksdb::ReadOptions options;
  rocksdb::Slice lower_slice(lower);
  options.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_.raw().NewIterator(options, db_.cf(Cf::kTaskDue)));
  for (it->Seek(lower); it->Valid() && tasks.size() < limit; it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (static_cast<uint8_t>(key[0]) != kind) break;
    if (key.size() != keys::kTaskDueKeySize) return absl::DataLossError("malformed queue key");
    UTPOST_ASSIGN_OR_RETURN(std::optional<TaskRecord> task, GetTask(keys::TaskIdFromTaskDue(key)));
    if (!task) return absl::DataLossError("queue entry of a task that does not exist");
    tasks.push_back(std::move(*task));
  }
  UTPOST_RETURN_IF_ERROR(IteratorStatus(*it, "scan queue"));
  return tasks;
}

}  // namespace utpost::storage
