// LetterService end to end: the real App (RocksDB in a temp dir, file key store, dev PKI)
// served over mutual TLS on loopback, called through the C++ client library.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "common/field_violations.h"
#include "crypto/dev_pki.h"
#include "rocksdb/statistics.h"
#include "storage/keys.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

std::vector<std::string> ViolatedFields(const absl::Status& status) {
  std::vector<std::string> fields;
  if (auto bad = common::GetBadRequest(status)) {
    for (const auto& v : bad->field_violations()) fields.push_back(v.field());
  }
  return fields;
}

// Key counts of every column family: "the store is unchanged" means these are equal.
std::map<std::string, int> CountKeys(storage::Db& db) {
  std::map<std::string, int> counts;
  for (int i = 0; i < static_cast<int>(storage::Cf::kCount); ++i) {
    const auto cf = static_cast<storage::Cf>(i);
    std::unique_ptr<rocksdb::Iterator> it(db.raw().NewIterator(rocksdb::ReadOptions(), db.cf(cf)));
    int n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    counts[std::string(storage::CfName(cf))] = n;
  }
  return counts;
}

class LetterServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = TestStack::Start(
        {},
        [](app::Config& c) {
          c.ledger.limits.max_total_bytes = 1 << 20;  // small, so the size limit is testable
        },
        kLedgerOnly);
    ASSERT_NE(stack_, nullptr);
  }

  std::string Send(std::string_view marker, std::string_view org = kOslo) {
    auto response = stack_->Client(org).Send(ValidLetter(marker));
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->letter_id() : "";
  }

  std::unique_ptr<TestStack> stack_;
};

TEST_F(LetterServiceTest, SendThenGetShowsAcceptedLetterWithHistory) {
  auto client = stack_->Client();
  v1::SendLetterRequest request = ValidLetter("MARKER-GET");
  request.add_documents()->CopyFrom(request.documents(0));
  request.mutable_documents(1)->set_filename("vedlegg.pdf");
  auto sent = client.Send(request);
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->letter_id().size(), 26u);
  EXPECT_FALSE(sent->replayed());

  auto got = client.Get(sent->letter_id());
  ASSERT_TRUE(got.ok()) << got.status();
  const v1::Letter& letter = got->letter();
  EXPECT_EQ(letter.status(), v1::LETTER_STATUS_ACCEPTED);
  EXPECT_EQ(letter.title(), "Vedtak om barnehageplass");
  EXPECT_EQ(letter.external_reference(), "2026/1234");
  EXPECT_EQ(letter.recipient().person().norwegian_national_id(), kCitizen);
  EXPECT_EQ(letter.options().channel_policy(), v1::CHANNEL_POLICY_AUTO);
  ASSERT_EQ(letter.documents_size(), 2);
  EXPECT_EQ(letter.documents(1).filename(), "vedlegg.pdf");
  EXPECT_EQ(letter.documents(0).size_bytes(), request.documents(0).content().size());
  ASSERT_EQ(got->events_size(), 1);
  EXPECT_EQ(got->events(0).status(), v1::LETTER_STATUS_ACCEPTED);
  EXPECT_EQ(got->events(0).reason(), v1::STATUS_REASON_SUBMITTED);
  EXPECT_GT(got->events(0).sequence(), 0u);

  // Both documents decrypt to exactly what was sent.
  for (uint32_t i = 0; i < 2; ++i) {
    auto content = stack_->ledger().ledger->ReadDocument(kOslo, sent->letter_id(), i);
    ASSERT_TRUE(content.ok()) << content.status();
    EXPECT_EQ(*content, request.documents(i).content());
  }
  // A routing task is queued for the router.
  auto tasks = stack_->ledger().store->QueuedTasks(storage::v1::TASK_KIND_ROUTE, 10);
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_EQ((*tasks)[0].letter_id(), sent->letter_id());
  EXPECT_EQ((*tasks)[0].kind(), storage::v1::TASK_KIND_ROUTE);
}

TEST_F(LetterServiceTest, SameIdempotencyKeyAndRequestReplaysTheFirstAnswer) {
  auto client = stack_->Client();
  v1::SendLetterRequest request = ValidLetter("MARKER-IDEM");
  request.set_idempotency_key("case-2026-1234-vedtak");
  auto first = client.Send(request);
  ASSERT_TRUE(first.ok()) << first.status();
  const auto counts = CountKeys(*stack_->ledger().db);

  auto second = client.Send(request);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->letter_id(), first->letter_id());
  EXPECT_TRUE(second->replayed());
  EXPECT_EQ(second->accepted_time().seconds(), first->accepted_time().seconds());
  EXPECT_EQ(CountKeys(*stack_->ledger().db), counts) << "a replay must store nothing";

  // The key is per organisation: Bergen may use the same key for its own letter.
  auto bergen = stack_->Client(kBergen).Send(request);
  ASSERT_TRUE(bergen.ok()) << bergen.status();
  EXPECT_NE(bergen->letter_id(), first->letter_id());
  EXPECT_FALSE(bergen->replayed());
}

TEST_F(LetterServiceTest, SameIdempotencyKeyWithADifferentRequestIsAlreadyExists) {
  auto client = stack_->Client();
  v1::SendLetterRequest request = ValidLetter("MARKER-CONFLICT");
  request.set_idempotency_key("key-1");
  ASSERT_TRUE(client.Send(request).ok());
  const auto counts = CountKeys(*stack_->ledger().db);

  request.set_title("Another title");
  auto conflict = client.Send(request);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(ViolatedFields(conflict.status()), ElementsAre("idempotency_key"));
  EXPECT_EQ(CountKeys(*stack_->ledger().db), counts);
}

TEST_F(LetterServiceTest, ConcurrentRetriesWithOneKeyCreateOneLetter) {
  v1::SendLetterRequest request = ValidLetter("MARKER-RACE");
  request.set_idempotency_key("racing-key");
  std::vector<std::string> ids(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto response = stack_->Client().Send(request);
      ASSERT_TRUE(response.ok()) << response.status();
      ids[i] = response->letter_id();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1u);
  auto all = stack_->ledger().store->AllLetterIds();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(LetterServiceTest, EveryClassOfBadInputNamesTheFieldAndChangesNothing) {
  struct Case {
    std::string name;
    std::function<void(v1::SendLetterRequest&)> spoil;
    std::vector<std::string> fields;
  };
  const std::vector<Case> cases = {
      {"no recipient", [](auto& r) { r.clear_recipient(); }, {"recipient"}},
      {"national id check digit",
       [](auto& r) {
         r.mutable_recipient()->mutable_person()->set_norwegian_national_id("15076500566");
       },
       {"recipient.person.norwegian_national_id"}},
      {"org number check digit",
       [](auto& r) {
         r.mutable_recipient()->mutable_organisation()->set_norwegian_org_number("958935421");
       },
       {"recipient.organisation.norwegian_org_number"}},
      {"cpr date",
       [](auto& r) { r.mutable_recipient()->mutable_person()->set_danish_cpr("3102901234"); },
       {"recipient.person.danish_cpr"}},
      {"cvr checksum",
       [](auto& r) { r.mutable_recipient()->mutable_organisation()->set_danish_cvr("29189847"); },
       {"recipient.organisation.danish_cvr"}},
      {"empty title", [](auto& r) { r.clear_title(); }, {"title"}},
      {"no documents", [](auto& r) { r.clear_documents(); }, {"documents"}},
      {"not a pdf",
       [](auto& r) { r.mutable_documents(0)->set_content("hello"); },
       {"documents[0].content"}},
      {"bad media type",
       [](auto& r) { r.mutable_documents(0)->set_media_type("pdf"); },
       {"documents[0].media_type"}},
      {"duplicate filename",
       [](auto& r) { r.add_documents()->CopyFrom(r.documents(0)); },
       {"documents[1].filename"}},
      {"too large",
       [](auto& r) { r.mutable_documents(0)->set_content(MakePdf("big", (1 << 20) + 10)); },
       {"documents"}},
      {"postal code",
       [](auto& r) {
         auto* a = r.mutable_postal_address();
         a->set_name("Ola Nordmann");
         a->add_address_lines("Storgata 1");
         a->set_postal_code("12");
         a->set_city("Oslo");
         a->set_country_code("NO");
       },
       {"postal_address.postal_code"}},
      {"print deadline with digital only",
       [](auto& r) {
         r.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_DIGITAL_ONLY);
         r.mutable_options()->mutable_print_if_unread_after()->set_seconds(48 * 3600);
       },
       {"options.print_if_unread_after"}},
      {"idempotency key with a space",
       [](auto& r) { r.set_idempotency_key("has space"); },
       {"idempotency_key"}},
      {"several at once",
       [](auto& r) {
         r.clear_title();
         r.mutable_documents(0)->set_media_type("");
         r.set_external_reference(std::string(101, 'x'));
       },
       {"title", "documents[0].media_type", "external_reference"}},
  };
  auto client = stack_->Client();
  const auto before = CountKeys(*stack_->ledger().db);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    v1::SendLetterRequest request = ValidLetter("MARKER-BAD");
    c.spoil(request);
    auto response = client.Send(request);
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument) << response.status();
    EXPECT_THAT(ViolatedFields(response.status()), UnorderedElementsAreArray(c.fields));
  }
  EXPECT_EQ(CountKeys(*stack_->ledger().db), before) << "a rejected request must change nothing";
}

TEST_F(LetterServiceTest, MalformedLetterIdIsInvalidArgument) {
  auto got = stack_->Client().Get("not-a-letter-id");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolatedFields(got.status()), ElementsAre("letter_id"));
  auto missing = stack_->Client().Get("01J00000000000000000000000");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LetterServiceTest, AnOrganisationSeesOnlyItsOwnLetters) {
  const std::string oslo_letter = Send("MARKER-OSLO", kOslo);
  const std::string bergen_letter = Send("MARKER-BERGEN", kBergen);
  auto bergen = stack_->Client(kBergen);

  auto got = bergen.Get(oslo_letter);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  // Indistinguishable from a letter that does not exist.
  EXPECT_THAT(std::string(got.status().message()), ::testing::HasSubstr("not found"));
  EXPECT_EQ(bergen.Cancel(oslo_letter).status().code(), absl::StatusCode::kNotFound);

  auto listed = bergen.List(v1::ListLettersRequest());
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->letters_size(), 1);
  EXPECT_EQ(listed->letters(0).letter_id(), bergen_letter);

  std::vector<std::string> watched;
  ASSERT_TRUE(bergen
                  .Watch(0,
                         [&](const v1::LetterEvent& e) {
                           watched.push_back(e.letter_id());
                           return false;
                         })
                  .ok());
  EXPECT_THAT(watched, ElementsAre(bergen_letter));
  // Oslo's letter is untouched by Bergen's cancel attempt.
  auto oslo = stack_->Client(kOslo).Get(oslo_letter);
  ASSERT_TRUE(oslo.ok());
  EXPECT_EQ(oslo->letter().status(), v1::LETTER_STATUS_ACCEPTED);
}

TEST_F(LetterServiceTest, ListLettersPagesNewestFirstAndFilters) {
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) ids.push_back(Send(absl::StrCat("MARKER-LIST-", i)));
  auto client = stack_->Client();
  std::vector<std::string> seen;
  v1::ListLettersRequest request;
  request.set_page_size(3);
  std::vector<int> page_sizes;
  for (;;) {
    auto page = client.List(request);
    ASSERT_TRUE(page.ok()) << page.status();
    page_sizes.push_back(page->letters_size());
    for (const auto& l : page->letters()) seen.push_back(l.letter_id());
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  std::vector<std::string> newest_first(ids.rbegin(), ids.rend());
  EXPECT_EQ(seen, newest_first);
  EXPECT_THAT(page_sizes, ElementsAre(3, 3, 1));

  // Status filter.
  ASSERT_TRUE(client.Cancel(ids[2]).ok());
  ASSERT_TRUE(client.Cancel(ids[5]).ok());
  v1::ListLettersRequest cancelled;
  cancelled.add_statuses(v1::LETTER_STATUS_CANCELLED);
  auto page = client.List(cancelled);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->letters_size(), 2);
  EXPECT_EQ(page->letters(0).letter_id(), ids[5]);
  EXPECT_EQ(page->letters(1).letter_id(), ids[2]);
  // A filtered page that fills before the end of the letters has a next page.
  cancelled.set_page_size(1);
  page = client.List(cancelled);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->letters_size(), 1);
  EXPECT_EQ(page->letters(0).letter_id(), ids[5]);
  ASSERT_FALSE(page->next_page_token().empty());
  cancelled.set_page_token(page->next_page_token());
  page = client.List(cancelled);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->letters_size(), 1);
  EXPECT_EQ(page->letters(0).letter_id(), ids[2]);
  cancelled.clear_page_token();
  cancelled.set_page_size(0);

  // A time window that ends before the first letter is empty.
  v1::ListLettersRequest old;
  old.mutable_accepted_before()->set_seconds(1000);
  page = client.List(old);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->letters_size(), 0);

  // Tokens are bound to their filters, and garbage is rejected.
  v1::ListLettersRequest first_page;
  first_page.set_page_size(2);
  auto p1 = client.List(first_page);
  ASSERT_TRUE(p1.ok());
  cancelled.set_page_token(p1->next_page_token());
  EXPECT_THAT(ViolatedFields(client.List(cancelled).status()), ElementsAre("page_token"));
  v1::ListLettersRequest garbage;
  garbage.set_page_token("garbage!");
  EXPECT_THAT(ViolatedFields(client.List(garbage).status()), ElementsAre("page_token"));
  v1::ListLettersRequest too_big;
  too_big.set_page_size(5000);
  EXPECT_THAT(ViolatedFields(client.List(too_big).status()), ElementsAre("page_size"));
}

TEST_F(LetterServiceTest, WatchDeliversNewEventsAndResumesWithoutGapsOrRepeats) {
  auto client = stack_->Client();
  std::vector<uint64_t> sequences;
  std::vector<std::string> letters;
  std::thread watcher([&] {
    absl::Status status = client.Watch(0, [&](const v1::LetterEvent& e) {
      sequences.push_back(e.sequence());
      letters.push_back(e.letter_id());
      return sequences.size() < 2;  // disconnect after two events
    });
    EXPECT_TRUE(status.ok()) << status;
  });
  // Events arrive while the stream is open: nobody polls.
  std::vector<std::string> sent;
  for (int i = 0; i < 4; ++i) sent.push_back(Send(absl::StrCat("MARKER-WATCH-", i)));
  watcher.join();
  ASSERT_EQ(sequences.size(), 2u);

  // Reconnect from the last sequence: the rest, in order, nothing twice.
  ASSERT_TRUE(client.Cancel(sent[0]).ok());
  absl::Status status = client.Watch(sequences.back(), [&](const v1::LetterEvent& e) {
    sequences.push_back(e.sequence());
    letters.push_back(e.letter_id());
    return sequences.size() < 5;
  });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(sequences.size(), 5u);
  for (size_t i = 1; i < sequences.size(); ++i) EXPECT_LT(sequences[i - 1], sequences[i]);
  EXPECT_THAT(letters, ElementsAre(sent[0], sent[1], sent[2], sent[3], sent[0]));

  // A cursor ahead of every event is a client error, not an endless wait.
  absl::Status ahead = client.Watch(sequences.back() + 100, [](const auto&) { return true; });
  EXPECT_EQ(ahead.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolatedFields(ahead), ElementsAre("after_sequence"));
}

TEST_F(LetterServiceTest, CancelDestroysDocumentsAndOnlyWorksBeforeHandOver) {
  auto client = stack_->Client();
  const std::string id = Send("MARKER-CANCEL");
  auto cancelled = client.Cancel(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->letter().status(), v1::LETTER_STATUS_CANCELLED);
  EXPECT_THAT(cancelled->letter().documents(), IsEmpty());
  EXPECT_EQ(stack_->ledger().ledger->ReadDocument(kOslo, id, 0).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(stack_->ledger().store->GetDocument(*common::DecodeLetterId(id), 0).status().code(),
            absl::StatusCode::kNotFound);
  // Cancelling twice is harmless.
  auto again = client.Cancel(id);
  ASSERT_TRUE(again.ok());
  auto got = client.Get(id);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->events_size(), 2);
  EXPECT_EQ(got->events(1).reason(), v1::STATUS_REASON_CANCELLED_BY_SENDER);

  // Once handed to a channel, it is too late.
  const std::string delivered = Send("MARKER-DELIVERED");
  ledger::Transition routed{delivered, v1::LETTER_STATUS_ROUTED,
                            v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, v1::CHANNEL_DIGITAL_MAILBOX, ""};
  ASSERT_TRUE(stack_->ledger().ledger->ApplyTransition(kOslo, routed).ok());
  ledger::Transition handed{delivered, v1::LETTER_STATUS_DELIVERED_DIGITALLY,
                            v1::STATUS_REASON_PROVIDER_CONFIRMED, v1::CHANNEL_DIGITAL_MAILBOX, ""};
  ASSERT_TRUE(stack_->ledger().ledger->ApplyTransition(kOslo, handed).ok());
  EXPECT_EQ(client.Cancel(delivered).status().code(), absl::StatusCode::kFailedPrecondition);
  auto still = stack_->ledger().ledger->ReadDocument(kOslo, delivered, 0);
  EXPECT_TRUE(still.ok()) << "a refused cancel must not destroy documents";
}

TEST_F(LetterServiceTest, EveryAcknowledgedLetterWasSyncedToTheWalAndItsSegment) {
  auto client = stack_->Client();
  storage::Db& db = *stack_->ledger().db;
  for (int i = 0; i < 5; ++i) {
    const uint64_t wal_before = db.Ticker(rocksdb::WAL_FILE_SYNCED);
    const uint64_t segments_before = db.segments().syncs();
    auto response = client.Send(ValidLetter(absl::StrCat("MARKER-SYNC-", i)));
    ASSERT_TRUE(response.ok()) << response.status();
    // The ack came after at least one WAL sync that this write was part of, and after an
    // fdatasync of the segment its document went to.
    EXPECT_GT(db.Ticker(rocksdb::WAL_FILE_SYNCED), wal_before) << "letter " << i;
    EXPECT_GT(db.segments().syncs(), segments_before) << "letter " << i;
  }
}

TEST_F(LetterServiceTest, ConcurrentLettersShareWalAndSegmentSyncs) {
  storage::Db& db = *stack_->ledger().db;
  const uint64_t syncs_before = db.Ticker(rocksdb::WAL_FILE_SYNCED);
  const uint64_t segment_syncs_before = db.segments().syncs();
  constexpr int kThreads = 16, kPerThread = 20;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = stack_->Client();
      for (int i = 0; i < kPerThread; ++i) {
        auto r = client.Send(ValidLetter(absl::StrCat("MARKER-GROUP-", t, "-", i), 64 << 10));
        if (r.ok()) {
          ++ok;
        } else {
          ADD_FAILURE() << "thread " << t << " letter " << i << ": " << r.status();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(ok.load(), kThreads * kPerThread);
  const uint64_t syncs = db.Ticker(rocksdb::WAL_FILE_SYNCED) - syncs_before;
  RecordProperty("wal_syncs", std::to_string(syncs));
  EXPECT_GE(syncs, 1u);
  EXPECT_LT(syncs, static_cast<uint64_t>(kThreads * kPerThread))
      << "concurrent letters should be grouped into fewer WAL syncs";
  const uint64_t segment_syncs = db.segments().syncs() - segment_syncs_before;
  RecordProperty("segment_syncs", std::to_string(segment_syncs));
  EXPECT_GE(segment_syncs, 1u);
  EXPECT_LT(segment_syncs, static_cast<uint64_t>(kThreads * kPerThread))
      << "concurrent letters should share segment fdatasyncs";
}

TEST_F(LetterServiceTest, NoPlaintextDocumentReachesTheDisk) {
  const std::string marker = "UTPOST-PLAINTEXT-MARKER-7f3a9c";
  auto client = stack_->Client();
  // A small document (inline value) and a large one (blob file).
  v1::SendLetterRequest request = ValidLetter(marker, 512);
  // Who a letter is for and what it is called are personal data too.
  const std::string title_marker = "UTPOST-TITLE-MARKER-51c2";
  request.set_title(title_marker);
  request.set_external_reference("UTPOST-REFERENCE-MARKER-0b9e");
  // So are its documents' names (often a person's name) and media types.
  const std::string filename_marker = "UTPOST-FILENAME-MARKER-3d8e.pdf";
  const std::string media_type_marker = "application/x.utpost-media-marker-c47a";
  request.mutable_documents(0)->set_filename(filename_marker);
  request.mutable_documents(0)->set_media_type(media_type_marker);
  auto* big = request.add_documents();
  big->set_filename("stor.pdf");
  big->set_media_type("application/pdf");
  big->set_content(MakePdf(marker, 300 << 10));
  auto sent = client.Send(request);
  ASSERT_TRUE(sent.ok()) << sent.status();
  // And the detail of an event, e.g. why a letter goes to print.
  const std::string detail_marker = "UTPOST-DETAIL-MARKER-91fe";
  ledger::Transition routed{sent->letter_id(), v1::LETTER_STATUS_ROUTED,
                            v1::STATUS_REASON_RECIPIENT_RESERVED, v1::CHANNEL_PRINT, detail_marker};
  ASSERT_TRUE(stack_->ledger().ledger->ApplyTransition(kOslo, routed).ok());
  // Sealed on disk, open to the sender: through GetLetter and the event feed.
  auto got = client.Get(sent->letter_id());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->letter().documents_size(), 2);
  EXPECT_EQ(got->letter().documents(0).filename(), filename_marker);
  EXPECT_EQ(got->letter().documents(0).media_type(), media_type_marker);
  ASSERT_EQ(got->events_size(), 2);
  EXPECT_EQ(got->events(1).detail(), detail_marker);
  auto feed = stack_->ledger().ledger->ReadEvents(kOslo, 0, 10);
  ASSERT_TRUE(feed.ok()) << feed.status();
  ASSERT_EQ(feed->size(), 2u);
  EXPECT_EQ((*feed)[1].detail(), detail_marker);

  const std::vector<std::string> needles = {
      marker,       title_marker,    "UTPOST-REFERENCE-MARKER-0b9e",
      kCitizen,     filename_marker, media_type_marker,
      detail_marker};
  // In the WAL now; then in SST and blob files after a flush; then after a clean close.
  for (const std::string& needle : needles) {
    EXPECT_THAT(FilesContaining(stack_->data_dir(), needle), IsEmpty()) << needle;
  }
  ASSERT_TRUE(stack_->ledger().db->FlushAll().ok());
  for (const std::string& needle : needles) {
    EXPECT_THAT(FilesContaining(stack_->data_dir(), needle), IsEmpty()) << needle;
  }
  stack_->Stop();
  for (const std::string& needle : needles) {
    EXPECT_THAT(FilesContaining(stack_->data_dir(), needle), IsEmpty()) << needle;
  }

  // The scan itself works: a plaintext file with the marker is found.
  std::ofstream(stack_->data_dir() / "control.txt") << "x" << marker << "y";
  EXPECT_EQ(FilesContaining(stack_->data_dir(), marker).size(), 1u);
}

TEST(LetterServiceRestartTest, LettersAndTheFeedSurviveARestartAndKeyRotation) {
  TempDir dir;
  std::string first_id;
  uint64_t first_sequence = 0;
  {
    auto stack = TestStack::Start(dir.path(), {}, kLedgerOnly);
    ASSERT_NE(stack, nullptr);
    auto sent = stack->Client().Send(ValidLetter("MARKER-BEFORE"));
    ASSERT_TRUE(sent.ok());
    first_id = sent->letter_id();
    first_sequence = stack->ledger().ledger->feed().Watermark(kOslo);
  }
  auto rotated = crypto::FileKeyStore::Rotate(dir.path() / "keys");
  ASSERT_TRUE(rotated.ok()) << rotated.status();

  auto stack = TestStack::Start(dir.path(), {}, kLedgerOnly);
  ASSERT_NE(stack, nullptr);
  auto client = stack->Client();
  auto got = client.Get(first_id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->letter().status(), v1::LETTER_STATUS_ACCEPTED);

  auto second = client.Send(ValidLetter("MARKER-AFTER"));
  ASSERT_TRUE(second.ok());
  auto events = client.Get(second->letter_id());
  ASSERT_TRUE(events.ok());
  EXPECT_GT(events->events(0).sequence(), first_sequence) << "sequences are never reused";

  // New letters use the new key; old letters still decrypt with the old one.
  auto old_doc = stack->ledger().store->GetDocument(*common::DecodeLetterId(first_id), 0);
  auto new_doc =
      stack->ledger().store->GetDocument(*common::DecodeLetterId(second->letter_id()), 0);
  ASSERT_TRUE(old_doc.ok() && new_doc.ok());
  EXPECT_EQ(new_doc->kek_id(), *rotated);
  EXPECT_NE(old_doc->kek_id(), *rotated);
  EXPECT_TRUE(stack->ledger().ledger->ReadDocument(kOslo, first_id, 0).ok());
  EXPECT_TRUE(stack->ledger().ledger->ReadDocument(kOslo, second->letter_id(), 0).ok());
}

TEST(LetterServiceTlsTest, ACallerWithoutACertificateFromTheCaIsRefused) {
  auto stack = TestStack::Start();
  ASSERT_NE(stack, nullptr);
  // A second, unrelated dev PKI: its client certificate is not signed by the server's CA.
  TempDir other;
  ASSERT_TRUE(crypto::EnsureDevPki(other.path(), {{kOslo, "Fake Oslo"}}).ok());
  client::ConnectionOptions options = stack->Connection();
  const auto client_dir = crypto::DevClientDir(other.path(), kOslo);
  options.cert = client_dir / "client.pem";
  options.key = client_dir / "client.key";
  options.wait_for_ready = false;  // the handshake fails for good; say so at once
  auto channel = client::Connect(options);
  ASSERT_TRUE(channel.ok());
  client::LetterClient forger(*channel, options, absl::Seconds(5));
  auto response = forger.Send(ValidLetter("MARKER-FORGED"));
  EXPECT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  auto all = stack->ledger().store->AllLetterIds();
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(*all, IsEmpty());
}

}  // namespace
}  // namespace utpost::testutil

namespace utpost::testutil {
namespace {

TEST(LetterServiceLimitsTest, LettersUpToTheConfiguredLimitPassGrpcsOwnLimits) {
  // gRPC refuses messages over 4 MiB unless told otherwise; the default letter limit is 50 MiB.
  auto stack = TestStack::Start();
  ASSERT_NE(stack, nullptr);
  v1::SendLetterRequest request = ValidLetter("MARKER-LARGE", 12 << 20);
  auto sent = stack->Client().Send(request);
  ASSERT_TRUE(sent.ok()) << sent.status();
  auto content = stack->ledger().ledger->ReadDocument(kOslo, sent->letter_id(), 0);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(content->size(), request.documents(0).content().size());
}

TEST(LetterServiceOverloadTest, OverloadIsShedWithResourceExhaustedAndNothingHalfDone) {
  auto stack = TestStack::Start({}, [](app::Config& c) {
    c.ledger.worker_threads = 1;
    c.ledger.max_queued_requests = 1;
    c.ledger.max_inflight_bytes = 300 << 10;
  });
  ASSERT_NE(stack, nullptr);
  constexpr int kClients = 16;
  std::vector<client::LetterClient> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(stack->Client());
    // Connect (TLS handshake) before the burst so that the sends arrive together.
    ASSERT_EQ(clients.back().Get("01J00000000000000000000000").status().code(),
              absl::StatusCode::kNotFound);
  }
  std::atomic<int> ready{0}, accepted{0}, shed{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      v1::SendLetterRequest request = ValidLetter(absl::StrCat("MARKER-LOAD-", i), 256 << 10);
      ++ready;
      while (ready < kClients) std::this_thread::yield();
      auto response = clients[i].Send(request);
      if (response.ok()) {
        ++accepted;
      } else if (response.status().code() == absl::StatusCode::kResourceExhausted) {
        ++shed;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(shed.load(), 0) << "16 simultaneous 256 KiB letters against a 300 KiB budget";
  EXPECT_GT(accepted.load(), 0);
  auto all = stack->ledger().store->AllLetterIds();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(static_cast<int>(all->size()), accepted.load()) << "a shed letter stores nothing";
}

}  // namespace
}  // namespace utpost::testutil

namespace utpost::testutil {
namespace {

TEST(LetterServiceFairnessTest, OneOrganisationsBurstIsShedWhileOthersGetThrough) {
  auto stack = TestStack::Start({}, [](app::Config& c) {
    c.ledger.worker_threads = 1;
    c.ledger.max_inflight_per_organisation = 1;
  });
  ASSERT_NE(stack, nullptr);
  constexpr int kBurst = 16;
  std::vector<client::LetterClient> oslo;
  for (int i = 0; i < kBurst; ++i) {
    oslo.push_back(stack->Client(kOslo));
    ASSERT_EQ(oslo.back().Get("01J00000000000000000000000").status().code(),
              absl::StatusCode::kNotFound);  // connected before the burst
  }
  auto bergen = stack->Client(kBergen);
  std::atomic<int> ready{0}, shed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kBurst; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready < kBurst) std::this_thread::yield();
      auto r = oslo[i].Send(ValidLetter(absl::StrCat("MARKER-BURST-", i), 64 << 10));
      if (r.status().code() == absl::StatusCode::kResourceExhausted) ++shed;
    });
  }
  while (ready < kBurst) std::this_thread::yield();
  // Bergen has nothing else in progress, so its letter is admitted whatever Oslo does.
  auto sent = bergen.Send(ValidLetter("MARKER-BERGEN"));
  EXPECT_TRUE(sent.ok()) << sent.status();
  for (auto& t : threads) t.join();
  EXPECT_GT(shed.load(), 0);
}

TEST(LetterServiceFairnessTest, WatchStreamsPerOrganisationAreBounded) {
  auto stack =
      TestStack::Start({}, [](app::Config& c) { c.ledger.max_watch_streams_per_organisation = 1; });
  ASSERT_NE(stack, nullptr);
  ASSERT_TRUE(stack->Client(kOslo).Send(ValidLetter("MARKER-W1")).ok());
  ASSERT_TRUE(stack->Client(kBergen).Send(ValidLetter("MARKER-W2")).ok());

  std::mutex mu;
  std::condition_variable cv;
  bool opened = false, release = false;
  std::thread first([&] {
    auto client = stack->Client(kOslo);
    EXPECT_TRUE(client
                    .Watch(0,
                           [&](const v1::LetterEvent&) {
                             std::unique_lock lock(mu);
                             opened = true;
                             cv.notify_all();
                             cv.wait(lock, [&] { return release; });
                             return false;
                           })
                    .ok());
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return opened; });
  }
  absl::Status second = stack->Client(kOslo).Watch(0, [](const auto&) { return false; });
  EXPECT_EQ(second.code(), absl::StatusCode::kResourceExhausted) << second;
  absl::Status other = stack->Client(kBergen).Watch(0, [](const auto&) { return false; });
  EXPECT_TRUE(other.ok()) << "another organisation's limit is its own: " << other;
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  first.join();
  // The slot is free again once the first stream has ended.
  absl::Status again;
  for (int i = 0; i < 100; ++i) {
    again = stack->Client(kOslo).Watch(0, [](const auto&) { return false; });
    if (again.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(again.ok()) << again;
}

}  // namespace
}  // namespace utpost::testutil
