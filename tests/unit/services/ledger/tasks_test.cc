// Task leasing in the ledger without gRPC: a real RocksDB in a temp dir (reopened where a
// test restarts the ledger), a real file key store and an injected clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "common/field_violations.h"
#include "crypto/file_key_store.h"
#include "services/ledger/ledger.h"
#include "services/ledger/task_validation.h"
#include "tests/testutil/pdfs.h"
#include "tests/testutil/test_stack.h"

namespace utpost::ledger {
namespace {

using internal::v1::CompleteTaskRequest;
using internal::v1::FailTaskRequest;
using internal::v1::LeaseTasksRequest;
using internal::v1::TaskKind;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using testutil::ValidLetter;

constexpr TaskKind kRoute = internal::v1::TASK_KIND_ROUTE;
constexpr TaskKind kPrint = internal::v1::TASK_KIND_PRINT;
constexpr TaskKind kDeliver = internal::v1::TASK_KIND_DELIVER_DIGITAL;

std::vector<std::string> FieldsOf(const absl::Status& status) {
  std::vector<std::string> fields;
  if (auto bad = common::GetBadRequest(status)) {
    for (const auto& v : bad->field_violations()) fields.push_back(v.field());
  }
  return fields;
}

class TasksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::FileKeyStore::EnsureKey(dir_.path() / "keys").ok());
    auto keys = crypto::FileKeyStore::Open(dir_.path() / "keys");
    ASSERT_TRUE(keys.ok());
    keys_ = std::move(*keys);
    Open();
  }

  void Open() {
    auto db = storage::Db::Open({.path = dir_.path() / "ledger"});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    store_ = std::make_unique<storage::LedgerStore>(*db_);
    auto ledger = Ledger::Create(config_, *store_, *keys_, clock_);
    ASSERT_TRUE(ledger.ok());
    ledger_ = std::move(*ledger);
  }

  // As a restart does: everything closed, then opened again from the directory.
  void Restart() {
    ledger_.reset();
    store_.reset();
    db_.reset();
    Open();
  }

  std::string Send(std::string_view org = testutil::kOslo) {
    v1::SendLetterRequest request = ValidLetter("x");
    request.mutable_postal_address()->set_name("Kari Nordmann");
    request.mutable_postal_address()->add_address_lines("Storgata 1");
    request.mutable_postal_address()->set_postal_code("0155");
    request.mutable_postal_address()->set_city("Oslo");
    request.mutable_postal_address()->set_country_code("NO");
    auto r = ledger_->SendLetter(org, request);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->letter_id() : "";
  }

  absl::StatusOr<internal::v1::LeaseTasksResponse> Lease(
      TaskKind kind, uint32_t max = 10, absl::Duration lease_for = absl::Seconds(30)) {
    LeaseTasksRequest request;
    request.set_kind(kind);
    request.set_max_tasks(max);
    request.mutable_lease_for()->set_seconds(absl::ToInt64Seconds(lease_for));
    request.set_worker("router-test");
    return ledger_->LeaseTasks(request);
  }

  // Leases exactly one task of `kind`.
  internal::v1::Task LeaseOne(TaskKind kind) {
    auto leased = Lease(kind, 1);
    EXPECT_TRUE(leased.ok()) << leased.status();
    if (!leased.ok() || leased->tasks_size() != 1) {
      ADD_FAILURE() << "no task of kind " << kind << " was due";
      return {};
    }
    return leased->tasks(0);
  }

  static CompleteTaskRequest Routed(const std::string& token,
                                    v1::Channel channel = v1::CHANNEL_PRINT,
                                    v1::StatusReason reason = v1::STATUS_REASON_RECIPIENT_RESERVED,
                                    std::vector<TaskKind> next = {kPrint}) {
    CompleteTaskRequest request;
    request.set_lease_token(token);
    auto* t = request.mutable_transition();
    t->set_expected_status(v1::LETTER_STATUS_ACCEPTED);
    t->set_status(v1::LETTER_STATUS_ROUTED);
    t->set_reason(reason);
    t->set_channel(channel);
    t->set_detail("reserved against digital mail");
    for (TaskKind kind : next) request.add_next_tasks()->set_kind(kind);
    return request;
  }

  static FailTaskRequest Failed(const std::string& token, absl::Time retry_at) {
    FailTaskRequest request;
    request.set_lease_token(token);
    request.mutable_retry_at()->set_seconds(absl::ToUnixSeconds(retry_at));
    request.set_reason("registry unreachable");
    return request;
  }

  v1::GetLetterResponse Get(const std::string& id) {
    v1::GetLetterRequest request;
    request.set_letter_id(id);
    auto got = ledger_->GetLetter(testutil::kOslo, request);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : v1::GetLetterResponse();
  }

  storage::LetterRecord Record(const std::string& id) {
    auto record = store_->GetLetter(*common::DecodeLetterId(id));
    EXPECT_TRUE(record.ok() && record->has_value());
    return record.ok() && record->has_value() ? **record : storage::LetterRecord();
  }

  std::vector<storage::TaskRecord> Queued(storage::v1::TaskKind kind) {
    auto tasks = store_->QueuedTasks(kind, 1000);
    EXPECT_TRUE(tasks.ok()) << tasks.status();
    return tasks.ok() ? *tasks : std::vector<storage::TaskRecord>();
  }

  // Delivers the letter (routed to a mailbox, then DELIVERED_DIGITALLY by provider "dev"),
  // queueing `next` with the delivery.
  void Deliver(std::vector<internal::v1::NextTask> next = {}) {
    ASSERT_TRUE(
        ledger_
            ->CompleteTask(Routed(LeaseOne(kRoute).lease_token(), v1::CHANNEL_DIGITAL_MAILBOX,
                                  v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, {kDeliver}))
            .ok());
    CompleteTaskRequest delivered;
    delivered.set_lease_token(LeaseOne(kDeliver).lease_token());
    auto* t = delivered.mutable_transition();
    t->set_expected_status(v1::LETTER_STATUS_ROUTED);
    t->set_status(v1::LETTER_STATUS_DELIVERED_DIGITALLY);
    t->set_reason(v1::STATUS_REASON_PROVIDER_CONFIRMED);
    t->set_channel(v1::CHANNEL_DIGITAL_MAILBOX);
    t->set_provider_id("dev");
    for (auto& n : next) *delivered.add_next_tasks() = n;
    auto done = ledger_->CompleteTask(delivered);
    ASSERT_TRUE(done.ok()) << done.status();
  }

  LedgerConfig config_;
  testutil::TempDir dir_;
  common::FakeClock clock_{absl::FromUnixSeconds(1'790'000'000)};
  std::unique_ptr<crypto::FileKeyStore> keys_;
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<storage::LedgerStore> store_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(TasksTest, AnAcceptedLetterIsLeasedToTheRouterWithItsLetterOpened) {
  const std::string id = Send();
  const storage::LetterRecord record = Record(id);
  ASSERT_EQ(record.pending_task_ids_size(), 1);

  auto leased = Lease(kRoute);
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_EQ(leased->tasks_size(), 1);
  const internal::v1::Task& task = leased->tasks(0);
  EXPECT_EQ(task.task_id(), record.pending_task_ids(0));
  EXPECT_EQ(task.kind(), kRoute);
  EXPECT_EQ(task.attempt(), 0u);
  EXPECT_EQ(task.create_time().seconds(), 1'790'000'000);
  EXPECT_EQ(task.lease_expire_time().seconds(), 1'790'000'030);
  EXPECT_FALSE(task.lease_token().empty());
  const internal::v1::TaskLetter& letter = task.letter();
  EXPECT_EQ(letter.letter_id(), id);
  EXPECT_EQ(letter.sender(), testutil::kOslo);
  EXPECT_EQ(letter.status(), v1::LETTER_STATUS_ACCEPTED);
  EXPECT_EQ(letter.recipient().person().norwegian_national_id(), testutil::kCitizen);
  EXPECT_EQ(letter.postal_address().city(), "Oslo");
  EXPECT_EQ(letter.options().channel_policy(), v1::CHANNEL_POLICY_AUTO);
  EXPECT_EQ(letter.options().security_level(), v1::SECURITY_LEVEL_SUBSTANTIAL);
  EXPECT_EQ(letter.document_count(), 1u);
  // Checked at acceptance, so print need not read the document to know.
  ASSERT_EQ(letter.printability_size(), 1);
  EXPECT_TRUE(letter.printability(0).printable()) << letter.printability(0).problem();
  EXPECT_EQ(letter.printability(0).page_count(), 1u);

  // Leased: not due again while the lease lasts, and not a task of another kind.
  auto again = Lease(kRoute);
  ASSERT_TRUE(again.ok());
  EXPECT_THAT(again->tasks(), IsEmpty());
  auto print = Lease(kPrint);
  ASSERT_TRUE(print.ok());
  EXPECT_THAT(print->tasks(), IsEmpty());
}

TEST_F(TasksTest, ALetterThatCannotBePrintedSaysWhyAtLeaseAndADigitalOnlyOneIsNotChecked) {
  v1::SendLetterRequest request = ValidLetter("x");
  *request.add_documents() = request.documents(0);
  request.mutable_documents(1)->set_filename("kart.pdf");
  request.mutable_documents(1)->set_content(
      testutil::MakePdf({testutil::kA4Page, {.width = 842, .height = 595}}));
  auto sent = ledger_->SendLetter(testutil::kOslo, request);
  ASSERT_TRUE(sent.ok()) << sent.status();  // AUTO: digital delivery may not need print

  request.clear_documents();
  *request.add_documents() = ValidLetter("y").documents(0);
  request.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_DIGITAL_ONLY);
  auto digital = ledger_->SendLetter(testutil::kOslo, request);
  ASSERT_TRUE(digital.ok()) << digital.status();

  auto leased = Lease(kRoute);
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_EQ(leased->tasks_size(), 2);
  for (const internal::v1::Task& task : leased->tasks()) {
    const internal::v1::TaskLetter& letter = task.letter();
    if (letter.letter_id() == digital->letter_id()) {
      EXPECT_THAT(letter.printability(), IsEmpty());
      continue;
    }
    ASSERT_EQ(letter.printability_size(), 2);
    EXPECT_TRUE(letter.printability(0).printable());
    EXPECT_FALSE(letter.printability(1).printable());
    EXPECT_THAT(letter.printability(1).problem(), HasSubstr("page 2 is landscape"));
    EXPECT_EQ(letter.printability(1).page_count(), 2u);
  }
}

TEST_F(TasksTest, LeasesTheOldestDueFirstAndAtMostMaxTasks) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Send());
    clock_.Advance(absl::Milliseconds(3));
  }
  auto first = Lease(kRoute, 3);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->tasks_size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(first->tasks(i).letter().letter_id(), ids[i]);
  auto rest = Lease(kRoute, 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->tasks_size(), 2);
  EXPECT_EQ(rest->tasks(0).letter().letter_id(), ids[3]);
  EXPECT_EQ(rest->tasks(1).letter().letter_id(), ids[4]);
}

TEST_F(TasksTest, CompletionAppliesTheTransitionAndQueuesTheNextTaskInOneSyncedWrite) {
  const std::string id = Send();
  const internal::v1::Task task = LeaseOne(kRoute);
  const uint64_t watermark = ledger_->feed().Watermark(testutil::kOslo);
  const uint64_t syncs = db_->Ticker(rocksdb::WAL_FILE_SYNCED);

  auto done = ledger_->CompleteTask(Routed(task.lease_token()));
  ASSERT_TRUE(done.ok()) << done.status();
  // One write, synced: the event, the feed entry, the letter, the finished task and the next.
  EXPECT_EQ(db_->Ticker(rocksdb::WAL_FILE_SYNCED), syncs + 1);
  EXPECT_FALSE(done->replayed());
  EXPECT_EQ(done->letter().status(), v1::LETTER_STATUS_ROUTED);
  EXPECT_EQ(done->letter().channel(), v1::CHANNEL_PRINT);

  const v1::GetLetterResponse got = Get(id);
  EXPECT_EQ(got.letter().status(), v1::LETTER_STATUS_ROUTED);
  ASSERT_EQ(got.events_size(), 2);
  EXPECT_EQ(got.events(1).reason(), v1::STATUS_REASON_RECIPIENT_RESERVED);
  EXPECT_EQ(got.events(1).channel(), v1::CHANNEL_PRINT);
  EXPECT_EQ(got.events(1).detail(), "reserved against digital mail");
  // The event reaches the watch feed.
  EXPECT_EQ(ledger_->feed().Watermark(testutil::kOslo), watermark + 1);
  auto feed = ledger_->ReadEvents(testutil::kOslo, watermark, 10);
  ASSERT_TRUE(feed.ok());
  ASSERT_EQ(feed->size(), 1u);
  EXPECT_EQ((*feed)[0].status(), v1::LETTER_STATUS_ROUTED);
  EXPECT_EQ((*feed)[0].detail(), "reserved against digital mail");

  // The route task is gone; the print task is queued, and is the letter's pending task.
  EXPECT_THAT(Queued(storage::v1::TASK_KIND_ROUTE), IsEmpty());
  const auto print_tasks = Queued(storage::v1::TASK_KIND_PRINT);
  ASSERT_EQ(print_tasks.size(), 1u);
  EXPECT_THAT(Record(id).pending_task_ids(), ElementsAre(print_tasks[0].task_id()));
  const internal::v1::Task print = LeaseOne(kPrint);
  EXPECT_EQ(print.letter().status(), v1::LETTER_STATUS_ROUTED);
  EXPECT_EQ(print.letter().channel(), v1::CHANNEL_PRINT);
  EXPECT_EQ(print.attempt(), 0u);
}

TEST_F(TasksTest, ANextTaskWaitsForItsDueTime) {
  Send();
  const internal::v1::Task task = LeaseOne(kRoute);
  CompleteTaskRequest request = Routed(task.lease_token(), v1::CHANNEL_DIGITAL_MAILBOX,
                                       v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, {kDeliver});
  request.mutable_next_tasks(0)->mutable_due_time()->set_seconds(
      absl::ToUnixSeconds(clock_.Now() + absl::Hours(2)));
  ASSERT_TRUE(ledger_->CompleteTask(request).ok());
  auto early = Lease(kDeliver);
  ASSERT_TRUE(early.ok());
  EXPECT_THAT(early->tasks(), IsEmpty());
  clock_.Advance(absl::Hours(2));
  EXPECT_EQ(LeaseOne(kDeliver).kind(), kDeliver);
}

TEST_F(TasksTest, ALeaseThatExpiresMakesTheTaskDueAgainAndItsTokenStale) {
  const std::string id = Send();
  // A worker leases the task and dies.
  const internal::v1::Task dead = LeaseOne(kRoute);
  clock_.Advance(absl::Seconds(29));
  auto during = Lease(kRoute);
  ASSERT_TRUE(during.ok());
  EXPECT_THAT(during->tasks(), IsEmpty());
  clock_.Advance(absl::Seconds(1));
  // Its lease has ended: another worker gets the task, as a second attempt.
  const internal::v1::Task second = LeaseOne(kRoute);
  EXPECT_EQ(second.task_id(), dead.task_id());
  EXPECT_EQ(second.attempt(), 1u);
  EXPECT_NE(second.lease_token(), dead.lease_token());

  // The first worker comes back: its completion and its failure are refused and change
  // nothing.
  const uint64_t watermark = ledger_->feed().Watermark(testutil::kOslo);
  auto late = ledger_->CompleteTask(Routed(dead.lease_token()));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kAborted) << late.status();
  auto late_fail = ledger_->FailTask(Failed(dead.lease_token(), clock_.Now()));
  EXPECT_EQ(late_fail.status().code(), absl::StatusCode::kAborted) << late_fail.status();
  EXPECT_EQ(Record(id).status(), v1::LETTER_STATUS_ACCEPTED);
  EXPECT_EQ(Record(id).event_count(), 1u);
  EXPECT_EQ(ledger_->feed().Watermark(testutil::kOslo), watermark);
  const auto queued = Queued(storage::v1::TASK_KIND_ROUTE);
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].attempt(), 2u);
  EXPECT_EQ(queued[0].lease_expire_time().seconds(), 1'790'000'060);

  // The current lease completes.
  EXPECT_TRUE(ledger_->CompleteTask(Routed(second.lease_token())).ok());
}

TEST_F(TasksTest, AnExpiredLeaseThatNoOneTookCompletes) {
  Send();
  const internal::v1::Task slow = LeaseOne(kRoute);
  clock_.Advance(absl::Minutes(5));
  auto done = ledger_->CompleteTask(Routed(slow.lease_token()));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->letter().status(), v1::LETTER_STATUS_ROUTED);
  auto after = Lease(kRoute);
  ASSERT_TRUE(after.ok());
  EXPECT_THAT(after->tasks(), IsEmpty());
}

TEST_F(TasksTest, ARetriedCompletionReturnsTheLetterAsItIs) {
  const std::string id = Send();
  const internal::v1::Task task = LeaseOne(kRoute);
  auto first = ledger_->CompleteTask(Routed(task.lease_token()));
  ASSERT_TRUE(first.ok()) << first.status();
  const uint64_t watermark = ledger_->feed().Watermark(testutil::kOslo);
  const auto print_tasks = Queued(storage::v1::TASK_KIND_PRINT);

  // The worker lost the reply and retries: the same answer, marked replayed, nothing written.
  auto again = ledger_->CompleteTask(Routed(task.lease_token()));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  EXPECT_EQ(again->letter().SerializeAsString(), first->letter().SerializeAsString());
  EXPECT_EQ(Record(id).event_count(), 2u);
  EXPECT_EQ(ledger_->feed().Watermark(testutil::kOslo), watermark);
  ASSERT_EQ(Queued(storage::v1::TASK_KIND_PRINT).size(), 1u);
  EXPECT_EQ(Queued(storage::v1::TASK_KIND_PRINT)[0].task_id(), print_tasks[0].task_id());

  // Still so after the letter moved on.
  const internal::v1::Task print = LeaseOne(kPrint);
  CompleteTaskRequest printed;
  printed.set_lease_token(print.lease_token());
  printed.mutable_transition()->set_expected_status(v1::LETTER_STATUS_ROUTED);
  printed.mutable_transition()->set_status(v1::LETTER_STATUS_QUEUED_FOR_PRINT);
  printed.mutable_transition()->set_reason(v1::STATUS_REASON_RECIPIENT_RESERVED);
  printed.mutable_transition()->set_channel(v1::CHANNEL_PRINT);
  ASSERT_TRUE(ledger_->CompleteTask(printed).ok());
  auto later = ledger_->CompleteTask(Routed(task.lease_token()));
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_TRUE(later->replayed());
  EXPECT_EQ(later->letter().status(), v1::LETTER_STATUS_QUEUED_FOR_PRINT);

  // A different decision for the same task is not a retry.
  auto other = ledger_->CompleteTask(Routed(task.lease_token(), v1::CHANNEL_DIGITAL_MAILBOX,
                                            v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, {kDeliver}));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAborted) << other.status();
  EXPECT_EQ(Record(id).event_count(), 3u);
}

TEST_F(TasksTest, ACancelledLetterIsNeverRouted) {
  const std::string id = Send();
  const internal::v1::Task task = LeaseOne(kRoute);
  v1::CancelLetterRequest cancel;
  cancel.set_letter_id(id);
  ASSERT_TRUE(ledger_->CancelLetter(testutil::kOslo, cancel).ok());
  // The cancel removed the task in its own write.
  EXPECT_THAT(Queued(storage::v1::TASK_KIND_ROUTE), IsEmpty());
  EXPECT_THAT(Record(id).pending_task_ids(), IsEmpty());

  const uint64_t watermark = ledger_->feed().Watermark(testutil::kOslo);
  auto routed = ledger_->CompleteTask(Routed(task.lease_token()));
  EXPECT_EQ(routed.status().code(), absl::StatusCode::kFailedPrecondition) << routed.status();
  EXPECT_EQ(Record(id).status(), v1::LETTER_STATUS_CANCELLED);
  EXPECT_EQ(Record(id).event_count(), 2u);
  EXPECT_EQ(ledger_->feed().Watermark(testutil::kOslo), watermark);
  EXPECT_THAT(Queued(storage::v1::TASK_KIND_PRINT), IsEmpty());
  auto fail = ledger_->FailTask(Failed(task.lease_token(), clock_.Now()));
  EXPECT_EQ(fail.status().code(), absl::StatusCode::kAborted);
}

TEST_F(TasksTest, ALetterThatMovedOnWithoutTheTaskFinishesIt) {
  const std::string id = Send();
  const internal::v1::Task task = LeaseOne(kRoute);
  Transition elsewhere{id, v1::LETTER_STATUS_ROUTED, v1::STATUS_REASON_HAS_DIGITAL_MAILBOX,
                       v1::CHANNEL_DIGITAL_MAILBOX, ""};
  ASSERT_TRUE(ledger_->ApplyTransition(testutil::kOslo, elsewhere).ok());
  auto routed = ledger_->CompleteTask(Routed(task.lease_token()));
  EXPECT_EQ(routed.status().code(), absl::StatusCode::kFailedPrecondition) << routed.status();
  // The task is finished, nothing else changed.
  EXPECT_THAT(Queued(storage::v1::TASK_KIND_ROUTE), IsEmpty());
  EXPECT_THAT(Record(id).pending_task_ids(), IsEmpty());
  EXPECT_EQ(Record(id).status(), v1::LETTER_STATUS_ROUTED);
  EXPECT_EQ(Record(id).event_count(), 2u);
  EXPECT_THAT(Queued(storage::v1::TASK_KIND_PRINT), IsEmpty());
}

TEST_F(TasksTest, AFinalStatusRemovesEveryPendingTask) {
  const std::string id = Send();
  const internal::v1::Task route = LeaseOne(kRoute);
  // Routed to a mailbox, with a print-if-unread task for later beside the delivery.
  CompleteTaskRequest routed = Routed(route.lease_token(), v1::CHANNEL_DIGITAL_MAILBOX,
                                      v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, {kDeliver, kPrint});
  routed.mutable_next_tasks(1)->mutable_due_time()->set_seconds(
      absl::ToUnixSeconds(clock_.Now() + absl::Hours(24 * 7)));
  ASSERT_TRUE(ledger_->CompleteTask(routed).ok());
  EXPECT_EQ(Record(id).pending_task_ids_size(), 2);

  const internal::v1::Task deliver = LeaseOne(kDeliver);
  CompleteTaskRequest failed;
  failed.set_lease_token(deliver.lease_token());
  failed.mutable_transition()->set_expected_status(v1::LETTER_STATUS_ROUTED);
  failed.mutable_transition()->set_status(v1::LETTER_STATUS_FAILED);
  failed.mutable_transition()->set_reason(v1::STATUS_REASON_DIGITAL_DELIVERY_FAILED);
  ASSERT_TRUE(ledger_->CompleteTask(failed).ok());
  // Only its retention task is left (LedgerConfig.retention).
  auto retention = Queued(storage::v1::TASK_KIND_RETENTION);
  ASSERT_EQ(retention.size(), 1u);
  EXPECT_THAT(Record(id).pending_task_ids(), ElementsAre(retention[0].task_id()));
  EXPECT_THAT(Queued(storage::v1::TASK_KIND_PRINT), IsEmpty());
  EXPECT_THAT(Queued(storage::v1::TASK_KIND_DELIVER_DIGITAL), IsEmpty());
}

TEST_F(TasksTest, FailingKeepsAndCountsAttemptsAndReschedules) {
  Send();
  const internal::v1::Task first = LeaseOne(kRoute);
  auto failed = ledger_->FailTask(Failed(first.lease_token(), clock_.Now() + absl::Minutes(1)));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->attempt(), 1u);
  EXPECT_EQ(failed->due_time().seconds(), 1'790'000'060);
  // Given back: the token is spent.
  EXPECT_EQ(ledger_->CompleteTask(Routed(first.lease_token())).status().code(),
            absl::StatusCode::kAborted);
  auto early = Lease(kRoute);
  ASSERT_TRUE(early.ok());
  EXPECT_THAT(early->tasks(), IsEmpty());
  EXPECT_EQ(Queued(storage::v1::TASK_KIND_ROUTE)[0].last_failure(), "registry unreachable");

  clock_.Advance(absl::Minutes(1));
  const internal::v1::Task second = LeaseOne(kRoute);
  EXPECT_EQ(second.attempt(), 1u);
  // A retry time in the past means now.
  failed = ledger_->FailTask(Failed(second.lease_token(), clock_.Now() - absl::Hours(1)));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->attempt(), 2u);
  EXPECT_EQ(failed->due_time().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_EQ(LeaseOne(kRoute).attempt(), 2u);
}

TEST_F(TasksTest, AttemptsAndBackoffSurviveARestart) {
  const std::string id = Send();
  const internal::v1::Task first = LeaseOne(kRoute);
  ASSERT_TRUE(ledger_->FailTask(Failed(first.lease_token(), clock_.Now() + absl::Minutes(5))).ok());
  const internal::v1::Task ignored = [&] {
    // A second letter whose worker dies holding its lease.
    Send();
    return LeaseOne(kRoute);
  }();

  Restart();

  // The backoff still holds: the first task is not due early, and the second's lease is still
  // running.
  auto after_restart = Lease(kRoute);
  ASSERT_TRUE(after_restart.ok()) << after_restart.status();
  EXPECT_THAT(after_restart->tasks(), IsEmpty());
  clock_.Advance(absl::Minutes(5));
  auto due = Lease(kRoute);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->tasks_size(), 2);
  EXPECT_EQ(due->tasks(0).task_id(), ignored.task_id());
  EXPECT_EQ(due->tasks(1).task_id(), first.task_id());
  EXPECT_EQ(due->tasks(1).letter().letter_id(), id);
  EXPECT_EQ(due->tasks(0).attempt(), 1u);
  EXPECT_EQ(due->tasks(1).attempt(), 1u);
  auto again = ledger_->FailTask(Failed(due->tasks(1).lease_token(), clock_.Now()));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->attempt(), 2u);
  // Tokens from before the restart are still judged by the stored attempt.
  EXPECT_EQ(ledger_->CompleteTask(Routed(ignored.lease_token())).status().code(),
            absl::StatusCode::kAborted);
  EXPECT_TRUE(ledger_->CompleteTask(Routed(due->tasks(0).lease_token())).ok());
}

// Cancel and completion race on many letters at once. Whichever takes the letter first
// wins; the other sees it. The router's decision (ACCEPTED -> ROUTED) may be followed by the
// cancel (ROUTED is cancellable), which then removes the delivery task; the courier's
// hand-over (ROUTED -> DELIVERED_DIGITALLY) and the cancel exclude each other.
TEST_F(TasksTest, CancelRacingCompletionExactlyOneWinsAndTheOtherSeesIt) {
  constexpr int kLetters = 60;
  std::vector<std::string> ids;
  for (int i = 0; i < kLetters; ++i) ids.push_back(Send());
  auto route = Lease(kRoute, kLetters);
  ASSERT_TRUE(route.ok());
  ASSERT_EQ(route->tasks_size(), kLetters);
  // Half are routed first, so the race for them is over the hand-over.
  for (int i = kLetters / 2; i < kLetters; ++i) {
    ASSERT_TRUE(
        ledger_
            ->CompleteTask(Routed(route->tasks(i).lease_token(), v1::CHANNEL_DIGITAL_MAILBOX,
                                  v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, {kDeliver}))
            .ok());
  }
  auto deliver = Lease(kDeliver, kLetters);
  ASSERT_TRUE(deliver.ok());
  ASSERT_EQ(deliver->tasks_size(), kLetters / 2);
  std::map<std::string, std::string> deliver_token;  // letter id -> token
  for (const auto& task : deliver->tasks()) {
    deliver_token[task.letter().letter_id()] = task.lease_token();
  }

  std::vector<absl::Status> cancelled(kLetters), completed(kLetters);
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < 2 * kLetters;) {
        const int letter = i / 2;
        // One cancel and one completion per letter; which is taken first alternates.
        const bool cancel = (i % 2) == (letter % 2);
        if (cancel) {
          v1::CancelLetterRequest request;
          request.set_letter_id(ids[letter]);
          cancelled[letter] = ledger_->CancelLetter(testutil::kOslo, request).status();
        } else if (letter < kLetters / 2) {
          completed[letter] =
              ledger_
                  ->CompleteTask(Routed(route->tasks(letter).lease_token(),
                                        v1::CHANNEL_DIGITAL_MAILBOX,
                                        v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, {kDeliver}))
                  .status();
        } else {
          CompleteTaskRequest handed;
          handed.set_lease_token(deliver_token.at(ids[letter]));
          handed.mutable_transition()->set_expected_status(v1::LETTER_STATUS_ROUTED);
          handed.mutable_transition()->set_status(v1::LETTER_STATUS_DELIVERED_DIGITALLY);
          handed.mutable_transition()->set_reason(v1::STATUS_REASON_PROVIDER_CONFIRMED);
          handed.mutable_transition()->set_channel(v1::CHANNEL_DIGITAL_MAILBOX);
          completed[letter] = ledger_->CompleteTask(handed).status();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  int cancels_won = 0, completions_won = 0;
  for (int i = 0; i < kLetters; ++i) {
    SCOPED_TRACE(i);
    const v1::GetLetterResponse got = Get(ids[i]);
    std::vector<v1::LetterStatus> history;
    for (const auto& event : got.events()) history.push_back(event.status());
    const storage::LetterRecord record = Record(ids[i]);
    if (i < kLetters / 2) {
      // Router vs cancel: the cancel always succeeds (ACCEPTED and ROUTED are cancellable);
      // the router succeeds only if it came first, and then its delivery task is removed.
      ASSERT_TRUE(cancelled[i].ok()) << cancelled[i];
      EXPECT_EQ(got.letter().status(), v1::LETTER_STATUS_CANCELLED);
      if (completed[i].ok()) {
        ++completions_won;
        EXPECT_THAT(history, ElementsAre(v1::LETTER_STATUS_ACCEPTED, v1::LETTER_STATUS_ROUTED,
                                         v1::LETTER_STATUS_CANCELLED));
      } else {
        ++cancels_won;
        EXPECT_EQ(completed[i].code(), absl::StatusCode::kFailedPrecondition) << completed[i];
        EXPECT_THAT(history, ElementsAre(v1::LETTER_STATUS_ACCEPTED, v1::LETTER_STATUS_CANCELLED));
      }
    } else {
      // Courier vs cancel: exactly one of them.
      ASSERT_NE(cancelled[i].ok(), completed[i].ok()) << cancelled[i] << " / " << completed[i];
      if (cancelled[i].ok()) {
        ++cancels_won;
        EXPECT_EQ(completed[i].code(), absl::StatusCode::kFailedPrecondition) << completed[i];
        EXPECT_THAT(history, ElementsAre(v1::LETTER_STATUS_ACCEPTED, v1::LETTER_STATUS_ROUTED,
                                         v1::LETTER_STATUS_CANCELLED));
      } else {
        ++completions_won;
        EXPECT_EQ(cancelled[i].code(), absl::StatusCode::kFailedPrecondition) << cancelled[i];
        EXPECT_THAT(history, ElementsAre(v1::LETTER_STATUS_ACCEPTED, v1::LETTER_STATUS_ROUTED,
                                         v1::LETTER_STATUS_DELIVERED_DIGITALLY));
      }
    }
    // A cancelled letter has nothing left to do; a delivered one only its retention.
    if (record.status() == v1::LETTER_STATUS_CANCELLED) {
      EXPECT_THAT(record.pending_task_ids(), IsEmpty());
    } else {
      EXPECT_THAT(record.pending_task_ids(), ElementsAre(record.retention_task_id()));
    }
  }
  RecordProperty("cancels_won", cancels_won);
  RecordProperty("completions_won", completions_won);
  EXPECT_THAT(Queued(storage::v1::TASK_KIND_ROUTE), IsEmpty());
  EXPECT_THAT(Queued(storage::v1::TASK_KIND_DELIVER_DIGITAL), IsEmpty());
}

TEST_F(TasksTest, ConcurrentLeasesNeverHandOutATaskTwice) {
  constexpr int kLetters = 200;
  for (int i = 0; i < kLetters; ++i) Send();
  std::mutex mu;
  std::multiset<std::string> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 20; ++round) {
        auto leased = Lease(kRoute, 7);
        ASSERT_TRUE(leased.ok()) << leased.status();
        std::lock_guard lock(mu);
        for (const auto& task : leased->tasks()) seen.insert(task.task_id());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kLetters));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size())
      << "a task was leased twice while its lease lasted";
}

TEST_F(TasksTest, BadRequestsNameEveryWrongFieldAndChangeNothing) {
  const std::string id = Send();
  LeaseTasksRequest lease;
  lease.set_kind(internal::v1::TASK_KIND_UNSPECIFIED);
  lease.set_max_tasks(1001);
  lease.mutable_lease_for()->set_seconds(3601);
  lease.set_worker("router\n1");
  auto leased = ledger_->LeaseTasks(lease);
  EXPECT_EQ(leased.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FieldsOf(leased.status()),
              UnorderedElementsAre("kind", "max_tasks", "lease_for", "worker"));
  lease.set_kind(kRoute);
  lease.set_max_tasks(0);
  lease.mutable_lease_for()->set_seconds(0);
  lease.set_worker("");
  EXPECT_THAT(FieldsOf(ledger_->LeaseTasks(lease).status()),
              UnorderedElementsAre("max_tasks", "lease_for"));
  // Nothing was leased by the refused calls.
  const internal::v1::Task task = LeaseOne(kRoute);

  CompleteTaskRequest complete = Routed("not-a-token", v1::CHANNEL_UNSPECIFIED);
  complete.mutable_transition()->set_detail(std::string(1001, 'x'));
  for (int i = 0; i < 4; ++i) complete.add_next_tasks()->set_kind(kPrint);
  complete.add_next_tasks()->set_kind(internal::v1::TASK_KIND_UNSPECIFIED);
  auto completed = ledger_->CompleteTask(complete);
  EXPECT_EQ(completed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      FieldsOf(completed.status()),
      UnorderedElementsAre("lease_token", "transition.channel", "transition.detail", "next_tasks"));

  CompleteTaskRequest backwards = Routed(task.lease_token());
  backwards.mutable_transition()->set_expected_status(v1::LETTER_STATUS_PRINTED);
  backwards.mutable_next_tasks(0)->mutable_due_time()->set_seconds(
      absl::ToUnixSeconds(clock_.Now() + absl::Hours(24 * 400)));
  EXPECT_THAT(FieldsOf(ledger_->CompleteTask(backwards).status()),
              UnorderedElementsAre("transition.status", "next_tasks[0].due_time"));
  CompleteTaskRequest cancel = Routed(task.lease_token());
  cancel.mutable_transition()->set_status(v1::LETTER_STATUS_CANCELLED);
  cancel.mutable_transition()->set_reason(v1::STATUS_REASON_UNSPECIFIED);
  EXPECT_THAT(FieldsOf(ledger_->CompleteTask(cancel).status()),
              UnorderedElementsAre("transition.status", "transition.reason"));
  CompleteTaskRequest final_with_next = Routed(task.lease_token());
  final_with_next.mutable_transition()->set_status(v1::LETTER_STATUS_FAILED);
  EXPECT_THAT(FieldsOf(ledger_->CompleteTask(final_with_next).status()), ElementsAre("next_tasks"));
  CompleteTaskRequest no_transition;
  no_transition.set_lease_token(task.lease_token());
  EXPECT_THAT(FieldsOf(ledger_->CompleteTask(no_transition).status()), ElementsAre("transition"));

  FailTaskRequest fail = Failed("", clock_.Now() + absl::Hours(24 * 7) + absl::Seconds(1));
  fail.set_reason(std::string(1001, 'y'));
  EXPECT_THAT(FieldsOf(ledger_->FailTask(fail).status()),
              UnorderedElementsAre("lease_token", "retry_at", "reason"));

  // The letter and its task are as they were.
  EXPECT_EQ(Record(id).status(), v1::LETTER_STATUS_ACCEPTED);
  EXPECT_EQ(Record(id).event_count(), 1u);
  const auto queued = Queued(storage::v1::TASK_KIND_ROUTE);
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].attempt(), 1u);
  EXPECT_TRUE(ledger_->CompleteTask(Routed(task.lease_token())).ok());
}

TEST_F(TasksTest, ATokenForATaskThatNeverExistedIsNotFound) {
  const std::string id = Send();
  LeaseToken token;
  token.task_id = *common::DecodeLetterId("01KA0000000000000000000000");
  token.letter_id = *common::DecodeLetterId(id);
  token.attempt = 1;
  EXPECT_EQ(ledger_->CompleteTask(Routed(EncodeLeaseToken(token))).status().code(),
            absl::StatusCode::kNotFound);
  token.letter_id = token.task_id;
  EXPECT_EQ(ledger_->CompleteTask(Routed(EncodeLeaseToken(token))).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TasksTest, DocumentsAreReadWithTheNewestLeaseEvenExpiredButNotWithAStaleOne) {
  const std::string id = Send();
  const internal::v1::Task first = LeaseOne(kRoute);
  internal::v1::ReadDocumentsRequest request;
  request.set_lease_token(first.lease_token());
  auto opened = ledger_->OpenTaskDocuments(request);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->letter_id, id);
  ASSERT_EQ(opened->documents.size(), 1u);
  EXPECT_EQ(opened->documents[0].filename(), "vedtak.pdf");
  auto content = ledger_->ReadTaskDocument(opened->token, 0);
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(*content, ValidLetter("x").documents(0).content());
  EXPECT_EQ(ledger_->ReadTaskDocument(opened->token, 1).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Expired, but no one leased the task since: still the newest lease.
  clock_.Advance(absl::Seconds(31));
  EXPECT_TRUE(ledger_->OpenTaskDocuments(request).ok());
  // Leased again: the first lease is stale, mid-stream too.
  const internal::v1::Task second = LeaseOne(kRoute);
  EXPECT_EQ(ledger_->OpenTaskDocuments(request).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ledger_->ReadTaskDocument(opened->token, 0).status().code(),
            absl::StatusCode::kAborted);
  // A token for a letter that does not exist.
  LeaseToken unknown = opened->token;
  unknown.letter_id = *common::DecodeLetterId(common::LetterIdGenerator().Next(clock_.Now()));
  request.set_lease_token(EncodeLeaseToken(unknown));
  EXPECT_EQ(ledger_->OpenTaskDocuments(request).status().code(), absl::StatusCode::kNotFound);
  request.set_lease_token(second.lease_token());
  EXPECT_TRUE(ledger_->OpenTaskDocuments(request).ok());
}

TEST_F(TasksTest, AKeepStatusCompletionQueuesAPrintTaskCarryingTheReason) {
  const std::string id = Send();
  ASSERT_TRUE(ledger_
                  ->CompleteTask(Routed(LeaseOne(kRoute).lease_token(), v1::CHANNEL_DIGITAL_MAILBOX,
                                        v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, {kDeliver}))
                  .ok());
  const internal::v1::Task deliver = LeaseOne(kDeliver);
  EXPECT_EQ(deliver.letter().reason(), v1::STATUS_REASON_HAS_DIGITAL_MAILBOX);
  EXPECT_EQ(deliver.letter().title(), ValidLetter("x").title());
  EXPECT_EQ(deliver.reason(), v1::STATUS_REASON_UNSPECIFIED);

  // The provider refused the letter for good: to print, the letter still ROUTED.
  CompleteTaskRequest keep;
  keep.set_lease_token(deliver.lease_token());
  keep.mutable_transition()->set_expected_status(v1::LETTER_STATUS_ROUTED);
  auto* next = keep.add_next_tasks();
  next->set_kind(kPrint);
  next->set_reason(v1::STATUS_REASON_DIGITAL_DELIVERY_FAILED);
  next->set_detail("mailbox closed");
  auto kept = ledger_->CompleteTask(keep);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->letter().status(), v1::LETTER_STATUS_ROUTED);
  EXPECT_FALSE(kept->replayed());
  EXPECT_EQ(Get(id).events_size(), 2);  // no event
  EXPECT_EQ(Record(id).pending_task_ids_size(), 1);
  // Not replayable: the retry finds the task gone.
  EXPECT_EQ(ledger_->CompleteTask(keep).status().code(), absl::StatusCode::kNotFound);

  const internal::v1::Task print = LeaseOne(kPrint);
  EXPECT_EQ(print.reason(), v1::STATUS_REASON_DIGITAL_DELIVERY_FAILED);
  EXPECT_EQ(print.detail(), "mailbox closed");
  EXPECT_EQ(print.letter().status(), v1::LETTER_STATUS_ROUTED);

  // Print hands it over: the provider is recorded and shown.
  CompleteTaskRequest queued;
  queued.set_lease_token(print.lease_token());
  auto* t = queued.mutable_transition();
  t->set_expected_status(v1::LETTER_STATUS_ROUTED);
  t->set_status(v1::LETTER_STATUS_QUEUED_FOR_PRINT);
  t->set_reason(print.reason());
  t->set_channel(v1::CHANNEL_PRINT);
  t->set_provider_id("dev-print");
  auto done = ledger_->CompleteTask(queued);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->letter().provider_id(), "dev-print");
  EXPECT_EQ(done->letter().reason(), v1::STATUS_REASON_DIGITAL_DELIVERY_FAILED);
  EXPECT_THAT(Record(id).provider_ids(), ElementsAre("dev-print"));
  EXPECT_THAT(Record(id).pending_task_ids(), IsEmpty());
}

TEST_F(TasksTest, APrintTaskQueuedByARoutingCarriesTheRoutingReason) {
  Send();
  ASSERT_TRUE(ledger_->CompleteTask(Routed(LeaseOne(kRoute).lease_token())).ok());
  const internal::v1::Task print = LeaseOne(kPrint);
  EXPECT_EQ(print.reason(), v1::STATUS_REASON_RECIPIENT_RESERVED);
  EXPECT_EQ(print.letter().reason(), v1::STATUS_REASON_RECIPIENT_RESERVED);
}

TEST_F(TasksTest, KeepStatusAndProviderRulesNameTheirFieldsAndChangeNothing) {
  const std::string id = Send();
  const internal::v1::Task route = LeaseOne(kRoute);
  CompleteTaskRequest keep;
  keep.set_lease_token(route.lease_token());
  auto* t = keep.mutable_transition();
  t->set_expected_status(v1::LETTER_STATUS_ACCEPTED);
  t->set_reason(v1::STATUS_REASON_NO_MAILBOX);
  t->set_provider_id("dev");
  keep.add_next_tasks()->set_kind(kPrint);  // no reason
  auto refused = ledger_->CompleteTask(keep);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      FieldsOf(refused.status()),
      UnorderedElementsAre("transition.reason", "transition.provider_id", "next_tasks[0].reason"));

  CompleteTaskRequest routed = Routed(route.lease_token());
  routed.mutable_transition()->set_provider_id("Not_A_Provider");
  routed.mutable_next_tasks(0)->set_detail(std::string(1001, 'x'));
  routed.add_next_tasks()->set_kind(kDeliver);
  routed.mutable_next_tasks(1)->set_reason(v1::STATUS_REASON_NO_MAILBOX);
  refused = ledger_->CompleteTask(routed);
  EXPECT_THAT(FieldsOf(refused.status()),
              UnorderedElementsAre("transition.provider_id", "next_tasks[0].detail",
                                   "next_tasks[1].reason"));
  routed.mutable_transition()->set_provider_id("dev");
  refused = ledger_->CompleteTask(routed);
  EXPECT_THAT(FieldsOf(refused.status()), testing::Contains("transition.provider_id"));
  EXPECT_EQ(Record(id).status(), v1::LETTER_STATUS_ACCEPTED);
  EXPECT_EQ(Get(id).events_size(), 1);
}

TEST_F(TasksTest, DeliverAfterMakesTheRouteTaskDueThenAndTheLetterCancellableUntil) {
  v1::SendLetterRequest scheduled = ValidLetter("x");
  scheduled.mutable_options()->mutable_deliver_after()->set_seconds(
      absl::ToUnixSeconds(clock_.Now() + absl::Hours(2)));
  auto sent = ledger_->SendLetter(testutil::kOslo, scheduled);
  ASSERT_TRUE(sent.ok()) << sent.status();
  auto other = ledger_->SendLetter(testutil::kOslo, scheduled);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_EQ(Queued(storage::v1::TASK_KIND_ROUTE).size(), 2u);
  EXPECT_EQ(Queued(storage::v1::TASK_KIND_ROUTE)[0].due_time().seconds(),
            absl::ToUnixSeconds(clock_.Now() + absl::Hours(2)));

  // The router sees nothing before the time.
  clock_.Advance(absl::Hours(2) - absl::Seconds(1));
  auto early = Lease(kRoute);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->tasks_size(), 0);
  // Until then the sender may cancel, and the letter is never routed.
  v1::CancelLetterRequest cancel;
  cancel.set_letter_id(other->letter_id());
  ASSERT_TRUE(ledger_->CancelLetter(testutil::kOslo, cancel).ok());

  clock_.Advance(absl::Seconds(1));
  auto due = Lease(kRoute);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->tasks_size(), 1);
  EXPECT_EQ(due->tasks(0).letter().letter_id(), sent->letter_id());
  EXPECT_EQ(due->tasks(0).letter().options().deliver_after().seconds(),
            scheduled.options().deliver_after().seconds());
}

TEST_F(TasksTest, RetentionShredsTheDocumentsAfterThePeriodAndNotBefore) {
  config_.retention.period = absl::Hours(24 * 30);
  Restart();
  const std::string id = Send();
  // A task still held when the documents go: it can no longer read them.
  internal::v1::NextTask check;
  check.set_kind(internal::v1::TASK_KIND_CHECK_UNREAD);
  check.mutable_due_time()->set_seconds(absl::ToUnixSeconds(clock_.Now() + absl::Hours(24 * 31)));
  Deliver({check});
  const absl::Time outcome = clock_.Now();
  auto queued = Queued(storage::v1::TASK_KIND_RETENTION);
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].due_time().seconds(), absl::ToUnixSeconds(outcome + absl::Hours(24 * 30)));

  clock_.Advance(absl::Hours(24 * 30) - absl::Seconds(1));
  auto early = ledger_->RunRetention(10);
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(*early, 0);
  EXPECT_TRUE(ledger_->ReadDocument(testutil::kOslo, id, 0).ok());
  EXPECT_FALSE(Get(id).letter().has_documents_destroyed_time());

  clock_.Advance(absl::Seconds(1));
  auto ran = ledger_->RunRetention(10);
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_EQ(*ran, 1);
  const v1::GetLetterResponse got = Get(id);
  EXPECT_EQ(got.letter().documents_destroyed_time().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_EQ(got.letter().status(), v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  EXPECT_EQ(got.letter().documents_size(), 0);
  EXPECT_EQ(got.events_size(), 3);  // the history stays
  EXPECT_EQ(ledger_->ReadDocument(testutil::kOslo, id, 0).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetDocument(*common::DecodeLetterId(id), 0).status().code(),
            absl::StatusCode::kNotFound);
  auto shreds = store_->PendingShreds();
  ASSERT_TRUE(shreds.ok());
  EXPECT_THAT(*shreds, IsEmpty());
  EXPECT_THAT(Queued(storage::v1::TASK_KIND_RETENTION), IsEmpty());
  EXPECT_THAT(Record(id).retention_task_id(), IsEmpty());

  clock_.Advance(absl::Hours(24));
  const internal::v1::Task held = LeaseOne(internal::v1::TASK_KIND_CHECK_UNREAD);
  internal::v1::ReadDocumentsRequest read;
  read.set_lease_token(held.lease_token());
  EXPECT_EQ(ledger_->OpenTaskDocuments(read).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto again = ledger_->RunRetention(10);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
}

TEST_F(TasksTest, ALaterOutcomeReplacesTheRetentionAndPeriodsArePerOrganisation) {
  config_.retention.period = absl::Hours(24 * 30);
  config_.retention.per_organisation[testutil::kBergen] = absl::ZeroDuration();  // forever
  Restart();
  const std::string id = Send();
  Deliver();
  ASSERT_EQ(Queued(storage::v1::TASK_KIND_RETENTION).size(), 1u);

  clock_.Advance(absl::Hours(24 * 10));
  internal::v1::RecordTransitionRequest read;
  read.set_letter_id(id);
  read.set_provider_id("dev");
  auto* t = read.mutable_transition();
  t->set_expected_status(v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  t->set_status(v1::LETTER_STATUS_READ);
  t->set_reason(v1::STATUS_REASON_RECIPIENT_OPENED);
  t->set_channel(v1::CHANNEL_DIGITAL_MAILBOX);
  ASSERT_TRUE(ledger_->RecordTransition(read).ok());
  auto queued = Queued(storage::v1::TASK_KIND_RETENTION);
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].due_time().seconds(),
            absl::ToUnixSeconds(clock_.Now() + absl::Hours(24 * 30)));
  EXPECT_THAT(Record(id).pending_task_ids(), ElementsAre(queued[0].task_id()));

  clock_.Advance(absl::Hours(24 * 20));
  EXPECT_EQ(*ledger_->RunRetention(10), 0);
  clock_.Advance(absl::Hours(24 * 10));
  EXPECT_EQ(*ledger_->RunRetention(10), 1);

  // An organisation whose documents are kept forever gets no retention task.
  Transition failed;
  failed.letter_id = Send(testutil::kBergen);
  failed.status = v1::LETTER_STATUS_FAILED;
  failed.reason = v1::STATUS_REASON_NO_CHANNEL;
  ASSERT_TRUE(ledger_->ApplyTransition(testutil::kBergen, failed).ok());
  EXPECT_THAT(Queued(storage::v1::TASK_KIND_RETENTION), IsEmpty());
  // Oslo's failed letter gets one.
  failed.letter_id = Send();
  ASSERT_TRUE(ledger_->ApplyTransition(testutil::kOslo, failed).ok());
  EXPECT_EQ(Queued(storage::v1::TASK_KIND_RETENTION).size(), 1u);
}

TEST_F(TasksTest, ComponentsCannotLeaseOrQueueRetentionTasks) {
  Send();
  EXPECT_THAT(FieldsOf(Lease(internal::v1::TASK_KIND_RETENTION).status()), ElementsAre("kind"));
  CompleteTaskRequest request = Routed(LeaseOne(kRoute).lease_token());
  request.mutable_next_tasks(0)->set_kind(internal::v1::TASK_KIND_RETENTION);
  EXPECT_THAT(FieldsOf(ledger_->CompleteTask(request).status()), ElementsAre("next_tasks[0].kind"));
}

TEST_F(TasksTest,
       CompleteTasksBesideCompleteTaskOnTheSameTasksAppliesEachOnceAndNeverWaitsForever) {
  constexpr int kLetters = 40;
  std::vector<std::string> ids;
  for (int i = 0; i < kLetters; ++i) ids.push_back(Send());
  auto leased = Lease(kRoute, kLetters);
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_EQ(leased->tasks_size(), kLetters);
  internal::v1::CompleteTasksRequest batch;
  for (const auto& task : leased->tasks()) *batch.add_completions() = Routed(task.lease_token());
  // One thread completes them all in one call, two others one by one in the opposite order:
  // letters locked by the others are applied after the call's write; nothing deadlocks.
  std::atomic<int> replays{0};
  std::atomic<int> failures{0};
  auto one_by_one = [&] {
    for (int i = kLetters - 1; i >= 0; --i) {
      auto done = ledger_->CompleteTask(batch.completions(i));
      if (!done.ok()) {
        ++failures;
      } else if (done->replayed()) {
        ++replays;
      }
    }
  };
  std::thread a(one_by_one);
  std::thread b(one_by_one);
  auto results = ledger_->CompleteTasks(batch);
  a.join();
  b.join();
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), static_cast<size_t>(kLetters));
  for (const auto& result : *results) {
    ASSERT_TRUE(result.ok()) << result.status();
    if (result->replayed()) ++replays;
  }
  EXPECT_EQ(failures.load(), 0);
  // Three completions of each task, one applied: the other two are replays.
  EXPECT_EQ(replays.load(), 2 * kLetters);
  for (const std::string& id : ids) {
    const v1::GetLetterResponse got = Get(id);
    EXPECT_EQ(got.letter().status(), v1::LETTER_STATUS_ROUTED);
    EXPECT_EQ(got.events_size(), 2);
  }
  EXPECT_EQ(Queued(storage::v1::TASK_KIND_PRINT).size(), static_cast<size_t>(kLetters));
  EXPECT_THAT(Queued(storage::v1::TASK_KIND_ROUTE), IsEmpty());
}

TEST_F(TasksTest, CompleteTasksKeepsEachOutcomeToItsOwnCompletion) {
  const std::string first = Send();
  const std::string second = Send();
  auto leased = Lease(kRoute, 2);
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_EQ(leased->tasks_size(), 2);
  auto stale = DecodeLeaseToken(leased->tasks(1).lease_token());
  ASSERT_TRUE(stale.ok());
  stale->attempt += 1;
  internal::v1::CompleteTasksRequest batch;
  *batch.add_completions() = Routed(EncodeLeaseToken(*stale));
  *batch.add_completions() = Routed(leased->tasks(0).lease_token());
  CompleteTaskRequest no_reason = Routed(leased->tasks(1).lease_token());
  no_reason.mutable_transition()->clear_reason();
  *batch.add_completions() = no_reason;
  auto results = ledger_->CompleteTasks(batch);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 3u);
  EXPECT_EQ((*results)[0].status().code(), absl::StatusCode::kAborted);
  ASSERT_TRUE((*results)[1].ok()) << (*results)[1].status();
  EXPECT_EQ((*results)[1]->letter().letter_id(), leased->tasks(0).letter().letter_id());
  EXPECT_EQ((*results)[2].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FieldsOf((*results)[2].status()), ElementsAre("transition.reason"));
  // Only the valid one changed its letter.
  const std::string routed = leased->tasks(0).letter().letter_id();
  const std::string other = routed == first ? second : first;
  EXPECT_EQ(Get(routed).letter().status(), v1::LETTER_STATUS_ROUTED);
  EXPECT_EQ(Get(other).letter().status(), v1::LETTER_STATUS_ACCEPTED);

  internal::v1::CompleteTasksRequest empty;
  EXPECT_THAT(FieldsOf(ledger_->CompleteTasks(empty).status()), ElementsAre("completions"));
}

}  // namespace
}  // namespace utpost::ledger
