// Letters' documents in the ledger store, on a real RocksDB and real segment files in a temp
// dir: each document written once (to a segment; the database holds a pointer), purged
// documents give their segment back, a crash between the segment write and the batch leaves
// nothing visible, checkpoints carry the segments, and documents stored before segments are
// still read.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/letter_id.h"
#include "common/strings.h"
#include "crypto/envelope.h"
#include "crypto/file_key_store.h"
#include "rocksdb/statistics.h"
#include "storage/forms_store.h"
#include "storage/keys.h"
#include "storage/ledger_store.h"
#include "tests/testutil/files.h"

namespace utpost::storage {
namespace {

namespace fs = std::filesystem;

const absl::Time kNow = absl::FromUnixSeconds(1'790'000'000);

class LedgerStoreDocumentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::FileKeyStore::EnsureKey(dir_.path() / "keys").ok());
    auto keys = crypto::FileKeyStore::Open(dir_.path() / "keys");
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
    envelope_ = std::make_unique<crypto::Envelope>(*keys_);
    Reopen();
  }

  // Segments of 256 KiB, so that a few letters fill one.
  void Reopen(const fs::path& path = {},
              std::function<void(const SegmentEvent&)> segment_observer = {}) {
    store_.reset();
    db_.reset();
    auto db = Db::Open({.path = path.empty() ? dir_.path() / "ledger" : path,
                        .segment_bytes = 256 << 10,
                        .segment_observer = std::move(segment_observer)});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    store_ = std::make_unique<LedgerStore>(*db_);
  }

  // A letter of `sizes.size()` documents, each of its size, with `marker` in its plaintext.
  NewLetter Letter(const std::vector<size_t>& sizes, std::string_view marker) {
    NewLetter letter;
    const std::string id = ids_.Next(kNow);
    letter.id = *common::DecodeLetterId(id);
    letter.record.set_sender("NO958935420");
    letter.record.set_event_count(1);
    letter.event.mutable_event()->set_sequence(++sequence_);
    for (uint32_t i = 0; i < sizes.size(); ++i) {
      std::string plaintext = absl::StrCat(common::Av(marker), "-", i, "-");
      plaintext.resize(sizes[i], 'p');
      auto sealed = envelope_->Seal(plaintext, crypto::DocumentAad(id, i));
      EXPECT_TRUE(sealed.ok()) << sealed.status();
      letter.documents.push_back(*std::move(sealed));
    }
    return letter;
  }

  std::string Plaintext(const common::LetterIdBytes& id, uint32_t position) {
    auto document = store_->GetDocument(id, position);
    if (!document.ok()) return absl::StrCat("error: ", document.status().ToString());
    auto opened =
        envelope_->Open(*document, crypto::DocumentAad(common::EncodeLetterId(id), position));
    return opened.ok() ? *opened : absl::StrCat("error: ", opened.status().ToString());
  }

  absl::Status Purge(const NewLetter& letter) {
    LetterUpdate update;
    update.id = letter.id;
    update.record = letter.record;
    update.purge_documents = true;
    update.document_count = static_cast<uint32_t>(letter.documents.size());
    return store_->CommitLetterUpdate(update);
  }

  bool SegmentExists(uint64_t id) {
    return fs::exists(dir_.path() / "ledger" / "segments" / SegmentFileName(id));
  }

  std::optional<SegmentPointer> PointerOf(const NewLetter& letter, uint32_t position) {
    std::string value;
    EXPECT_TRUE(db_->raw()
                    .Get(rocksdb::ReadOptions(), db_->cf(Cf::kDocuments),
                         keys::Document(letter.id, position), &value)
                    .ok());
    return DecodeSegmentPointer(value);
  }

  testutil::TempDir dir_;
  std::unique_ptr<crypto::FileKeyStore> keys_;
  std::unique_ptr<crypto::Envelope> envelope_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<LedgerStore> store_;
  common::LetterIdGenerator ids_;
  uint64_t sequence_ = 0;
};

TEST_F(LedgerStoreDocumentsTest, DocumentsGoToSegmentsOnceAndTheDatabaseHoldsPointers) {
  const NewLetter letter = Letter({70000, 100, 0}, "doc");
  const uint64_t syncs = db_->segments().syncs();
  ASSERT_TRUE(store_->CommitNewLetter(letter).ok());
  EXPECT_GT(db_->segments().syncs(), syncs) << "the documents were synced before the commit";
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < 3; ++i) {
    const auto pointer = PointerOf(letter, i);
    ASSERT_TRUE(pointer.has_value()) << "position " << i;
    EXPECT_EQ(pointer->length, letter.documents[i].ciphertext().size());
    bytes += pointer->RecordBytes();
    // The empty document reads back empty.
    EXPECT_EQ(Plaintext(letter.id, i).substr(0, 6), i == 2 ? "" : absl::StrCat("doc-", i, "-"));
  }
  auto live = db_->SegmentLiveBytes(PointerOf(letter, 0)->segment);
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(*live, bytes);
  // The ciphertext is in the segment file, and in no file of the database.
  const std::string sample = letter.documents[0].ciphertext().substr(1000, 64);
  ASSERT_TRUE(db_->FlushAll().ok());
  bool in_segment = false;
  for (const auto& entry : fs::recursive_directory_iterator(dir_.path() / "ledger")) {
    if (!entry.is_regular_file()) continue;
    const std::string content = testutil::ReadAll(entry.path());
    const bool found = content.find(sample) != std::string::npos;
    if (entry.path().parent_path().filename() == "segments") {
      in_segment = in_segment || found;
    } else {
      EXPECT_FALSE(found) << entry.path().filename() << " holds a copy of the document";
    }
  }
  EXPECT_TRUE(in_segment);
}

// Letters committed by 16 threads at once go in groups (Db::WriteAfterSegments): fewer
// segment syncs and WAL syncs than letters. While they commit, a reader checks that no
// pointer is ever visible before an fdatasync of its segment that began after its bytes were
// written has completed. Afterwards every document reads back, and each segment's live bytes
// (merge operands of many letters, joined into one batch) add up to its records.
TEST_F(LedgerStoreDocumentsTest, ConcurrentLettersCommitInGroupsAndNoPointerPrecedesItsSync) {
  std::mutex mutex;
  std::map<uint64_t, uint64_t> written_end, syncing_end, synced_end;
  Reopen({}, [&](const SegmentEvent& e) {
    std::lock_guard<std::mutex> lock(mutex);
    switch (e.kind) {
      case SegmentEvent::Kind::kWritten:
        written_end[e.segment] = std::max(written_end[e.segment], e.offset + e.bytes);
        break;
      case SegmentEvent::Kind::kSyncing:  // covers every write already seen
        syncing_end[e.segment] = written_end[e.segment];
        break;
      case SegmentEvent::Kind::kSynced:
        synced_end[e.segment] = std::max(synced_end[e.segment], syncing_end[e.segment]);
        break;
    }
  });
  constexpr int kThreads = 16, kPerThread = 12;
  std::vector<NewLetter> letters;
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    letters.push_back(Letter({9000 + 13 * static_cast<size_t>(i)}, absl::StrCat("g", i)));
  }
  const uint64_t segment_syncs = db_->segments().syncs();
  const uint64_t wal_syncs = db_->Ticker(rocksdb::WAL_FILE_SYNCED);
  std::atomic<bool> writing{true};
  std::atomic<int> failures{0}, seen{0}, early{0};
  std::thread reader([&] {
    while (writing.load()) {
      for (const NewLetter& letter : letters) {
        std::string value;
        if (!db_->raw()
                 .Get(rocksdb::ReadOptions(), db_->cf(Cf::kDocuments), keys::Document(letter.id, 0),
                      &value)
                 .ok()) {
          continue;  // not committed yet
        }
        const auto pointer = DecodeSegmentPointer(value);
        ASSERT_TRUE(pointer.has_value());
        ++seen;
        std::lock_guard<std::mutex> lock(mutex);
        if (synced_end[pointer->segment] < pointer->offset + pointer->RecordBytes()) ++early;
      }
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!store_->CommitNewLetter(letters[t * kPerThread + i]).ok()) ++failures;
      }
    });
  }
  for (auto& writer : writers) writer.join();
  writing = false;
  reader.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_GT(seen.load(), 0) << "the reader should have seen pointers while letters committed";
  EXPECT_EQ(early.load(), 0) << "a pointer was visible before its segment bytes were synced";
  const int total = kThreads * kPerThread;
  EXPECT_LT(db_->segments().syncs() - segment_syncs, static_cast<uint64_t>(total));
  EXPECT_LT(db_->Ticker(rocksdb::WAL_FILE_SYNCED) - wal_syncs, static_cast<uint64_t>(total));
  std::map<uint64_t, uint64_t> record_bytes;
  for (int i = 0; i < total; ++i) {
    EXPECT_TRUE(absl::StartsWith(Plaintext(letters[i].id, 0), absl::StrCat("g", i, "-0-")))
        << "letter " << i;
    const auto pointer = PointerOf(letters[i], 0);
    ASSERT_TRUE(pointer.has_value());
    record_bytes[pointer->segment] += pointer->RecordBytes();
  }
  for (const auto& [segment, bytes] : record_bytes) {
    auto live = db_->SegmentLiveBytes(segment);
    ASSERT_TRUE(live.ok()) << live.status();
    EXPECT_EQ(*live, bytes) << "segment " << segment;
  }
}

TEST_F(LedgerStoreDocumentsTest, PurgedDocumentsGiveTheirSegmentBack) {
  // Four letters of about 100 KB fill segments of 256 KiB two by two.
  std::vector<NewLetter> letters;
  for (int i = 0; i < 4; ++i) {
    letters.push_back(Letter({100000}, absl::StrCat("letter", i)));
    ASSERT_TRUE(store_->CommitNewLetter(letters.back()).ok());
  }
  const uint64_t first = PointerOf(letters[0], 0)->segment;
  ASSERT_EQ(PointerOf(letters[1], 0)->segment, first);
  ASSERT_GT(PointerOf(letters[2], 0)->segment, first);
  // One of the two purged: the segment stays, the other letter still reads.
  ASSERT_TRUE(Purge(letters[0]).ok());
  EXPECT_EQ(store_->GetDocument(letters[0].id, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(SegmentExists(first));
  EXPECT_EQ(Plaintext(letters[1].id, 0).substr(0, 9), "letter1-0");
  EXPECT_EQ(*db_->SegmentLiveBytes(first), PointerOf(letters[1], 0)->RecordBytes());
  // Both purged: the sealed segment is deleted with the second purge.
  ASSERT_TRUE(Purge(letters[1]).ok());
  EXPECT_EQ(*db_->SegmentLiveBytes(first), 0u);
  EXPECT_FALSE(SegmentExists(first));
  // Purging again changes nothing (the pointers are gone).
  ASSERT_TRUE(Purge(letters[1]).ok());
  EXPECT_EQ(*db_->SegmentLiveBytes(first), 0u);
  EXPECT_EQ(Plaintext(letters[3].id, 0).substr(0, 9), "letter3-0");
  // The active segment, emptied, waits until it is sealed: the next start reclaims it.
  const uint64_t last = PointerOf(letters[3], 0)->segment;
  ASSERT_TRUE(Purge(letters[2]).ok());
  ASSERT_TRUE(Purge(letters[3]).ok());
  Reopen();
  EXPECT_FALSE(SegmentExists(last));
}

// A busy segment's counter gets a merge for every document stored and purged, and is read
// after every purge: a read must not fold them all (max_successive_merges on "segments").
TEST_F(LedgerStoreDocumentsTest, ASegmentCounterReadStaysCheapAfterManyMerges) {
  std::vector<NewLetter> letters;
  for (int i = 0; i < 300; ++i) {
    letters.push_back(Letter({100}, absl::StrCat("small", i)));
    ASSERT_TRUE(store_->CommitNewLetter(letters.back()).ok());
  }
  const uint64_t segment = PointerOf(letters.back(), 0)->segment;
  ASSERT_EQ(PointerOf(letters.front(), 0)->segment, segment);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(Purge(letters[i]).ok());
  auto live = db_->SegmentLiveBytes(segment);
  ASSERT_TRUE(live.ok());
  uint64_t expected = 0;
  for (int i = 200; i < 300; ++i) expected += PointerOf(letters[i], 0)->RecordBytes();
  EXPECT_EQ(*live, expected);
  // 500 merges went to this one key; no read folded more than a few dozen.
  EXPECT_LE(db_->Histogram(rocksdb::READ_NUM_MERGE_OPERANDS).max, 64);
}

// The documents are synced to a segment, then the process dies before the batch that points
// to them: the letter is not there, and the space comes back at the next start.
TEST_F(LedgerStoreDocumentsTest, ACrashBetweenTheTwoWritesLeavesNothingVisible) {
  const NewLetter committed = Letter({50000}, "kept");
  ASSERT_TRUE(store_->CommitNewLetter(committed).ok());
  ASSERT_TRUE(db_->segments()
                  .LinkSealed(dir_.path() / "unused", [] { return absl::OkStatus(); })
                  .ok());  // seals the first segment; the orphans go to a segment of their own
  const NewLetter lost = Letter({60000, 70000}, "lost");
  const std::string owner0 = keys::Document(lost.id, 0), owner1 = keys::Document(lost.id, 1);
  std::vector<SegmentRecord> records = {{owner0, lost.documents[0].ciphertext()},
                                        {owner1, lost.documents[1].ciphertext()}};
  uint64_t orphan_segment = 0;
  {
    auto appended = db_->segments().Append(records);
    ASSERT_TRUE(appended.ok());
    orphan_segment = appended->pointers()[0].segment;
  }
  EXPECT_TRUE(SegmentExists(orphan_segment));
  // No batch: the process "dies" here.
  Reopen();
  EXPECT_FALSE(store_->GetLetter(lost.id)->has_value());
  EXPECT_EQ(store_->GetDocument(lost.id, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(SegmentExists(orphan_segment)) << "a segment nothing names is reclaimed at start";
  EXPECT_EQ(Plaintext(committed.id, 0).substr(0, 6), "kept-0");
}

TEST_F(LedgerStoreDocumentsTest, ACheckpointCarriesTheSegmentsItsPointersName) {
  std::vector<NewLetter> letters;
  for (int i = 0; i < 5; ++i) {
    letters.push_back(Letter({90000, 1000}, absl::StrCat("cp", i)));
    ASSERT_TRUE(store_->CommitNewLetter(letters.back()).ok());
  }
  const fs::path copy = dir_.path() / "backup" / "ledger";
  fs::create_directories(copy.parent_path());
  auto bytes = db_->Checkpoint(copy);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_GT(*bytes, 5u * 91000);
  // The live store goes on, and purges, without touching the copy.
  const NewLetter later = Letter({1000}, "later");
  ASSERT_TRUE(store_->CommitNewLetter(later).ok());
  for (const NewLetter& l : letters) ASSERT_TRUE(Purge(l).ok());
  Reopen(copy);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Plaintext(letters[i].id, 0).substr(0, 5), absl::StrCat("cp", i, "-0"));
    EXPECT_EQ(Plaintext(letters[i].id, 1).substr(0, 5), absl::StrCat("cp", i, "-1"));
  }
  EXPECT_FALSE(store_->GetLetter(later.id)->has_value());
}

TEST_F(LedgerStoreDocumentsTest, ADocumentStoredBeforeSegmentsIsStillRead) {
  const NewLetter letter = Letter({3000}, "legacy");
  ASSERT_TRUE(store_->CommitNewLetter(letter).ok());
  // What an older version wrote: the ciphertext itself as the value.
  ASSERT_TRUE(db_->raw()
                  .Put(rocksdb::WriteOptions(), db_->cf(Cf::kDocuments),
                       keys::Document(letter.id, 0), letter.documents[0].ciphertext())
                  .ok());
  EXPECT_EQ(Plaintext(letter.id, 0).substr(0, 8), "legacy-0");
  // And its purge needs no segment.
  ASSERT_TRUE(Purge(letter).ok());
  EXPECT_EQ(store_->GetDocument(letter.id, 0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LedgerStoreDocumentsTest, ACorruptSegmentIsNamedAndTheDocumentNotServed) {
  const NewLetter letter = Letter({20000}, "corrupt");
  ASSERT_TRUE(store_->CommitNewLetter(letter).ok());
  const SegmentPointer pointer = *PointerOf(letter, 0);
  Reopen();  // seals it
  const fs::path file = dir_.path() / "ledger" / "segments" / SegmentFileName(pointer.segment);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    const auto at = static_cast<std::streamoff>(pointer.offset + kSegmentHeaderBytes + 5000);
    f.seekg(at);
    const char c = static_cast<char>(f.get() ^ 0x42);
    f.seekp(at);
    f.put(c);
  }
  auto document = store_->GetDocument(letter.id, 0);
  EXPECT_EQ(document.status().code(), absl::StatusCode::kDataLoss) << document.status();
  EXPECT_NE(document.status().message().find(SegmentFileName(pointer.segment)), std::string::npos);
}

// A citizen's form submission: its CMS envelope goes to a segment the same way, and gives the
// segment back once it is deleted (archived or rejected by the case system).
TEST_F(LedgerStoreDocumentsTest, SubmissionEnvelopesGoToSegmentsAndComeBackOut) {
  FormsStore forms(*db_, *store_);
  std::vector<NewSubmission> submissions;
  for (int i = 0; i < 3; ++i) {
    NewSubmission s;
    s.id = *common::DecodeLetterId(ids_.Next(kNow));
    s.record.set_municipality("NO958935420");
    s.record.mutable_info()->set_state(utpost::v1::SUBMISSION_STATE_PENDING);
    s.envelope = absl::StrCat("envelope-", i, std::string(120000, static_cast<char>('a' + i)));
    ASSERT_TRUE(forms.CommitNewSubmission(s, nullptr).ok());
    submissions.push_back(std::move(s));
  }
  std::vector<uint64_t> segments;
  for (const NewSubmission& s : submissions) {
    auto envelope = forms.GetEnvelope(s.id);
    ASSERT_TRUE(envelope.ok()) << envelope.status();
    EXPECT_EQ(*envelope, s.envelope);
    std::string value;
    ASSERT_TRUE(db_->raw()
                    .Get(rocksdb::ReadOptions(), db_->cf(Cf::kSubmissionEnvelopes),
                         std::string(reinterpret_cast<const char*>(s.id.data()), s.id.size()),
                         &value)
                    .ok());
    auto pointer = DecodeSegmentPointer(value);
    ASSERT_TRUE(pointer.has_value()) << "the envelope itself is in the database";
    segments.push_back(pointer->segment);
  }
  // 120 KB envelopes in 256 KiB segments: the first two share one, the third starts another.
  ASSERT_EQ(segments[0], segments[1]);
  ASSERT_LT(segments[1], segments[2]);
  for (int i = 0; i < 2; ++i) {
    SubmissionChange change;
    change.id = submissions[i].id;
    change.pending_due_before = submissions[i].record.due_unix_ms();
    change.record = submissions[i].record;
    change.record.mutable_info()->set_state(utpost::v1::SUBMISSION_STATE_ARCHIVED);
    change.delete_envelope = true;
    ASSERT_TRUE(forms.CommitChanges({change}, nullptr).ok());
    EXPECT_EQ(forms.GetEnvelope(submissions[i].id).status().code(), absl::StatusCode::kNotFound);
  }
  EXPECT_FALSE(SegmentExists(segments[0])) << "both envelopes in it were deleted";
  EXPECT_EQ(*forms.GetEnvelope(submissions[2].id), submissions[2].envelope);
}

}  // namespace
}  // namespace utpost::storage
