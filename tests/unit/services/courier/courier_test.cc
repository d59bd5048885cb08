// The courier's worker against test doubles of everything it calls (fakes.h): a ledger's
// TaskService, a registry's RegistryLookupService and mailbox providers, each a real gRPC
// server on 127.0.0.1. Time (retry_at, deadlines, lease expiry) follows a FakeClock and
// jitter a fixed number, so the tests see exact retry times without sleeping.
#include "services/courier/courier.h"

#include <grpcpp/create_channel.h>

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/services/courier/fakes.h"

namespace utpost::courier {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr auto kDeliver = internal::v1::TASK_KIND_DELIVER_DIGITAL;

class CourierTest : public ::testing::Test {
 protected:
  CourierTest() : clock_(kStart), ledger_(clock_) {
    ledger_server_ = Serve(&ledger_);
    registry_server_ = Serve(&registry_);
    dev_server_ = Serve(&dev_);
    other_server_ = Serve(&other_);
    config_.batch_size = 16;
    config_.poll_interval = absl::Milliseconds(20);
    config_.backoff_min = absl::Seconds(1);
    config_.backoff_max = absl::Seconds(60);
    config_.retry_deadline = absl::Hours(1);
    config_.provider_timeout = absl::Seconds(10);
    config_.lease_for = absl::Minutes(1);
    config_.max_in_flight = 8;
    config_.max_in_flight_per_provider = 4;
    config_.receipt_providers = {};
    dev_provider_ = MakeProvider("dev", dev_server_.address);
    other_provider_ = MakeProvider("other", other_server_.address);
    registry_.PutProvider(dev_provider_);
    registry_.PutProvider(other_provider_);
  }
  ~CourierTest() override {
    courier_.reset();
    for (Served* s : {&ledger_server_, &registry_server_, &dev_server_, &other_server_}) {
      s->server->Shutdown();
    }
  }

  Courier& MakeCourier() {
    EXPECT_TRUE(ValidateCourierConfig(config_).ok()) << ValidateCourierConfig(config_);
    courier_ = std::make_unique<Courier>(
        config_, grpc::CreateChannel(ledger_server_.address, grpc::InsecureChannelCredentials()),
        grpc::CreateChannel(registry_server_.address, grpc::InsecureChannelCredentials()),
        [](std::string_view endpoint) -> absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> {
          return grpc::CreateChannel(std::string(endpoint), grpc::InsecureChannelCredentials());
        },
        PlainEnvelopes(), clock_, nullptr, [this] { return unit_; });
    return *courier_;
  }

  // Leases once and waits for the deliveries; the number of tasks leased.
  int Step() {
    absl::StatusOr<int> n = courier_->LeaseOnce();
    EXPECT_TRUE(n.ok()) << n.status();
    courier_->AwaitIdle();
    return n.value_or(-1);
  }

  // A letter to a person whose mailbox is at `provider`.
  internal::v1::TaskLetter LetterAt(const v1::Provider& provider, const std::string& person,
                                    v1::ChannelPolicy policy = v1::CHANNEL_POLICY_AUTO) {
    registry_.Put(Person(person), WithMailbox(Person(person), provider));
    return Letter(Person(person), policy);
  }

  const internal::v1::CompleteTaskRequest& Completion(const std::string& task_id) {
    completion_ = ledger_.Get(task_id).completion;
    EXPECT_TRUE(completion_.has_value()) << task_id << " not completed";
    if (!completion_) completion_.emplace();
    return *completion_;
  }

  common::FakeClock clock_;
  FakeLedger ledger_;
  FakeRegistry registry_;
  FakeProvider dev_;
  FakeProvider other_;
  Served ledger_server_, registry_server_, dev_server_, other_server_;
  v1::Provider dev_provider_, other_provider_;
  CourierConfig config_;
  double unit_ = 0.5;
  std::unique_ptr<Courier> courier_;
  std::optional<internal::v1::CompleteTaskRequest> completion_;
};

TEST_F(CourierTest, DeliversEveryDocumentAndRecordsDeliveredWithAnUnreadCheck) {
  internal::v1::TaskLetter letter = LetterAt(dev_provider_, "15076500565");
  letter.mutable_options()->mutable_print_if_unread_after()->set_seconds(3600);
  const std::string big(600 << 10, 'x');  // three chunks from the ledger, three to the provider
  ledger_.Add("t1", kDeliver, letter, {"first document", big});
  MakeCourier();
  EXPECT_EQ(Step(), 1);

  auto mailbox = dev_.mailbox();
  ASSERT_EQ(mailbox.count(letter.letter_id()), 1u);
  const FakeProvider::Delivered& d = mailbox.at(letter.letter_id());
  EXPECT_EQ(d.provider_id, "dev");
  EXPECT_EQ(d.header.mailbox_address(), "kari@mbx");
  EXPECT_EQ(d.header.sender(), "NO958935420");
  EXPECT_EQ(d.header.title(), "Vedtak");
  EXPECT_EQ(d.header.document_count(), 2u);
  ASSERT_THAT(d.envelopes, SizeIs(2));
  EXPECT_EQ(d.envelopes[0], "ENV(first document)");
  EXPECT_EQ(d.envelopes[1], "ENV(" + big + ")");
  EXPECT_EQ(d.documents[1].index(), 1u);
  EXPECT_EQ(d.documents[1].filename(), "doc1.pdf");
  EXPECT_EQ(d.documents[1].envelope_size(), big.size() + 5);
  EXPECT_LE(d.largest_chunk, kMaxEnvelopeChunk);

  const internal::v1::CompleteTaskRequest& c = Completion("t1");
  EXPECT_EQ(c.transition().expected_status(), v1::LETTER_STATUS_ROUTED);
  EXPECT_EQ(c.transition().status(), v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  EXPECT_EQ(c.transition().reason(), v1::STATUS_REASON_PROVIDER_CONFIRMED);
  EXPECT_EQ(c.transition().channel(), v1::CHANNEL_DIGITAL_MAILBOX);
  EXPECT_EQ(c.transition().provider_id(), "dev");
  ASSERT_EQ(c.next_tasks_size(), 1);
  EXPECT_EQ(c.next_tasks(0).kind(), internal::v1::TASK_KIND_CHECK_UNREAD);
  EXPECT_EQ(common::FromProto(c.next_tasks(0).due_time()), kStart + absl::Hours(1));
  EXPECT_EQ(courier_->stats().delivered, 1u);
  // The provider is now among those whose receipts are pulled.
  EXPECT_THAT(courier_->receipt_providers(), ElementsAre("dev"));
}

TEST_F(CourierTest, AnOrganisationsInboxGoesThroughTheSameProtocol) {
  v1::Recipient org;
  org.mutable_organisation()->set_norwegian_org_number("921837003");
  v1::LookupResult inbox;
  *inbox.mutable_entry()->mutable_organisation()->mutable_id() = org.organisation();
  inbox.mutable_entry()->mutable_organisation()->mutable_inbox()->set_provider_id("dev");
  inbox.mutable_entry()->mutable_organisation()->mutable_inbox()->set_address("post@inbox");
  *inbox.mutable_provider() = dev_provider_;
  registry_.Put(org, inbox);
  internal::v1::TaskLetter letter = Letter(org);
  letter.set_channel(v1::CHANNEL_ORGANISATION_INBOX);
  ledger_.Add("t1", internal::v1::TASK_KIND_DELIVER_ORGANISATION_INBOX, letter, {"doc"});
  MakeCourier();
  EXPECT_EQ(Step(), 1);
  ASSERT_EQ(dev_.mailbox().count(letter.letter_id()), 1u);
  EXPECT_EQ(dev_.mailbox().at(letter.letter_id()).header.mailbox_address(), "post@inbox");
  const internal::v1::CompleteTaskRequest& c = Completion("t1");
  EXPECT_EQ(c.transition().status(), v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  EXPECT_EQ(c.transition().channel(), v1::CHANNEL_ORGANISATION_INBOX);
  EXPECT_EQ(c.transition().provider_id(), "dev");
}

TEST_F(CourierTest, WithoutPrintIfUnreadNoCheckIsQueued) {
  ledger_.Add("t1", kDeliver, LetterAt(dev_provider_, "15076500565"), {"doc"});
  MakeCourier();
  Step();
  EXPECT_EQ(Completion("t1").next_tasks_size(), 0);
}

class PermanentTest : public CourierTest, public ::testing::WithParamInterface<grpc::StatusCode> {};

TEST_P(PermanentTest, GoesToPrintAtOnceWithTheProvidersMessage) {
  dev_.Answer(GetParam(), "mailbox closed\nby its owner");
  ledger_.Add("t1", kDeliver, LetterAt(dev_provider_, "15076500565"), {"doc"});
  MakeCourier();
  Step();
  EXPECT_EQ(dev_.calls(), 1);
  EXPECT_THAT(ledger_.fails(), SizeIs(0));
  const internal::v1::CompleteTaskRequest& c = Completion("t1");
  EXPECT_EQ(c.transition().expected_status(), v1::LETTER_STATUS_ROUTED);
  EXPECT_EQ(c.transition().status(), v1::LETTER_STATUS_UNSPECIFIED);
  ASSERT_EQ(c.next_tasks_size(), 1);
  EXPECT_EQ(c.next_tasks(0).kind(), internal::v1::TASK_KIND_PRINT);
  EXPECT_EQ(c.next_tasks(0).reason(), v1::STATUS_REASON_DIGITAL_DELIVERY_FAILED);
  // The message, with its control characters made harmless.
  EXPECT_THAT(c.next_tasks(0).detail(), HasSubstr("mailbox closed?by its owner"));
  EXPECT_EQ(courier_->stats().to_print, 1u);
}

INSTANTIATE_TEST_SUITE_P(Codes, PermanentTest,
                         ::testing::Values(grpc::StatusCode::INVALID_ARGUMENT,
                                           grpc::StatusCode::NOT_FOUND,
                                           grpc::StatusCode::FAILED_PRECONDITION,
                                           grpc::StatusCode::PERMISSION_DENIED,
                                           grpc::StatusCode::UNIMPLEMENTED));

class TransientTest : public CourierTest, public ::testing::WithParamInterface<grpc::StatusCode> {};

TEST_P(TransientTest, IsRetriedWithFullJitterBackOff) {
  dev_.Answer(GetParam());
  config_.breaker_failures = 100;
  ledger_.Add("t1", kDeliver, LetterAt(dev_provider_, "15076500565"), {"doc"});
  MakeCourier();
  // Attempt n waits unit × min(1 s × 2^n, 60 s).
  const std::vector<absl::Duration> expected = {absl::Milliseconds(500), absl::Seconds(1),
                                                absl::Seconds(2), absl::Seconds(4)};
  for (size_t attempt = 0; attempt < expected.size(); ++attempt) {
    EXPECT_EQ(Step(), 1);
    auto fails = ledger_.fails();
    ASSERT_THAT(fails, SizeIs(attempt + 1));
    EXPECT_EQ(common::FromProto(fails.back().retry_at()), clock_.Now() + expected[attempt]);
    EXPECT_THAT(fails.back().reason(), HasSubstr("provider dev answered"));
    // Not due before its retry time.
    EXPECT_EQ(Step(), 0);
    clock_.Advance(expected[attempt]);
  }
  EXPECT_FALSE(ledger_.Get("t1").done);
  EXPECT_EQ(dev_.calls(), 4);
}

INSTANTIATE_TEST_SUITE_P(Codes, TransientTest,
                         ::testing::Values(grpc::StatusCode::UNAVAILABLE,
                                           grpc::StatusCode::DEADLINE_EXCEEDED,
                                           grpc::StatusCode::RESOURCE_EXHAUSTED,
                                           grpc::StatusCode::ABORTED, grpc::StatusCode::INTERNAL,
                                           grpc::StatusCode::UNKNOWN));

TEST_F(CourierTest, FallsBackToPrintAtTheRetryDeadline) {
  dev_.Answer(grpc::StatusCode::UNAVAILABLE, "down for maintenance");
  config_.breaker_failures = 100;
  config_.retry_deadline = absl::Seconds(10);
  ledger_.Add("t1", kDeliver, LetterAt(dev_provider_, "15076500565"), {"doc"});
  MakeCourier();
  int steps = 0;
  while (!ledger_.Get("t1").done && steps++ < 20) {
    Step();
    clock_.Advance(absl::Seconds(5));
  }
  // Retried until the deadline (the last retry exactly at it), never after.
  auto fails = ledger_.fails();
  ASSERT_FALSE(fails.empty());
  for (const auto& f : fails)
    EXPECT_LE(common::FromProto(f.retry_at()), kStart + absl::Seconds(10));
  const internal::v1::CompleteTaskRequest& c = Completion("t1");
  ASSERT_EQ(c.next_tasks_size(), 1);
  EXPECT_EQ(c.next_tasks(0).kind(), internal::v1::TASK_KIND_PRINT);
  EXPECT_EQ(c.next_tasks(0).reason(), v1::STATUS_REASON_DIGITAL_DELIVERY_FAILED);
  EXPECT_THAT(c.next_tasks(0).detail(), HasSubstr("retry deadline passed"));
  EXPECT_THAT(c.next_tasks(0).detail(), HasSubstr("down for maintenance"));
}

TEST_F(CourierTest, DigitalOnlyFailsInsteadOfPrinting) {
  dev_.Answer(grpc::StatusCode::FAILED_PRECONDITION, "mailbox closed");
  ledger_.Add("t1", kDeliver,
              LetterAt(dev_provider_, "15076500565", v1::CHANNEL_POLICY_DIGITAL_ONLY), {"doc"});
  MakeCourier();
  Step();
  const internal::v1::CompleteTaskRequest& c = Completion("t1");
  EXPECT_EQ(c.transition().status(), v1::LETTER_STATUS_FAILED);
  EXPECT_EQ(c.transition().reason(), v1::STATUS_REASON_DIGITAL_DELIVERY_FAILED);
  EXPECT_THAT(c.transition().detail(), HasSubstr("mailbox closed"));
  EXPECT_EQ(c.next_tasks_size(), 0);
  EXPECT_EQ(ledger_.Get("t1").letter_status, v1::LETTER_STATUS_FAILED);
}

TEST_F(CourierTest, ARegistryThatNoLongerKnowsTheMailboxSendsTheLetterToPrint) {
  internal::v1::TaskLetter letter = Letter(Person("17059121030"));  // no registry entry
  ledger_.Add("t1", kDeliver, letter, {"doc"});
  MakeCourier();
  Step();
  EXPECT_EQ(dev_.calls(), 0);
  const internal::v1::CompleteTaskRequest& c = Completion("t1");
  ASSERT_EQ(c.next_tasks_size(), 1);
  EXPECT_EQ(c.next_tasks(0).kind(), internal::v1::TASK_KIND_PRINT);
  EXPECT_THAT(c.next_tasks(0).detail(), HasSubstr("no registry entry"));
}

TEST_F(CourierTest, AnUnsupportedSecurityLevelSendsTheLetterToPrint) {
  v1::Provider substantial = dev_provider_;
  substantial.set_max_security_level(v1::SECURITY_LEVEL_SUBSTANTIAL);
  internal::v1::TaskLetter letter = LetterAt(substantial, "15076500565");
  letter.mutable_options()->set_security_level(v1::SECURITY_LEVEL_HIGH);
  ledger_.Add("t1", kDeliver, letter, {"doc"});
  MakeCourier();
  Step();
  EXPECT_EQ(dev_.calls(), 0);
  EXPECT_THAT(Completion("t1").next_tasks(0).detail(), HasSubstr("security level"));
}

TEST_F(CourierTest, UnreadAtTheDeadlineGoesToPrintAndAReadLetterDoesNot) {
  ledger_.Add("unread", internal::v1::TASK_KIND_CHECK_UNREAD, Letter(Person("15076500565")), {},
              v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  ledger_.Add("read", internal::v1::TASK_KIND_CHECK_UNREAD, Letter(Person("15076500565")), {},
              v1::LETTER_STATUS_READ);
  MakeCourier();
  EXPECT_EQ(Step(), 2);
  const internal::v1::CompleteTaskRequest& c = Completion("unread");
  EXPECT_EQ(c.transition().expected_status(), v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  EXPECT_EQ(c.transition().status(), v1::LETTER_STATUS_UNSPECIFIED);
  ASSERT_EQ(c.next_tasks_size(), 1);
  EXPECT_EQ(c.next_tasks(0).kind(), internal::v1::TASK_KIND_PRINT);
  EXPECT_EQ(c.next_tasks(0).reason(), v1::STATUS_REASON_UNREAD_PAST_DEADLINE);
  EXPECT_FALSE(ledger_.Get("read").completion.has_value());
  EXPECT_TRUE(ledger_.Get("read").done);
  EXPECT_EQ(courier_->stats().unread_to_print, 1u);
  EXPECT_EQ(courier_->stats().unread_read, 1u);
}

TEST_F(CourierTest, AResentCompletionWithoutStatusChangeThatFindsItsTaskGoneIsDone) {
  ledger_.Add("t1", internal::v1::TASK_KIND_CHECK_UNREAD, Letter(Person("15076500565")), {},
              v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  // The first send applies but its reply is lost; the resend finds the task finished
  // (NOT_FOUND).
  ledger_.LoseCompletionReplies(1);
  MakeCourier();
  Step();
  EXPECT_EQ(courier_->stats().unread_to_print, 1u);
  EXPECT_EQ(courier_->stats().completion_errors, 0u);
}

TEST_F(CourierTest, ASlowProviderHoldsOnlyItsShareAndItsDeadlineFires) {
  other_.BeSlow();
  config_.provider_timeout = absl::Milliseconds(500);
  config_.max_in_flight_per_provider = 2;
  config_.breaker_failures = 100;
  const char* people[] = {"15076500565", "02028234530", "17059121030"};
  for (int i = 0; i < 3; ++i) {
    ledger_.Add(absl::StrCat("slow", i), kDeliver, LetterAt(other_provider_, people[i]), {"doc"});
  }
  for (int i = 0; i < 2; ++i) {
    ledger_.Add(absl::StrCat("fast", i), kDeliver, LetterAt(dev_provider_, "09116441796"), {"doc"});
  }
  MakeCourier();
  // Leasing hands the deliveries to the pool and returns; it never waits for a provider.
  absl::StatusOr<int> leased = courier_->LeaseOnce();
  ASSERT_TRUE(leased.ok());
  EXPECT_EQ(*leased, 5);
  courier_->AwaitIdle();
  // Both letters to the fast provider were delivered. The slow provider had its share (two
  // calls), which their deadline ended; its third letter was given back at once, without a
  // call.
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(ledger_.Get(absl::StrCat("fast", i)).done);
  EXPECT_EQ(other_.calls(), 2);
  EXPECT_EQ(courier_->stats().busy, 1u);
  std::vector<std::string> reasons;
  for (const auto& f : ledger_.fails()) reasons.push_back(f.reason());
  EXPECT_THAT(reasons, ::testing::UnorderedElementsAre(HasSubstr("DEADLINE_EXCEEDED"),
                                                       HasSubstr("DEADLINE_EXCEEDED"),
                                                       HasSubstr("at its share")));
}

TEST_F(CourierTest, AFailingProviderIsBackedOffAsAWholeNotRetriedByEveryLetter) {
  dev_.Answer(grpc::StatusCode::UNAVAILABLE);
  config_.breaker_failures = 2;
  config_.max_in_flight_per_provider = 1;
  config_.max_in_flight = 1;
  config_.batch_size = 1;
  for (int i = 0; i < 6; ++i) {
    ledger_.Add(absl::StrCat("t", i), kDeliver, LetterAt(dev_provider_, "15076500565"), {"doc"});
  }
  MakeCourier();
  for (int i = 0; i < 6; ++i) Step();
  // Two failures open the breaker; the other letters are given back without a call.
  EXPECT_EQ(dev_.calls(), 2);
  EXPECT_EQ(courier_->stats().backed_off, 4u);
  // After the cool-off (backoff_min) one letter probes; it fails and the breaker opens for
  // twice as long.
  clock_.Advance(absl::Seconds(1));
  for (int i = 0; i < 3; ++i) Step();
  EXPECT_EQ(dev_.calls(), 3);
  // The provider is back: the next probe succeeds and the breaker closes.
  dev_.Answer(grpc::StatusCode::OK);
  clock_.Advance(absl::Minutes(5));
  for (int i = 0; i < 12; ++i) Step();
  EXPECT_EQ(dev_.mailbox().size(), 6u);
}

TEST_F(CourierTest, ReceiptsRecordReadAndAReceiptForAnotherProvidersLetterChangesNothing) {
  internal::v1::TaskLetter mine = Letter(Person("15076500565"));
  internal::v1::TaskLetter theirs = Letter(Person("02028234530"));
  ledger_.Add("mine", kDeliver, mine, {"doc"});
  ledger_.Add("theirs", kDeliver, theirs, {"doc"});
  ledger_.SetLetter("mine", v1::LETTER_STATUS_DELIVERED_DIGITALLY, "dev");
  ledger_.SetLetter("theirs", v1::LETTER_STATUS_DELIVERED_DIGITALLY, "other");
  dev_.AddReceipt("r1", mine.letter_id());
  dev_.AddReceipt("r2", theirs.letter_id());
  dev_.AddReceipt("r3", "NO-SUCH-LETTER");
  dev_.AddReceipt("r4", mine.letter_id(), provider::v1::RECEIPT_KIND_UNSPECIFIED);
  MakeCourier();
  absl::StatusOr<int> pulled = courier_->PullReceiptsOnce("dev");
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(*pulled, 4);
  EXPECT_EQ(ledger_.Get("mine").letter_status, v1::LETTER_STATUS_READ);
  EXPECT_EQ(ledger_.Get("theirs").letter_status, v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  auto records = ledger_.records();
  ASSERT_THAT(records, SizeIs(3));  // the malformed one never reaches the ledger
  for (const auto& r : records) {
    EXPECT_EQ(r.provider_id(), "dev");
    EXPECT_EQ(r.transition().expected_status(), v1::LETTER_STATUS_DELIVERED_DIGITALLY);
    EXPECT_EQ(r.transition().status(), v1::LETTER_STATUS_READ);
    EXPECT_EQ(r.transition().reason(), v1::STATUS_REASON_RECIPIENT_OPENED);
  }
  // All four are acknowledged: refused ones are not offered again.
  EXPECT_THAT(dev_.acknowledged(), ::testing::UnorderedElementsAre("r1", "r2", "r3", "r4"));
  EXPECT_EQ(courier_->stats().receipts_recorded, 1u);
  EXPECT_EQ(courier_->stats().receipts_refused, 3u);
}

// The recipient may read before the courier has recorded the delivery: the ledger does not
// know the provider has the letter yet. A recent receipt is kept, not dropped, and recorded
// once the delivery is; an old one is let go.
TEST_F(CourierTest, AReadReportedBeforeItsDeliveryIsRecordedIsKeptUntilItCanBe) {
  internal::v1::TaskLetter early = Letter(Person("15076500565"));
  internal::v1::TaskLetter stale = Letter(Person("02028234530"));
  ledger_.Add("early", kDeliver, early, {"doc"});
  ledger_.Add("stale", kDeliver, stale, {"doc"});
  ledger_.SetLetter("early", v1::LETTER_STATUS_ROUTED, "");
  ledger_.SetLetter("stale", v1::LETTER_STATUS_ROUTED, "");
  dev_.AddReceipt("r1", early.letter_id(), provider::v1::RECEIPT_KIND_READ, clock_.Now());
  dev_.AddReceipt("r2", stale.letter_id(), provider::v1::RECEIPT_KIND_READ,
                  clock_.Now() - absl::Hours(1));
  MakeCourier();
  ASSERT_TRUE(courier_->PullReceiptsOnce("dev").ok());
  EXPECT_THAT(dev_.acknowledged(), ElementsAre("r2"));  // the old one is let go
  EXPECT_EQ(courier_->stats().receipts_kept, 1u);
  // The delivery is recorded; the next pull records the read.
  ledger_.SetLetter("early", v1::LETTER_STATUS_DELIVERED_DIGITALLY, "dev");
  ASSERT_TRUE(courier_->PullReceiptsOnce("dev").ok());
  EXPECT_THAT(dev_.acknowledged(), ::testing::UnorderedElementsAre("r1", "r2"));
  EXPECT_EQ(ledger_.Get("early").letter_status, v1::LETTER_STATUS_READ);
}

TEST_F(CourierTest, AReceiptTheLedgerCannotTakeNowIsKeptForTheNextPull) {
  internal::v1::TaskLetter mine = Letter(Person("15076500565"));
  ledger_.Add("mine", kDeliver, mine, {"doc"});
  ledger_.SetLetter("mine", v1::LETTER_STATUS_DELIVERED_DIGITALLY, "dev");
  dev_.AddReceipt("r1", mine.letter_id());
  ledger_.FailRecords(grpc::StatusCode::UNAVAILABLE, 1);
  MakeCourier();
  ASSERT_TRUE(courier_->PullReceiptsOnce("dev").ok());
  EXPECT_THAT(dev_.acknowledged(), SizeIs(0));
  ASSERT_TRUE(courier_->PullReceiptsOnce("dev").ok());
  EXPECT_THAT(dev_.acknowledged(), ElementsAre("r1"));
  EXPECT_EQ(ledger_.Get("mine").letter_status, v1::LETTER_STATUS_READ);
}

TEST_F(CourierTest, AfterACourierDiesAnotherDeliversAndTheProviderHasTheLetterOnce) {
  internal::v1::TaskLetter letter = LetterAt(dev_provider_, "15076500565");
  ledger_.Add("t1", kDeliver, letter, {"doc"});
  // The first courier delivers but never gets its completion through, then dies.
  ledger_.FailCompletions(grpc::StatusCode::UNAVAILABLE, 3);
  MakeCourier();
  Step();
  courier_->Stop();
  courier_.reset();
  EXPECT_FALSE(ledger_.Get("t1").done);
  EXPECT_EQ(dev_.mailbox().size(), 1u);

  // Its lease expires; a second courier leases the task and delivers again.
  clock_.Advance(config_.lease_for + absl::Seconds(1));
  MakeCourier();
  EXPECT_EQ(Step(), 1);
  EXPECT_EQ(ledger_.Get("t1").letter_status, v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  EXPECT_EQ(dev_.calls(), 2);
  EXPECT_EQ(dev_.replays(), 1);
  EXPECT_EQ(dev_.mailbox().size(), 1u);
  EXPECT_EQ(courier_->stats().provider_replays, 1u);
}

TEST_F(CourierTest, AStaleLeaseIsDropped) {
  ledger_.Add("t1", kDeliver, LetterAt(dev_provider_, "15076500565"), {"doc"});
  ledger_.FailCompletions(grpc::StatusCode::ABORTED, 1);
  MakeCourier();
  Step();
  EXPECT_EQ(courier_->stats().dropped, 1u);
  EXPECT_THAT(ledger_.fails(), SizeIs(0));
}

TEST_F(CourierTest, AnUnusableProviderCertificateSendsTheLetterToPrint) {
  v1::Provider broken = dev_provider_;
  broken.set_encryption_certificate_pem("unusable");
  ledger_.Add("t1", kDeliver, LetterAt(broken, "15076500565"), {"doc"});
  MakeCourier();
  Step();
  EXPECT_TRUE(dev_.mailbox().empty());
  EXPECT_THAT(Completion("t1").next_tasks(0).detail(), HasSubstr("encryption certificate"));
}

TEST_F(CourierTest, AFullPoolLeasesAgainWhenADeliveryEndsNotAPollIntervalLater) {
  // One delivery at a time, each 50 ms at the provider, and a poll interval of 10 s: a lease
  // loop that found the pool full and slept a poll interval would leave the other letters
  // for 10 s. It waits for room instead, so the four go one after the other.
  config_.max_in_flight = 1;
  config_.max_in_flight_per_provider = 1;
  config_.batch_size = 1;
  config_.poll_interval = absl::Seconds(10);
  dev_.SetDelay(absl::Milliseconds(50));
  const char* people[] = {"15076500565", "02028234530", "17059121030", "09116441796"};
  for (int i = 0; i < 4; ++i) {
    ledger_.Add(absl::StrCat("t", i), kDeliver, LetterAt(dev_provider_, people[i]), {"doc"});
  }
  MakeCourier();
  ASSERT_TRUE(courier_->Start().ok());
  auto all_done = [&] {
    for (int i = 0; i < 4; ++i) {
      if (!ledger_.Get(absl::StrCat("t", i)).done) return false;
    }
    return true;
  };
  // Well under one poll interval, however slow the machine.
  for (int i = 0; i < 1000 && !all_done(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(all_done());
  EXPECT_EQ(dev_.calls(), 4);
  courier_->Stop();
}

TEST_F(CourierTest, WhileEveryProviderIsBackedOffTheLoopsDoNotChurnTheQueue) {
  // The only provider is down: its breaker opens at the first failure. Leasing on would give
  // each of the 50 letters back at once (a synced FailTask each); the loops wait for the
  // cool-off instead (1 s here, on the courier's clock).
  dev_.Answer(grpc::StatusCode::UNAVAILABLE, "down");
  config_.breaker_failures = 1;
  config_.max_in_flight = 1;
  config_.max_in_flight_per_provider = 1;
  config_.batch_size = 1;
  for (int i = 0; i < 50; ++i) {
    ledger_.Add(absl::StrCat("t", i), kDeliver, LetterAt(dev_provider_, "15076500565"), {"doc"});
  }
  MakeCourier();
  ASSERT_TRUE(courier_->Start().ok());
  for (int i = 0; i < 100 && dev_.calls() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(dev_.calls(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  courier_->Stop();
  EXPECT_EQ(dev_.calls(), 1);
  EXPECT_LT(ledger_.fails().size(), 10u) << "the loops gave the queue back while waiting";
}

TEST_F(CourierTest, CompletionsThatFinishDuringACallGoTogetherInTheNext) {
  // Each CompleteTasks call takes 200 ms at the ledger; eight deliveries end at about the same
  // time. The first completion goes alone; the others wait for it and then go in one call.
  ledger_.EnableCompleteTasks(absl::Milliseconds(200));
  config_.max_in_flight = 8;
  config_.max_in_flight_per_provider = 8;
  for (int i = 0; i < 8; ++i) {
    ledger_.Add(absl::StrCat("t", i), kDeliver, LetterAt(dev_provider_, "15076500565"), {"doc"});
  }
  MakeCourier();
  EXPECT_EQ(Step(), 8);
  for (int i = 0; i < 8; ++i) {
    const FakeLedger::Entry e = ledger_.Get(absl::StrCat("t", i));
    EXPECT_TRUE(e.done) << i;
    EXPECT_EQ(e.letter_status, v1::LETTER_STATUS_DELIVERED_DIGITALLY) << i;
  }
  EXPECT_EQ(courier_->stats().delivered, 8u);
  const std::vector<int> batches = ledger_.completion_batches();
  int completed = 0;
  for (int n : batches) completed += n;
  EXPECT_EQ(completed, 8);
  EXPECT_LT(batches.size(), 8u) << "every completion went in a call of its own";
  EXPECT_EQ(ledger_.complete_task_calls(), 0);
}

TEST_F(CourierTest, EachCompletionInACallGetsItsOwnOutcome) {
  ledger_.EnableCompleteTasks(absl::ZeroDuration());
  ledger_.Add("t1", kDeliver, LetterAt(dev_provider_, "15076500565"), {"doc"});
  ledger_.Add("t2", kDeliver, LetterAt(dev_provider_, "02028234530"), {"doc"});
  // t2's letter was cancelled while it was delivered: FAILED_PRECONDITION for it alone.
  ledger_.SetLetter("t2", v1::LETTER_STATUS_CANCELLED, "");
  MakeCourier();
  EXPECT_EQ(Step(), 2);
  EXPECT_EQ(ledger_.Get("t1").letter_status, v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  EXPECT_EQ(ledger_.Get("t2").letter_status, v1::LETTER_STATUS_CANCELLED);
  EXPECT_EQ(courier_->stats().delivered, 1u);
  EXPECT_EQ(courier_->stats().dropped, 1u);
}

TEST_F(CourierTest, ALedgerWithoutCompleteTasksGetsOneCompleteTaskPerLetter) {
  // The fake ledger answers CompleteTasks UNIMPLEMENTED, as an earlier release does.
  for (int i = 0; i < 3; ++i) {
    ledger_.Add(absl::StrCat("t", i), kDeliver, LetterAt(dev_provider_, "15076500565"), {"doc"});
  }
  MakeCourier();
  EXPECT_EQ(Step(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ledger_.Get(absl::StrCat("t", i)).letter_status,
              v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  }
  EXPECT_EQ(ledger_.complete_task_calls(), 3);
  EXPECT_EQ(courier_->stats().delivered, 3u);
}

TEST_F(CourierTest, StartAndStopWithTheLoopsRunning) {
  config_.receipt_providers = {"dev"};
  ledger_.Add("t1", kDeliver, LetterAt(dev_provider_, "15076500565"), {"doc"});
  MakeCourier();
  ASSERT_TRUE(courier_->Start().ok());
  for (int i = 0; i < 1000 && !ledger_.Get("t1").done; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(ledger_.Get("t1").done);
  courier_->Stop();
  EXPECT_FALSE(courier_->Start().ok());
}

}  // namespace
}  // namespace utpost::courier
