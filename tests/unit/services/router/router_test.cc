// The router's worker against test doubles of the two components it talks to: a ledger's
// TaskService and a registry's RegistryLookupService, served by a real gRPC server on
// 127.0.0.1. The doubles keep tasks and entries in memory and record every call, so the
// tests see what the router sent: one Lookup per batch, the transitions, the retries.
#include "services/router/router.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/router/decide.h"
#include "tests/unit/services/router/fake_components.h"

namespace utpost::router {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : clock_(kStart), ledger_(clock_) {
    ledger_server_ = Serve(&ledger_);
    registry_server_ = Serve(&registry_);
    config_.batch_size = 256;
    config_.poll_interval = absl::Milliseconds(20);
    config_.rpc_timeout = absl::Seconds(10);
    config_.backoff_min = absl::Seconds(1);
    config_.backoff_max = absl::Seconds(60);
    config_.name = "router-test";
  }
  ~RouterTest() override {
    router_.reset();
    ledger_server_.server->Shutdown();
    registry_server_.server->Shutdown();
  }

  Router& MakeRouter(std::optional<std::string> registry_address = std::nullopt) {
    EXPECT_TRUE(ValidateRouterConfig(config_).ok()) << ValidateRouterConfig(config_);
    router_ = std::make_unique<Router>(
        config_, grpc::CreateChannel(ledger_server_.address, grpc::InsecureChannelCredentials()),
        grpc::CreateChannel(registry_address.value_or(registry_server_.address),
                            grpc::InsecureChannelCredentials()),
        clock_, [] { return 0.5; });
    return *router_;
  }

  // Routes one batch and waits for its completions; the number of tasks leased.
  int Step() {
    absl::StatusOr<int> n = router_->RouteOneBatch();
    EXPECT_TRUE(n.ok()) << n.status();
    router_->AwaitIdle();
    return n.value_or(-1);
  }

  internal::v1::Transition TransitionOf(const std::string& task_id) {
    auto e = ledger_.Get(task_id);
    EXPECT_TRUE(e.completion.has_value()) << task_id << " not completed";
    return e.completion ? e.completion->transition() : internal::v1::Transition();
  }

  std::vector<internal::v1::TaskKind> NextKinds(const std::string& task_id) {
    std::vector<internal::v1::TaskKind> out;
    auto e = ledger_.Get(task_id);
    if (e.completion) {
      for (const auto& t : e.completion->next_tasks()) out.push_back(t.kind());
    }
    return out;
  }

  common::FakeClock clock_;
  FakeLedger ledger_;
  FakeRegistry registry_;
  Served ledger_server_;
  Served registry_server_;
  RouterConfig config_;
  std::unique_ptr<Router> router_;
};

TEST_F(RouterTest, OneLookupPerBatchWithEachRecipientOnce) {
  const auto digital = Person("15076500565");
  const auto reserved = Person("02028234530");
  const auto org = Org("921837003");
  const auto dk_digital = Person("0707614285");
  const auto unknown = Person("17059121030");
  registry_.Put(digital, WithMailbox(digital));
  registry_.Put(reserved, Reserved(reserved));
  registry_.Put(org, WithInbox(org));
  registry_.Put(dk_digital, WithMailbox(dk_digital));
  ledger_.Add("t1", Letter(digital));
  ledger_.Add("t2", Letter(reserved));
  ledger_.Add("t3", Letter(digital));
  ledger_.Add("t4", Letter(org));
  ledger_.Add("t5", Letter(dk_digital));
  ledger_.Add("t6", Letter(reserved));
  ledger_.Add("t7", Letter(unknown, v1::CHANNEL_POLICY_AUTO, true));
  // Print only with its own address: decided without the registry.
  ledger_.Add("t8", Letter(Person("09116441796"), v1::CHANNEL_POLICY_PRINT_ONLY, true));

  MakeRouter();
  EXPECT_EQ(Step(), 8);

  auto lookups = registry_.calls();
  ASSERT_THAT(lookups, SizeIs(1));
  std::set<std::string> keys;
  for (const auto& k : lookups[0].keys()) {
    v1::Recipient r;
    if (k.has_person()) *r.mutable_person() = k.person();
    if (k.has_organisation()) *r.mutable_organisation() = k.organisation();
    keys.insert(RecipientDedupKey(r));
  }
  EXPECT_EQ(lookups[0].keys_size(), 5);
  EXPECT_EQ(keys, (std::set<std::string>{RecipientDedupKey(digital), RecipientDedupKey(reserved),
                                         RecipientDedupKey(org), RecipientDedupKey(dk_digital),
                                         RecipientDedupKey(unknown)}));

  for (const char* id : {"t1", "t3", "t5"}) {
    auto t = TransitionOf(id);
    EXPECT_EQ(t.expected_status(), v1::LETTER_STATUS_ACCEPTED);
    EXPECT_EQ(t.status(), v1::LETTER_STATUS_ROUTED) << id;
    EXPECT_EQ(t.channel(), v1::CHANNEL_DIGITAL_MAILBOX) << id;
    EXPECT_EQ(t.reason(), v1::STATUS_REASON_HAS_DIGITAL_MAILBOX) << id;
    EXPECT_THAT(NextKinds(id), ElementsAre(internal::v1::TASK_KIND_DELIVER_DIGITAL));
  }
  for (const char* id : {"t2", "t6"}) {
    auto t = TransitionOf(id);
    EXPECT_EQ(t.channel(), v1::CHANNEL_PRINT);
    EXPECT_EQ(t.reason(), v1::STATUS_REASON_RECIPIENT_RESERVED);
    EXPECT_THAT(NextKinds(id), ElementsAre(internal::v1::TASK_KIND_PRINT));
  }
  EXPECT_EQ(TransitionOf("t4").channel(), v1::CHANNEL_ORGANISATION_INBOX);
  EXPECT_THAT(NextKinds("t4"), ElementsAre(internal::v1::TASK_KIND_DELIVER_ORGANISATION_INBOX));
  EXPECT_EQ(TransitionOf("t7").reason(), v1::STATUS_REASON_NO_MAILBOX);
  EXPECT_EQ(TransitionOf("t8").reason(), v1::STATUS_REASON_SENDER_REQUESTED_PRINT);
  EXPECT_EQ(ledger_.done(), 8);
  EXPECT_THAT(ledger_.fails(), IsEmpty());

  RouterStats s = router_->stats();
  EXPECT_EQ(s.leased, 8u);
  EXPECT_EQ(s.routed, 8u);
  EXPECT_EQ(s.lookups, 1u);
  EXPECT_EQ(ledger_.calls_without_deadline(), 0);
  EXPECT_EQ(registry_.calls_without_deadline(), 0);
}

TEST_F(RouterTest, LeaseAsksForRouteTasksInBatchesOfTheConfiguredSize) {
  config_.batch_size = 2;
  config_.lease_for = absl::Seconds(45);
  for (int i = 0; i < 5; ++i)
    ledger_.Add(absl::StrCat("t", i), Letter(Person("17059121030"), v1::CHANNEL_POLICY_AUTO, true));
  MakeRouter();
  EXPECT_EQ(Step(), 2);
  EXPECT_EQ(Step(), 2);
  EXPECT_EQ(Step(), 1);
  EXPECT_EQ(Step(), 0);
  EXPECT_EQ(ledger_.done(), 5);
  EXPECT_THAT(registry_.calls(), SizeIs(3));
  for (const auto& lease : ledger_.leases()) {
    EXPECT_EQ(lease.kind(), internal::v1::TASK_KIND_ROUTE);
    EXPECT_EQ(lease.max_tasks(), 2u);
    EXPECT_EQ(TimeUtil::DurationToSeconds(lease.lease_for()), 45);
    EXPECT_EQ(lease.worker(), "router-test");
  }
}

TEST_F(RouterTest, RegistryErrorGivesTasksBackWithBackoffAndRoutesThemOnceItAnswers) {
  const auto digital = Person("15076500565");
  registry_.Put(digital, WithMailbox(digital));
  ledger_.Add("first", Letter(digital));
  ledger_.Add("third", Letter(digital), /*attempt=*/2);
  registry_.FailLookups(grpc::StatusCode::UNAVAILABLE, 1);
  MakeRouter();

  EXPECT_EQ(Step(), 2);
  auto fails = ledger_.fails();
  ASSERT_THAT(fails, SizeIs(2));
  // unit_random is 0.5: the delay is 0.75 of min(1 s x 2^attempt, 60 s).
  std::map<std::string, absl::Time> retry_at;
  for (const auto& f : fails)
    retry_at[f.lease_token().substr(0, f.lease_token().find('#'))] = FromProto(f.retry_at());
  EXPECT_EQ(retry_at["first"], kStart + absl::Milliseconds(750));
  EXPECT_EQ(retry_at["third"], kStart + absl::Seconds(3));
  for (const auto& f : fails) EXPECT_EQ(f.reason(), "registry lookup failed: UNAVAILABLE");
  EXPECT_THAT(ledger_.completions(), IsEmpty());
  EXPECT_EQ(router_->stats().retried, 2u);
  EXPECT_EQ(router_->stats().registry_errors, 1u);

  // Not due yet: nothing is leased.
  EXPECT_EQ(Step(), 0);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Step(), 1);
  EXPECT_EQ(TransitionOf("first").channel(), v1::CHANNEL_DIGITAL_MAILBOX);
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(Step(), 1);
  EXPECT_EQ(TransitionOf("third").channel(), v1::CHANNEL_DIGITAL_MAILBOX);
}

TEST_F(RouterTest, UnreachableRegistryNeverRoutes) {
  const auto digital = Person("15076500565");
  ledger_.Add("t", Letter(digital, v1::CHANNEL_POLICY_AUTO, /*with_address=*/true));
  config_.rpc_timeout = absl::Seconds(2);
  MakeRouter(DeadAddress());
  EXPECT_EQ(Step(), 1);
  auto fails = ledger_.fails();
  ASSERT_THAT(fails, SizeIs(1));
  EXPECT_THAT(fails[0].reason(), ::testing::StartsWith("registry lookup failed: "));
  EXPECT_THAT(ledger_.completions(), IsEmpty());
  EXPECT_FALSE(ledger_.Get("t").done);
}

TEST_F(RouterTest, PrintOnlyWithItsOwnAddressIsRoutedWhileTheRegistryIsDown) {
  ledger_.Add("print", Letter(Person("15076500565"), v1::CHANNEL_POLICY_PRINT_ONLY, true));
  ledger_.Add("auto", Letter(Person("15076500565"), v1::CHANNEL_POLICY_AUTO, true));
  registry_.FailLookups(grpc::StatusCode::DEADLINE_EXCEEDED, 1);
  MakeRouter();
  EXPECT_EQ(Step(), 2);
  EXPECT_EQ(TransitionOf("print").reason(), v1::STATUS_REASON_SENDER_REQUESTED_PRINT);
  EXPECT_FALSE(ledger_.Get("auto").done);
  ASSERT_THAT(ledger_.fails(), SizeIs(1));
  EXPECT_EQ(ledger_.fails()[0].reason(), "registry lookup failed: DEADLINE_EXCEEDED");
}

TEST_F(RouterTest, AnswerAboutAnotherEntryIsAFaultNotARoute) {
  const auto asked = Person("17059121030");
  const auto other = Person("15076500565");
  registry_.Misanswer(asked, WithMailbox(other));
  ledger_.Add("t", Letter(asked, v1::CHANNEL_POLICY_AUTO, true));
  MakeRouter();
  EXPECT_EQ(Step(), 1);
  EXPECT_THAT(ledger_.completions(), IsEmpty());
  ASSERT_THAT(ledger_.fails(), SizeIs(1));
  EXPECT_THAT(ledger_.fails()[0].reason(), ::testing::HasSubstr("another entry"));
}

TEST_F(RouterTest, AnswerWithTooFewResultsFailsTheBatch) {
  registry_.DropLastResult();
  ledger_.Add("a", Letter(Person("15076500565"), v1::CHANNEL_POLICY_AUTO, true));
  ledger_.Add("b", Letter(Person("17059121030"), v1::CHANNEL_POLICY_AUTO, true));
  MakeRouter();
  EXPECT_EQ(Step(), 2);
  EXPECT_THAT(ledger_.completions(), IsEmpty());
  EXPECT_THAT(ledger_.fails(), SizeIs(2));
}

TEST_F(RouterTest, ARefusedKeyHoldsUpOnlyItsOwnLetters) {
  const auto good = Person("15076500565");
  const auto bad = Person("02028234530");
  registry_.Put(good, WithMailbox(good));
  registry_.RefuseKey(bad);
  ledger_.Add("good", Letter(good));
  ledger_.Add("bad", Letter(bad, v1::CHANNEL_POLICY_AUTO, true));
  MakeRouter();
  EXPECT_EQ(Step(), 2);
  EXPECT_EQ(TransitionOf("good").channel(), v1::CHANNEL_DIGITAL_MAILBOX);
  ASSERT_THAT(ledger_.fails(), SizeIs(1));
  EXPECT_EQ(ledger_.fails()[0].lease_token().substr(0, 4), "bad#");
  // The batch, then each key alone.
  EXPECT_THAT(registry_.calls(), SizeIs(3));
}

TEST_F(RouterTest, CancelledLetterIsDroppedNotRouted) {
  ledger_.Add("t", Letter(Person("17059121030"), v1::CHANNEL_POLICY_AUTO, true));
  ledger_.SetLetterStatus("t", v1::LETTER_STATUS_CANCELLED);
  MakeRouter();
  EXPECT_EQ(Step(), 1);
  auto e = ledger_.Get("t");
  EXPECT_EQ(e.letter_status, v1::LETTER_STATUS_CANCELLED);
  EXPECT_FALSE(e.completion.has_value());
  EXPECT_THAT(ledger_.completions(), SizeIs(1));  // sent once, not again
  EXPECT_THAT(ledger_.fails(), IsEmpty());
  EXPECT_EQ(router_->stats().dropped, 1u);
  EXPECT_EQ(router_->stats().routed, 0u);
}

TEST_F(RouterTest, StaleLeaseIsDroppedWithoutRetry) {
  ledger_.Add("t", Letter(Person("17059121030"), v1::CHANNEL_POLICY_AUTO, true));
  ledger_.FailCompletions(grpc::StatusCode::ABORTED, 1);
  MakeRouter();
  EXPECT_EQ(Step(), 1);
  EXPECT_THAT(ledger_.completions(), SizeIs(1));
  EXPECT_THAT(ledger_.fails(), IsEmpty());
  EXPECT_EQ(router_->stats().dropped, 1u);
  EXPECT_FALSE(ledger_.Get("t").done);  // its lease expires and it is leased again
}

TEST_F(RouterTest, UnavailableCompletionIsSentAgain) {
  ledger_.Add("t", Letter(Person("17059121030"), v1::CHANNEL_POLICY_AUTO, true));
  ledger_.FailCompletions(grpc::StatusCode::UNAVAILABLE, 2);
  MakeRouter();
  EXPECT_EQ(Step(), 1);
  EXPECT_THAT(ledger_.completions(), SizeIs(3));
  EXPECT_EQ(TransitionOf("t").reason(), v1::STATUS_REASON_NO_MAILBOX);
  EXPECT_EQ(router_->stats().routed, 1u);
}

TEST_F(RouterTest, CompletionIsGivenUpAfterThreeSends) {
  ledger_.Add("t", Letter(Person("17059121030"), v1::CHANNEL_POLICY_AUTO, true));
  ledger_.FailCompletions(grpc::StatusCode::UNAVAILABLE, 5);
  MakeRouter();
  EXPECT_EQ(Step(), 1);
  EXPECT_THAT(ledger_.completions(), SizeIs(3));
  EXPECT_FALSE(ledger_.Get("t").done);
  EXPECT_EQ(router_->stats().completion_errors, 1u);
}

TEST_F(RouterTest, TaskOfAnotherKindIsLeftToItsLeaseExpiry) {
  ledger_.Add("print", Letter(Person("17059121030"), v1::CHANNEL_POLICY_AUTO, true), 0,
              internal::v1::TASK_KIND_PRINT);
  ledger_.Add("route", Letter(Person("17059121030"), v1::CHANNEL_POLICY_AUTO, true));
  MakeRouter();
  EXPECT_EQ(Step(), 2);
  EXPECT_THAT(ledger_.completions(), SizeIs(1));
  EXPECT_TRUE(ledger_.Get("route").done);
  EXPECT_FALSE(ledger_.Get("print").done);
  EXPECT_THAT(ledger_.fails(), IsEmpty());
}

TEST_F(RouterTest, UnreachableLedgerIsALeaseError) {
  config_.rpc_timeout = absl::Seconds(2);
  router_ = std::make_unique<Router>(
      config_, grpc::CreateChannel(DeadAddress(), grpc::InsecureChannelCredentials()),
      grpc::CreateChannel(registry_server_.address, grpc::InsecureChannelCredentials()), clock_);
  absl::StatusOr<int> n = router_->RouteOneBatch();
  EXPECT_FALSE(n.ok());
  EXPECT_EQ(router_->stats().lease_errors, 1u);
  EXPECT_THAT(registry_.calls(), IsEmpty());
}

// Waits (bounded) for `done`; the bound only keeps a broken router from hanging the test.
template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 2000 && !done(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return done();
}

TEST_F(RouterTest, LoopsRouteWhatArrivesAndStop) {
  config_.workers = 3;
  config_.batch_size = 7;
  const auto digital = Person("15076500565");
  registry_.Put(digital, WithMailbox(digital));
  Router& router = MakeRouter();
  ASSERT_TRUE(router.Start().ok());
  EXPECT_EQ(router.Start().code(), absl::StatusCode::kFailedPrecondition);
  for (int i = 0; i < 100; ++i) ledger_.Add(absl::StrCat("t", i), Letter(digital));
  EXPECT_TRUE(Eventually([&] { return ledger_.done() == 100; }));
  router.Stop();
  router.Stop();  // idempotent
  RouterStats s = router.stats();
  EXPECT_EQ(s.routed, 100u);
  EXPECT_EQ(s.leased, 100u);
  for (const auto& call : registry_.calls()) EXPECT_EQ(call.keys_size(), 1);  // de-duplicated
  EXPECT_EQ(ledger_.calls_without_deadline(), 0);
}

// A figure, not a check of speed: run with --gtest_also_run_disabled_tests. The doubles
// answer from memory, so this is the router's own cost per letter over loopback gRPC.
TEST_F(RouterTest, DISABLED_Throughput) {
  constexpr int kLetters = 20000;
  const std::vector<v1::Recipient> recipients = {Person("15076500565"), Person("02028234530"),
                                                 Org("921837003"), Person("0707614285")};
  registry_.Put(recipients[0], WithMailbox(recipients[0]));
  registry_.Put(recipients[1], Reserved(recipients[1]));
  registry_.Put(recipients[2], WithInbox(recipients[2]));
  for (int i = 0; i < kLetters; ++i) {
    ledger_.Add(absl::StrCat("t", i), Letter(recipients[i % recipients.size()]));
  }
  Router& router = MakeRouter();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(router.Start().ok());
  ASSERT_TRUE(Eventually([&] { return ledger_.done() == kLetters; }));
  const absl::Duration took = absl::Now() - start;
  router.Stop();
  std::printf("routed %d letters in %s: %.0f letters/s (workers %d, batch %d)\n", kLetters,
              absl::FormatDuration(took).c_str(), kLetters / absl::ToDoubleSeconds(took),
              config_.workers, config_.batch_size);
  // The fourth recipient has no entry and the letters no address: FAILED, NO_CHANNEL.
  EXPECT_EQ(router.stats().routed, static_cast<uint64_t>(kLetters) * 3 / 4);
  EXPECT_EQ(router.stats().failed, static_cast<uint64_t>(kLetters) / 4);
}

TEST_F(RouterTest, StopCancelsALeaseWaitingOnTheNetwork) {
  config_.workers = 1;
  config_.rpc_timeout = absl::Seconds(60);
  config_.lease_for = absl::Minutes(5);
  ledger_.BlockLeases();
  Router& router = MakeRouter();
  ASSERT_TRUE(router.Start().ok());
  ASSERT_TRUE(Eventually([&] { return ledger_.blocked_leases() == 1; }));
  router.Stop();  // returns long before the lease's 60 s deadline
  EXPECT_TRUE(Eventually([&] { return ledger_.lease_was_cancelled(); }));
}

TEST(RetryDelayTest, DoublesFromTheMinimumUpToTheMaximumWithJitter) {
  RouterConfig c;
  c.backoff_min = absl::Seconds(1);
  c.backoff_max = absl::Seconds(60);
  EXPECT_EQ(RetryDelay(c, 0, 0.0), absl::Milliseconds(500));
  EXPECT_EQ(RetryDelay(c, 0, 0.5), absl::Milliseconds(750));
  EXPECT_LT(RetryDelay(c, 0, 1.0), absl::Seconds(1));
  EXPECT_GT(RetryDelay(c, 0, 0.999), absl::Milliseconds(999));
  EXPECT_EQ(RetryDelay(c, 1, 0.0), absl::Seconds(1));
  EXPECT_EQ(RetryDelay(c, 3, 0.0), absl::Seconds(4));
  EXPECT_EQ(RetryDelay(c, 5, 0.0), absl::Seconds(16));
  EXPECT_EQ(RetryDelay(c, 6, 0.0), absl::Seconds(30));  // 64 s capped at 60
  EXPECT_EQ(RetryDelay(c, 4'000'000'000u, 0.0), absl::Seconds(30));
  EXPECT_EQ(RetryDelay(c, 4'000'000'000u, 0.5), absl::Seconds(45));
  // Out-of-range randomness is clamped into [0, 1).
  EXPECT_EQ(RetryDelay(c, 0, -3.0), absl::Milliseconds(500));
  EXPECT_EQ(RetryDelay(c, 0, std::nan("")), absl::Milliseconds(500));
  EXPECT_LT(RetryDelay(c, 0, 7.0), absl::Seconds(1));
}

TEST(ValidateRouterConfigTest, DefaultsAreValidAndEachBoundIsNamed) {
  EXPECT_TRUE(ValidateRouterConfig(RouterConfig()).ok());
  struct Bad {
    std::function<void(RouterConfig&)> change;
    std::string key;
  };
  std::vector<Bad> bad = {
      {[](RouterConfig& c) { c.workers = 0; }, "router.workers"},
      {[](RouterConfig& c) { c.workers = 65; }, "router.workers"},
      {[](RouterConfig& c) { c.batch_size = 0; }, "router.batch_size"},
      {[](RouterConfig& c) { c.batch_size = 1001; }, "router.batch_size"},
      {[](RouterConfig& c) { c.lease_for = absl::Milliseconds(500); }, "router.lease_for"},
      {[](RouterConfig& c) { c.lease_for = absl::Seconds(10); }, "router.lease_for"},  // < 3 x 5 s
      {[](RouterConfig& c) { c.lease_for = absl::Hours(2); }, "router.lease_for"},
      {[](RouterConfig& c) { c.poll_interval = absl::Milliseconds(5); }, "router.poll_interval"},
      {[](RouterConfig& c) { c.poll_interval = absl::Seconds(11); }, "router.poll_interval"},
      {[](RouterConfig& c) { c.backoff_min = absl::Milliseconds(10); }, "router.backoff_min"},
      {[](RouterConfig& c) { c.backoff_max = absl::Milliseconds(500); }, "router.backoff_max"},
      {[](RouterConfig& c) { c.backoff_max = absl::Hours(24 * 8); }, "router.backoff_max"},
      {[](RouterConfig& c) { c.rpc_timeout = absl::Milliseconds(50); }, "router.rpc_timeout"},
      {[](RouterConfig& c) { c.rpc_timeout = absl::Seconds(61); }, "router.rpc_timeout"},
      {[](RouterConfig& c) { c.max_in_flight = 0; }, "router.max_in_flight"},
      {[](RouterConfig& c) { c.name = ""; }, "router.name"},
      {[](RouterConfig& c) { c.name = "bad\nname"; }, "router.name"},
      {[](RouterConfig& c) { c.name = std::string(129, 'r'); }, "router.name"},
  };
  for (const auto& b : bad) {
    RouterConfig c;
    b.change(c);
    absl::Status s = ValidateRouterConfig(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << b.key;
    EXPECT_THAT(std::string(s.message()), ::testing::StartsWith(b.key + ":")) << s;
  }
}

}  // namespace
}  // namespace utpost::router
