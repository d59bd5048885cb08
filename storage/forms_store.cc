#include "storage/forms_store.h"

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

namespace utpost::storage {
namespace {

constexpr char kPendingTag = 'p';
constexpr char kListTag = 'l';
constexpr char kIdempotencyTag = 'k';
constexpr size_t kIdBytes = 16;

std::string Serialize(const google::protobuf::MessageLite& message) {
  message.ByteSizeLong();
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeWithCachedSizes(&coded);
  return out;
}

template <typename Message>
absl::StatusOr<Message> Parse(const rocksdb::Slice& value, std::string_view what) {
  Message message;
  if (!message.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(absl::StrCat("unparsable ", common::Av(what), " record"));
  }
  return message;
}

void AppendId(std::string& out, const common::LetterIdBytes& id) {
  out.append(reinterpret_cast<const char*>(id.data()), id.size());
}

common::LetterIdBytes IdAtEnd(std::string_view key) {
  common::LetterIdBytes id{};
  std::memcpy(id.data(), key.data() + key.size() - kIdBytes, kIdBytes);
  return id;
}

std::string FormTypeKey(std::string_view municipality, std::string_view form_type_id) {
  return absl::StrCat(common::Av(municipality), "/", common::Av(form_type_id));
}

// The owner key of a submission's envelope in its segment record: 's' + id (17 bytes, so it
// is never a letter document's, which is 20).
std::string EnvelopeOwner(const common::LetterIdBytes& id) {
  std::string owner(1, 's');
  owner.append(reinterpret_cast<const char*>(id.data()), id.size());
  return owner;
}

std::string SubmissionKey(const common::LetterIdBytes& id) {
  std::string key;
  AppendId(key, id);
  return key;
}

std::string TaggedPrefix(char tag, std::string_view org) {
  std::string key(1, tag);
  key.append(org);
  key.push_back('/');
  return key;
}

std::string PendingKey(std::string_view municipality, int64_t due_ms,
                       const common::LetterIdBytes& id) {
  std::string key = TaggedPrefix(kPendingTag, municipality);
  keys::AppendU64(key, static_cast<uint64_t>(std::max<int64_t>(due_ms, 0)));
  AppendId(key, id);
  return key;
}

std::string ListKey(std::string_view municipality, const common::LetterIdBytes& id) {
  std::string key = TaggedPrefix(kListTag, municipality);
  AppendId(key, id);
  return key;
}

std::string IdempotencyKey(std::string_view portal, std::string_view idempotency_key) {
  std::string key = TaggedPrefix(kIdempotencyTag, portal);
  key.append(idempotency_key);
  return key;
}

bool IsPending(const SubmissionRecord& record) {
  return record.info().state() == utpost::v1::SUBMISSION_STATE_PENDING;
}

}  // namespace

absl::StatusOr<std::optional<FormTypeRecord>> FormsStore::GetFormType(
    std::string_view municipality, std::string_view form_type_id) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kFormTypes),
                                    FormTypeKey(municipality, form_type_id), &value);
  if (s.IsNotFound()) return std::nullopt;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get form type"));
  UTPOST_ASSIGN_OR_RETURN(auto record, Parse<FormTypeRecord>(value, "form type"));
  return record;
}

absl::Status FormsStore::PutFormType(std::string_view municipality, const FormTypeRecord& record) {
  rocksdb::WriteBatch batch;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(
      batch.Put(db_.cf(Cf::kFormTypes),
                FormTypeKey(municipality, record.form_type().form_type_id()), Serialize(record)),
      "batch put"));
  return db_.Write(batch);
}

absl::StatusOr<std::vector<FormTypeRecord>> FormsStore::ListFormTypes(std::string_view municipality,
                                                                      std::string_view after,
                                                                      size_t limit) const {
  std::vector<FormTypeRecord> records;
  const std::string prefix = absl::StrCat(common::Av(municipality), "/");
  std::unique_ptr<rocksdb::Iterator> it(
      db_.raw().NewIterator(rocksdb::ReadOptions(), db_.cf(Cf::kFormTypes)));
  const std::string start = FormTypeKey(municipality, after);
  it->Seek(start);
  if (!after.empty() && it->Valid() && it->key() == rocksdb::Slice(start)) it->Next();
  for (; it->Valid() && it->key().starts_with(prefix) && records.size() < limit; it->Next()) {
    UTPOST_ASSIGN_OR_RETURN(records.emplace_back(),
                            Parse<FormTypeRecord>(it->value(), "form type"));
  }
  UTPOST_RETURN_IF_ERROR(FromRocksDb(it->status(), "scan form types"));
  return records;
}

absl::StatusOr<std::optional<SubmissionRecord>> FormsStore::GetSubmission(
    const common::LetterIdBytes& id) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kSubmissions), SubmissionKey(id), &value);
  if (s.IsNotFound()) return std::nullopt;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get submission"));
  UTPOST_ASSIGN_OR_RETURN(auto record, Parse<SubmissionRecord>(value, "submission"));
  return record;
}

absl::StatusOr<std::string> FormsStore::GetEnvelope(const common::LetterIdBytes& id) const {
  std::string value;
  rocksdb::Status s = db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kSubmissionEnvelopes),
                                    SubmissionKey(id), &value);
  if (s.IsNotFound()) return absl::NotFoundError("the submission's envelope is gone");
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get submission envelope"));
  std::optional<SegmentPointer> pointer = DecodeSegmentPointer(value);
  // Stored before envelopes went to segments: the value is the envelope.
  if (!pointer) return value;
  absl::StatusOr<std::string> envelope = db_.segments().Read(*pointer, EnvelopeOwner(id));
  if (absl::IsNotFound(envelope.status())) {
    return absl::NotFoundError("the submission's envelope is gone");
  }
  return envelope;
}

absl::StatusOr<std::optional<SubmissionIdempotencyRecord>> FormsStore::GetIdempotency(
    std::string_view portal, std::string_view key) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kFormIndex),
                                    IdempotencyKey(portal, key), &value);
  if (s.IsNotFound()) return std::nullopt;
  UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get submission idempotency key"));
  UTPOST_ASSIGN_OR_RETURN(auto record,
                          Parse<SubmissionIdempotencyRecord>(value, "submission idempotency"));
  return record;
}

absl::Status FormsStore::AddNew(rocksdb::WriteBatch& batch, const NewSubmission& submission,
                                const SegmentPointer& envelope) {
  if (!IsPending(submission.record)) return absl::InternalError("a new submission must be pending");
  const std::string& municipality = submission.record.municipality();
  auto put = [&](Cf cf, const std::string& key, std::string_view value) {
    return FromRocksDb(batch.Put(db_.cf(cf), key, rocksdb::Slice(value.data(), value.size())),
                       "batch put");
  };
  UTPOST_RETURN_IF_ERROR(
      put(Cf::kSubmissions, SubmissionKey(submission.id), Serialize(submission.record)));
  UTPOST_RETURN_IF_ERROR(
      put(Cf::kSubmissionEnvelopes, SubmissionKey(submission.id), EncodeSegmentPointer(envelope)));
  UTPOST_RETURN_IF_ERROR(
      db_.AddSegmentBytes(batch, envelope.segment, static_cast<int64_t>(envelope.RecordBytes())));
  UTPOST_RETURN_IF_ERROR(
      put(Cf::kFormIndex, PendingKey(municipality, submission.record.due_unix_ms(), submission.id),
          ""));
  UTPOST_RETURN_IF_ERROR(put(Cf::kFormIndex, ListKey(municipality, submission.id), ""));
  if (!submission.idempotency_key.empty()) {
    UTPOST_RETURN_IF_ERROR(
        put(Cf::kFormIndex, IdempotencyKey(submission.record.portal(), submission.idempotency_key),
            Serialize(submission.idempotency)));
  }
  return absl::OkStatus();
}

absl::Status FormsStore::AddChanges(rocksdb::WriteBatch& batch,
                                    const std::vector<SubmissionChange>& changes,
                                    std::vector<uint64_t>& emptied) {
  for (const SubmissionChange& change : changes) {
    const std::string& municipality = change.record.municipality();
    const bool pending = IsPending(change.record);
    const std::optional<std::string> old_entry =
        change.pending_due_before
            ? std::optional(PendingKey(municipality, *change.pending_due_before, change.id))
            : std::nullopt;
    const std::optional<std::string> new_entry =
        pending ? std::optional(PendingKey(municipality, change.record.due_unix_ms(), change.id))
                : std::nullopt;
    if (old_entry != new_entry) {
      if (old_entry) {
        UTPOST_RETURN_IF_ERROR(
            FromRocksDb(batch.Delete(db_.cf(Cf::kFormIndex), *old_entry), "batch delete"));
      }
      if (new_entry) {
        UTPOST_RETURN_IF_ERROR(
            FromRocksDb(batch.Put(db_.cf(Cf::kFormIndex), *new_entry, ""), "batch put"));
      }
    }
    UTPOST_RETURN_IF_ERROR(FromRocksDb(
        batch.Put(db_.cf(Cf::kSubmissions), SubmissionKey(change.id), Serialize(change.record)),
        "batch put"));
    if (change.delete_envelope) {
      std::string value;
      rocksdb::Status s = db_.raw().Get(rocksdb::ReadOptions(), db_.cf(Cf::kSubmissionEnvelopes),
                                        SubmissionKey(change.id), &value);
      if (!s.IsNotFound()) {
        UTPOST_RETURN_IF_ERROR(FromRocksDb(s, "get submission envelope"));
        if (std::optional<SegmentPointer> pointer = DecodeSegmentPointer(value)) {
          UTPOST_RETURN_IF_ERROR(db_.AddSegmentBytes(
              batch, pointer->segment, -static_cast<int64_t>(pointer->RecordBytes())));
          emptied.push_back(pointer->segment);
        }
      }
      UTPOST_RETURN_IF_ERROR(
          FromRocksDb(batch.Delete(db_.cf(Cf::kSubmissionEnvelopes), SubmissionKey(change.id)),
                      "batch delete"));
    }
  }
  return absl::OkStatus();
}

absl::Status FormsStore::Write(absl::FunctionRef<absl::Status(rocksdb::WriteBatch&)> add,
                               const NewLetter* letter) {
  if (letter != nullptr) return letters_.CommitNewLetter(*letter, add);
  rocksdb::WriteBatch batch;
  UTPOST_RETURN_IF_ERROR(add(batch));
  return db_.Write(batch);
}

absl::Status FormsStore::CommitNewSubmission(const NewSubmission& submission,
                                             const NewLetter* letter) {
  // The envelope first, to a segment, synced; then the batch that points to it (as a
  // letter's documents, see LedgerStore::CommitNewLetter).
  const std::string owner = EnvelopeOwner(submission.id);
  const SegmentRecord record{owner, submission.envelope};
  UTPOST_ASSIGN_OR_RETURN(const SegmentAppend appended, db_.segments().Append({&record, 1}));
  return Write(
      [&](rocksdb::WriteBatch& batch) {
        return AddNew(batch, submission, appended.pointers().front());
      },
      letter);
}

absl::Status FormsStore::CommitChanges(const std::vector<SubmissionChange>& changes,
                                       const NewLetter* letter) {
  std::vector<uint64_t> emptied;
  UTPOST_RETURN_IF_ERROR(Write(
      [&](rocksdb::WriteBatch& batch) {
        emptied.clear();
        return AddChanges(batch, changes, emptied);
      },
      letter));
  if (emptied.empty()) return absl::OkStatus();
  // Committed: a failure to delete a file only delays getting the space back (the next start
  // reclaims it).
  std::sort(emptied.begin(), emptied.end());
  emptied.erase(std::unique(emptied.begin(), emptied.end()), emptied.end());
  db_.ReclaimSegments(emptied).IgnoreError();
  return absl::OkStatus();
}

absl::StatusOr<FormsStore::PendingSummaries> FormsStore::SummarizePending(int64_t now_ms,
                                                                          size_t cap) const {
  PendingSummaries summaries;
  const std::string lower(1, kPendingTag);
  const std::string upper(1, static_cast<char>(kPendingTag + 1));
  rocksdb::ReadOptions options;
  rocksdb::Slice upper_slice(upper);
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_.raw().NewIterator(options, db_.cf(Cf::kFormIndex)));
  size_t read = 0;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    if (read++ == cap) {
      summaries.capped = true;
      break;
    }
    const std::string_view key = it->key().ToStringView();
    const size_t slash = key.find('/');
    if (slash == std::string_view::npos || key.size() != slash + 1 + 8 + kIdBytes) {
      return absl::DataLossError("malformed pending submission key");
    }
    const std::string_view municipality = key.substr(1, slash - 1);
    auto found = summaries.by_municipality.find(municipality);
    if (found == summaries.by_municipality.end()) {
      found = summaries.by_municipality.emplace(std::string(municipality), PendingSummary{}).first;
    }
    PendingSummary& summary = found->second;
    ++summary.pending;
    const auto due_ms = static_cast<int64_t>(keys::ReadU64(key.substr(slash + 1)));
    // Oldest first within a municipality: the first due entry is the earliest.
    if (due_ms <= now_ms && !summary.earliest_due_ms) summary.earliest_due_ms = due_ms;
  }
  UTPOST_RETURN_IF_ERROR(FromRocksDb(it->status(), "summarise pending submissions"));
  return summaries;
}

absl::StatusOr<std::vector<PendingEntry>> FormsStore::ScanPending(std::string_view municipality,
                                                                  int64_t now_ms,
                                                                  size_t limit) const {
  std::vector<PendingEntry> entries;
  const std::string prefix = TaggedPrefix(kPendingTag, municipality);
  std::string upper = prefix;
  keys::AppendU64(upper, static_cast<uint64_t>(std::max<int64_t>(now_ms, 0)) + 1);
  rocksdb::ReadOptions options;
  rocksdb::Slice upper_slice(upper);
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_.raw().NewIterator(options, db_.cf(Cf::kFormIndex)));
  for (it->Seek(prefix); it->Valid() && entries.size() < limit; it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() != prefix.size() + 8 + kIdBytes) {
      return absl::DataLossError("malformed pending submission key");
    }
    entries.push_back(
        {IdAtEnd(key), static_cast<int64_t>(keys::ReadU64(key.substr(prefix.size())))});
  }
  UTPOST_RETURN_IF_ERROR(FromRocksDb(it->status(), "scan pending submissions"));
  return entries;
}

absl::StatusOr<std::vector<common::LetterIdBytes>> FormsStore::ListSubmissionIds(
    std::string_view municipality, const std::optional<common::LetterIdBytes>& before,
    size_t limit) const {
  std::vector<common::LetterIdBytes> ids;
  const std::string prefix = TaggedPrefix(kListTag, municipality);
  rocksdb::ReadOptions options;
  rocksdb::Slice lower_slice(prefix);
  options.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_.raw().NewIterator(options, db_.cf(Cf::kFormIndex)));
  if (before) {
    const std::string start = ListKey(municipality, *before);
    it->SeekForPrev(start);
    if (it->Valid() && it->key() == rocksdb::Slice(start)) it->Prev();
  } else {
    std::string end = prefix;
    end.append(kIdBytes + 1, '\xff');
    it->SeekForPrev(end);
  }
  for (; it->Valid() && it->key().starts_with(prefix) && ids.size() < limit; it->Prev()) {
    if (it->key().size() != prefix.size() + kIdBytes) {
      return absl::DataLossError("malformed submission list key");
    }
    ids.push_back(IdAtEnd(it->key().ToStringView()));
  }
  UTPOST_RETURN_IF_ERROR(FromRocksDb(it->status(), "scan submissions"));
  return ids;
}

}  // namespace utpost::storage
