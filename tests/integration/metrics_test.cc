// /metrics of a whole utpost process: the App with every component (RocksDB in a temp dir,
// the dev PKI, the seeded dev registry, the mailbox and print simulator), the endpoint on
// 127.0.0.1:0, scraped over HTTP while letters take every channel; and `promtool check
// metrics` on what it serves.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/testutil/http_get.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

void FastDelivery(app::Config& c) {
  QuickDelivery(c);
  c.metrics.listen = "127.0.0.1:0";
}

v1::SendLetterRequest LetterTo(std::string_view identifier, std::string_view marker,
                               v1::SecurityLevel level = v1::SECURITY_LEVEL_UNSPECIFIED) {
  return AddressedLetterTo(identifier, marker, level);
}

// Waits until the letter is in one of `statuses`.
void AwaitStatus(client::LetterClient& client, const std::string& letter_id,
                 const std::vector<v1::LetterStatus>& statuses) {
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  v1::LetterStatus last = v1::LETTER_STATUS_UNSPECIFIED;
  while (absl::Now() < give_up) {
    absl::StatusOr<v1::GetLetterResponse> got = client.Get(letter_id);
    ASSERT_TRUE(got.ok()) << got.status();
    last = got->letter().status();
    for (v1::LetterStatus s : statuses) {
      if (last == s) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL() << letter_id << " stayed " << v1::LetterStatus_Name(last);
}

std::vector<Sample> Scrape(TestStack& stack, std::string* text = nullptr) {
  absl::StatusOr<std::string> body = HttpGet(stack.app().metrics_port(), "/metrics");
  EXPECT_TRUE(body.ok()) << body.status();
  if (!body.ok()) return {};
  if (text != nullptr) *text = *body;
  return ParseMetrics(*body);
}

TEST(MetricsTest, CountsLettersByMunicipalityChannelAndReasonAndPassesPromtool) {
  auto stack = TestStack::Start({}, FastDelivery);
  ASSERT_NE(stack, nullptr);
  ASSERT_GT(stack->app().metrics_port(), 0);
  client::LetterClient oslo = stack->Client(kOslo);
  client::LetterClient bergen = stack->Client(kBergen);

  struct Sent {
    std::string id;
    // A copy: a braced list's array lives only until the end of the call that made it.
    std::vector<v1::LetterStatus> final;
  };
  std::vector<Sent> sent;
  auto send = [&](client::LetterClient& client, v1::SendLetterRequest request,
                  std::initializer_list<v1::LetterStatus> final) {
    auto response = client.Send(request);
    ASSERT_TRUE(response.ok()) << response.status();
    sent.push_back({response->letter_id(), final});
  };
  const auto kRead = {v1::LETTER_STATUS_READ};
  const auto kPrinted = {v1::LETTER_STATUS_PRINTED};
  v1::SendLetterRequest digital = LetterTo("15076500565", "digital");
  digital.set_idempotency_key("metrics-digital");
  send(oslo, digital, kRead);
  send(oslo, LetterTo("921837003", "inbox"),
       {v1::LETTER_STATUS_DELIVERED_DIGITALLY, v1::LETTER_STATUS_READ});
  send(oslo, LetterTo("02028234530", "reserved"), kPrinted);
  send(oslo, LetterTo("17059121030", "no mailbox"), kPrinted);
  send(oslo, LetterTo("09116441796", "high", v1::SECURITY_LEVEL_HIGH), kPrinted);
  send(bergen, LetterTo("15076500565", "bergen"), kRead);
  // A retry of the first letter with its idempotency key: a replay, counted nowhere.
  auto replay = oslo.Send(digital);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed());
  ASSERT_EQ(sent.size(), 6u);
  for (size_t i = 0; i < sent.size(); ++i) {
    client::LetterClient& client = i == 5 ? bergen : oslo;
    ASSERT_NO_FATAL_FAILURE(AwaitStatus(client, sent[i].id, sent[i].final));
  }

  std::string text;
  const std::vector<Sample> m = Scrape(*stack, &text);
  const std::map<std::string, std::string> oslo_labels = {{"municipality", kOslo}};
  EXPECT_EQ(Find(m, "utpost_ledger_letters_accepted_total", oslo_labels), 5);
  EXPECT_EQ(Find(m, "utpost_ledger_letters_accepted_total", {{"municipality", kBergen}}), 1);
  EXPECT_EQ(Find(m, "utpost_ledger_letter_outcomes_total",
                 {{"municipality", kOslo},
                  {"channel", "digital_mailbox"},
                  {"outcome", "delivered_digitally"}}),
            1);
  EXPECT_EQ(Find(m, "utpost_ledger_letter_outcomes_total",
                 {{"municipality", kOslo},
                  {"channel", "organisation_inbox"},
                  {"outcome", "delivered_digitally"}}),
            1);
  EXPECT_EQ(Find(m, "utpost_ledger_letter_outcomes_total",
                 {{"municipality", kOslo}, {"channel", "digital_mailbox"}, {"outcome", "read"}}),
            1);
  EXPECT_EQ(Find(m, "utpost_ledger_letter_outcomes_total",
                 {{"municipality", kOslo}, {"channel", "print"}, {"outcome", "queued_for_print"}}),
            3);
  EXPECT_EQ(Find(m, "utpost_ledger_letter_outcomes_total",
                 {{"municipality", kOslo}, {"channel", "print"}, {"outcome", "printed"}}),
            3);
  EXPECT_EQ(Find(m, "utpost_ledger_letter_outcomes_total",
                 {{"municipality", kBergen}, {"outcome", "read"}}),
            1);
  for (const char* reason : {"recipient_reserved", "no_mailbox", "security_level_not_supported"}) {
    EXPECT_EQ(
        Find(m, "utpost_ledger_paper_letters_total", {{"municipality", kOslo}, {"reason", reason}}),
        1)
        << reason;
  }
  EXPECT_EQ(Find(m, "utpost_ledger_paper_letters_total", {{"municipality", kBergen}}),
            std::nullopt);
  EXPECT_EQ(Find(m, "utpost_ledger_accepted_to_outcome_seconds_count",
                 {{"channel", "print"}, {"outcome", "queued_for_print"}}),
            3);
  EXPECT_EQ(Find(m, "utpost_ledger_accepted_to_outcome_seconds_count",
                 {{"outcome", "delivered_digitally"}}),
            3);
  // Seven SendLetter calls answered OK (the replay too); every one timed.
  EXPECT_EQ(
      Find(m, "utpost_grpc_server_handled_total",
           {{"service", "utpost.v1.LetterService"}, {"method", "SendLetter"}, {"code", "OK"}}),
      7);
  EXPECT_EQ(Find(m, "utpost_grpc_server_handling_seconds_count",
                 {{"service", "utpost.v1.LetterService"}, {"method", "SendLetter"}}),
            7);
  // The components' calls to the ledger pass the same server.
  EXPECT_GT(Find(m, "utpost_grpc_server_handled_total",
                 {{"service", "utpost.internal.v1.TaskService"}, {"method", "LeaseTasks"}})
                .value_or(0),
            0);
  // The courier's own metrics are on the same endpoint.
  EXPECT_GT(Find(m, "utpost_courier_deliveries_total", {{"outcome", "delivered"}}).value_or(0), 0);
  // Everything has gone its way: nothing is due.
  EXPECT_EQ(Find(m, "utpost_ledger_tasks_due", {{"kind", "route"}}), 0);
  EXPECT_EQ(Find(m, "utpost_ledger_task_oldest_due_age_seconds", {{"kind", "route"}}), 0);
  for (const char* store : {"ledger", "registry", "print", "mailbox_sim"}) {
    EXPECT_GT(Find(m, "utpost_store_size_bytes", {{"store", store}}).value_or(0), 0) << store;
  }
  EXPECT_GT(Find(m, "utpost_data_volume_available_bytes").value_or(0), 0);
  const double now = absl::ToUnixSeconds(absl::Now());
  EXPECT_GT(Find(m, "utpost_certificate_expiry_timestamp_seconds",
                 {{"kind", "server"}, {"name", "server"}})
                .value_or(0),
            now);
  EXPECT_GT(Find(m, "utpost_certificate_expiry_timestamp_seconds",
                 {{"kind", "component"}, {"name", "courier"}})
                .value_or(0),
            now);
  EXPECT_GT(Find(m, "utpost_certificate_expiry_timestamp_seconds",
                 {{"kind", "provider"}, {"name", "dev-print"}})
                .value_or(0),
            now);
  // The mailbox provider's certificate, as the courier used it.
  EXPECT_GT(Find(m, "utpost_certificate_expiry_timestamp_seconds",
                 {{"kind", "provider"}, {"name", "dev"}})
                .value_or(0),
            now);
  // Never a letter id in a label.
  for (const Sent& s : sent) EXPECT_EQ(text.find(s.id), std::string::npos);

  // promtool (Debian's prometheus package, installed by tools/install-deps.sh) reads the
  // scrape as Prometheus would and checks the names against the conventions.
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool is not installed (apt-get install prometheus; make test installs "
                    "it): the scrape was not checked with it";
  }
  const std::filesystem::path scrape = stack->data_dir() / "scrape.txt";
  std::ofstream(scrape) << text;
  const std::string command = absl::StrCat("promtool check metrics < '", scrape.string(), "' 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  EXPECT_EQ(pclose(pipe), 0) << output;
  EXPECT_EQ(output, "") << "promtool check metrics has remarks";
}

TEST(MetricsTest, QueueGaugesShowDueTasks) {
  // The ledger alone: nothing routes, so the letters' ROUTE tasks stay due.
  auto stack = TestStack::Start(
      {}, [](app::Config& c) { c.metrics.listen = "127.0.0.1:0"; }, kLedgerOnly);
  ASSERT_NE(stack, nullptr);
  client::LetterClient oslo = stack->Client(kOslo);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(oslo.Send(ValidLetter(absl::StrCat("due-", i))).ok());
  }
  const std::vector<Sample> m = Scrape(*stack);
  EXPECT_EQ(Find(m, "utpost_ledger_tasks_due", {{"kind", "route"}}), 3);
  EXPECT_EQ(Find(m, "utpost_ledger_tasks_due", {{"kind", "print"}}), 0);
  EXPECT_GE(Find(m, "utpost_ledger_task_oldest_due_age_seconds", {{"kind", "route"}}).value_or(-1),
            0);
  // The letters' documents are in one active segment, all of it live.
  EXPECT_EQ(Find(m, "utpost_ledger_document_segments", {{"state", "active"}}), 1);
  EXPECT_EQ(Find(m, "utpost_ledger_document_segments", {{"state", "sealed"}}), 0);
  const auto stored = Find(m, "utpost_ledger_document_segment_bytes", {{"kind", "stored"}});
  EXPECT_GT(stored.value_or(0), 0);
  EXPECT_EQ(Find(m, "utpost_ledger_document_segment_bytes", {{"kind", "live"}}), stored);
  // Only the ledger's store runs here.
  EXPECT_GT(Find(m, "utpost_store_size_bytes", {{"store", "ledger"}}).value_or(0), 0);
  EXPECT_EQ(Find(m, "utpost_store_size_bytes", {{"store", "registry"}}), std::nullopt);
}

TEST(MetricsTest, NoEndpointWhenNotConfigured) {
  auto stack = TestStack::Start({}, {}, kLedgerOnly);
  ASSERT_NE(stack, nullptr);
  EXPECT_EQ(stack->app().metrics_port(), 0);
  EXPECT_EQ(stack->app().metrics_url(), "");
}

}  // namespace
}  // namespace utpost::testutil
