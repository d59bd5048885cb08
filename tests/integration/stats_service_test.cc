// StatsService end to end in one process: every component, the mailbox simulator failing a
// share of deliveries, a restart in the middle; then the daily counters are recomputed from
// the letters' histories (GetLetter) and must agree exactly. Tenancy, benefits and the
// paper letters' list, and bad requests naming their field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "clients/cpp/stats_client.h"
#include "common/field_violations.h"
#include "common/proto_time.h"
#include "common/strings.h"
#include "services/ledger/stats.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

constexpr char kReserved[] = "02028234530";
constexpr char kNoMailbox[] = "17059121030";
constexpr char kOrgInbox[] = "921837003";

std::string Today() {
  const absl::CivilDay d = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

void Configure(app::Config& c) {
  QuickDelivery(c);
  c.courier.backoff_min = absl::Milliseconds(10);
  c.courier.backoff_max = absl::Milliseconds(50);
  c.mailbox_sim.behaviour.fail_share = 0.3;
}

v1::SendLetterRequest LetterTo(std::string_view identifier, std::string_view marker) {
  return AddressedLetterTo(identifier, marker);
}

bool Settled(const v1::Letter& letter) {
  switch (letter.status()) {
    case v1::LETTER_STATUS_READ:
    case v1::LETTER_STATUS_PRINTED:
    case v1::LETTER_STATUS_FAILED:
    case v1::LETTER_STATUS_CANCELLED:
      return true;
    case v1::LETTER_STATUS_DELIVERED_DIGITALLY:
      return letter.channel() == v1::CHANNEL_ORGANISATION_INBOX;
    default:
      return false;
  }
}

class StatsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = TestStack::Start(dir_.path(), Configure);
    ASSERT_NE(stack_, nullptr);
  }

  client::StatsClient Stats(std::string_view org = kOslo) const {
    client::ConnectionOptions options = stack_->Connection(org);
    auto channel = client::Connect(options);
    EXPECT_TRUE(channel.ok()) << channel.status();
    return client::StatsClient(*channel, options, absl::Seconds(30));
  }

  // Sends one letter to each kind of recipient; returns their ids.
  std::vector<std::string> SendRound(std::string_view tag) {
    std::vector<std::string> ids;
    for (const char* to : {kCitizen, kCitizen, kReserved, kNoMailbox, kOrgInbox}) {
      auto sent =
          stack_->Client(kOslo).Send(LetterTo(to, absl::StrCat(common::Av(tag), "-", ids.size())));
      EXPECT_TRUE(sent.ok()) << sent.status();
      if (sent.ok()) ids.push_back(sent->letter_id());
    }
    return ids;
  }

  void AwaitSettled(const std::vector<std::string>& ids) {
    const absl::Time give_up = absl::Now() + absl::Seconds(90);
    for (const std::string& id : ids) {
      v1::Letter letter;
      while (absl::Now() < give_up) {
        auto got = stack_->Client(kOslo).Get(id);
        ASSERT_TRUE(got.ok()) << got.status();
        letter = got->letter();
        if (Settled(letter)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
      ASSERT_TRUE(Settled(letter)) << id << " stayed " << v1::LetterStatus_Name(letter.status());
    }
  }

  TempDir dir_;
  std::unique_ptr<TestStack> stack_;
};

TEST_F(StatsServiceTest, DailyCountersAgreeWithTheEventsAfterFailuresAndARestart) {
  std::vector<std::string> ids = SendRound("one");
  // A restart while letters are on their way (deliveries fail and are retried).
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  stack_->Stop();
  stack_ = TestStack::Start(dir_.path(), Configure);
  ASSERT_NE(stack_, nullptr);
  for (std::string& id : SendRound("two")) ids.push_back(std::move(id));
  // One scheduled letter, cancelled before it is routed.
  v1::SendLetterRequest later = LetterTo(kCitizen, "cancelled");
  *later.mutable_options()->mutable_deliver_after() = common::ToProto(absl::Now() + absl::Hours(1));
  auto scheduled = stack_->Client(kOslo).Send(later);
  ASSERT_TRUE(scheduled.ok()) << scheduled.status();
  ASSERT_TRUE(stack_->Client(kOslo).Cancel(scheduled->letter_id()).ok());
  ids.push_back(scheduled->letter_id());
  ASSERT_NO_FATAL_FAILURE(AwaitSettled(ids));

  // The counters, recomputed from every event of every letter, by day.
  std::map<std::string, v1::ChannelCounts> expected;
  size_t events = 0;
  for (const std::string& id : ids) {
    auto got = stack_->Client(kOslo).Get(id);
    ASSERT_TRUE(got.ok()) << got.status();
    for (const v1::LetterEvent& event : got->events()) {
      ++events;
      const absl::CivilDay day =
          absl::ToCivilDay(common::FromProto(event.time()), absl::UTCTimeZone());
      v1::ChannelCounts& counts =
          expected[absl::StrFormat("%04d-%02d-%02d", day.year(), day.month(), day.day())];
      storage::DayCount count;
      count.status = event.status();
      count.channel = event.channel();
      count.count = 1;
      ledger::AddCounts(count, counts);
      if (event.status() == v1::LETTER_STATUS_QUEUED_FOR_PRINT) {
        count.paper = true;
        count.paper_reason = event.reason();
        ledger::AddCounts(count, counts);
      }
    }
  }
  ASSERT_GT(events, ids.size() * 3);
  ASSERT_FALSE(expected.empty());
  v1::GetChannelStatsRequest request;
  request.set_from(expected.begin()->first);
  request.set_to(expected.rbegin()->first);
  request.set_granularity(v1::GRANULARITY_DAY);
  auto table = Stats().GetChannelStats(request);
  ASSERT_TRUE(table.ok()) << table.status();
  uint64_t accepted = 0;
  for (const v1::ChannelCounts& day : table->periods()) {
    v1::ChannelCounts want = expected[day.period()];
    want.set_period(day.period());
    ledger::FinishCounts(want);
    EXPECT_EQ(day.DebugString(), want.DebugString()) << day.period();
    accepted += day.accepted();
  }
  // And what was sent: eleven letters; the citizen's four read digitally, the reserved and
  // mailbox-less ones on paper, the inbox's delivered, one cancelled.
  const v1::ChannelCounts& total = table->total();
  EXPECT_EQ(accepted, 11u);
  EXPECT_EQ(total.accepted(), 11u);
  EXPECT_EQ(total.cancelled(), 1u);
  EXPECT_EQ(total.organisation_inbox(), 2u);
  EXPECT_GE(total.paper(), 4u);
  EXPECT_EQ(total.digital() + total.paper(), 10u);
  EXPECT_DOUBLE_EQ(total.digital_share(),
                   static_cast<double>(total.digital()) / (total.digital() + total.paper()));
  bool reserved = false;
  for (const auto& r : total.paper_by_reason()) {
    if (r.reason() == v1::STATUS_REASON_RECIPIENT_RESERVED) reserved = r.letters() == 2;
  }
  EXPECT_TRUE(reserved) << total.DebugString();

  // By month: the same total.
  request.set_granularity(v1::GRANULARITY_MONTH);
  auto months = Stats().GetChannelStats(request);
  ASSERT_TRUE(months.ok()) << months.status();
  EXPECT_EQ(months->total().DebugString(), table->total().DebugString());

  // Another municipality sees none of it.
  auto bergen = Stats(kBergen).GetChannelStats(request);
  ASSERT_TRUE(bergen.ok()) << bergen.status();
  EXPECT_EQ(bergen->total().accepted(), 0u);
  EXPECT_EQ(bergen->total().paper(), 0u);
}

TEST_F(StatsServiceTest, BenefitsArePricedWithThePriceTable) {
  std::vector<std::string> ids = SendRound("benefits");
  ASSERT_NO_FATAL_FAILURE(AwaitSettled(ids));
  v1::GetBenefitsRequest request;
  request.set_from(Today());
  auto benefits = Stats().GetBenefits(request);
  ASSERT_TRUE(benefits.ok()) << benefits.status();
  ASSERT_EQ(benefits->months_size(), 1);
  const v1::BenefitsPeriod& total = benefits->total();
  EXPECT_EQ(total.digital_letters() + total.paper_letters(), 5u);
  // Defaults: 11.00 + 30.00 on paper, 0.90 digitally.
  EXPECT_EQ(benefits->prices().print_per_letter().minor_units(), 1100);
  EXPECT_EQ(total.cost_avoided().minor_units(),
            4010 * static_cast<int64_t>(total.digital_letters()));
  EXPECT_EQ(total.cost().minor_units(), 4100 * static_cast<int64_t>(total.paper_letters()) +
                                            90 * static_cast<int64_t>(total.digital_letters()));
  EXPECT_EQ(total.cost_avoided().currency_code(), "NOK");
  EXPECT_THAT(benefits->prices().source(), ::testing::HasSubstr("40"));
}

TEST_F(StatsServiceTest, PaperLettersNameTheirRecipientAndWhy) {
  std::vector<std::string> ids = SendRound("paper");
  ASSERT_NO_FATAL_FAILURE(AwaitSettled(ids));
  v1::ListPaperLettersRequest request;
  request.set_from(Today());
  request.set_page_size(1);
  std::map<std::string, v1::StatusReason> seen;
  for (int pages = 0; pages < 20; ++pages) {
    auto page = Stats().ListPaperLetters(request);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& l : page->letters()) {
      const std::string who = l.recipient().person().norwegian_national_id();
      seen[who] = l.reason();
      EXPECT_TRUE(l.status() == v1::LETTER_STATUS_PRINTED ||
                  l.status() == v1::LETTER_STATUS_QUEUED_FOR_PRINT)
          << l.DebugString();
    }
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  EXPECT_EQ(seen[kReserved], v1::STATUS_REASON_RECIPIENT_RESERVED);
  EXPECT_EQ(seen[kNoMailbox], v1::STATUS_REASON_NO_MAILBOX);
  EXPECT_FALSE(seen.contains(kCitizen) &&
               seen[kCitizen] != v1::STATUS_REASON_DIGITAL_DELIVERY_FAILED);
  // Bergen sees none of Oslo's.
  v1::ListPaperLettersRequest bergen_request;
  bergen_request.set_from(Today());
  auto bergen = Stats(kBergen).ListPaperLetters(bergen_request);
  ASSERT_TRUE(bergen.ok()) << bergen.status();
  EXPECT_EQ(bergen->letters_size(), 0);
}

std::string FieldOf(const absl::Status& status) {
  auto bad = common::GetBadRequest(status);
  return bad && bad->field_violations_size() > 0 ? bad->field_violations(0).field() : "";
}

TEST_F(StatsServiceTest, BadPeriodsAreRefusedNamingTheField) {
  auto refused = [&](std::string from, std::string to, std::string field, int granularity = 0) {
    v1::GetChannelStatsRequest request;
    request.set_from(from);
    request.set_to(to);
    request.set_granularity(static_cast<v1::Granularity>(granularity));
    auto answer = Stats().GetChannelStats(request);
    ASSERT_FALSE(answer.ok()) << from << " " << to;
    EXPECT_EQ(answer.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(FieldOf(answer.status()), field) << answer.status();
  };
  refused("", "", "from");
  refused("2026-13", "", "from");
  refused("2026-1", "", "from");
  refused("2026-02-30", "", "from");
  refused("2026-01-01T00", "", "from");
  refused("2026-03", "2026-02", "to");
  refused("2000-01", "2026-12", "to");
  refused("2026-01", "2026-02", "granularity", 7);
  v1::ListPaperLettersRequest list;
  list.set_from("2026-01");
  list.set_page_size(5000);
  EXPECT_EQ(FieldOf(Stats().ListPaperLetters(list).status()), "page_size");
  list.set_page_size(10);
  list.set_page_token("not-a-token");
  EXPECT_EQ(FieldOf(Stats().ListPaperLetters(list).status()), "page_token");
}

TEST(StatsPeriodTest, MonthsAndDays) {
  auto month = ledger::ParsePeriod("2024-02", "from");
  ASSERT_TRUE(month.ok());
  EXPECT_EQ(month->first, absl::CivilDay(2024, 2, 1));
  EXPECT_EQ(month->last, absl::CivilDay(2024, 2, 29));
  auto day = ledger::ParsePeriod("2026-12-31", "to");
  ASSERT_TRUE(day.ok());
  EXPECT_EQ(day->first, day->last);
  EXPECT_FALSE(ledger::ParsePeriod("2026-12-32", "to").ok());
  EXPECT_FALSE(ledger::ParsePeriod("26-12", "to").ok());
  EXPECT_FALSE(ledger::ParsePeriod("2026-12 ", "to").ok());
}

TEST(StatsCountsTest, UnreadLettersPrintedCountAsPaperNotDigital) {
  v1::ChannelCounts counts;
  auto add = [&](v1::LetterStatus status, v1::Channel channel, uint64_t n) {
    storage::DayCount c;
    c.status = status;
    c.channel = channel;
    c.count = n;
    ledger::AddCounts(c, counts);
  };
  add(v1::LETTER_STATUS_DELIVERED_DIGITALLY, v1::CHANNEL_DIGITAL_MAILBOX, 8);
  add(v1::LETTER_STATUS_DELIVERED_DIGITALLY, v1::CHANNEL_ORGANISATION_INBOX, 2);
  add(v1::LETTER_STATUS_QUEUED_FOR_PRINT, v1::CHANNEL_PRINT, 3);
  storage::DayCount unread;
  unread.paper = true;
  unread.paper_reason = v1::STATUS_REASON_UNREAD_PAST_DEADLINE;
  unread.count = 1;
  ledger::AddCounts(unread, counts);
  unread.paper_reason = v1::STATUS_REASON_RECIPIENT_RESERVED;
  unread.count = 2;
  ledger::AddCounts(unread, counts);
  ledger::FinishCounts(counts);
  EXPECT_EQ(counts.digital(), 9u);
  EXPECT_EQ(counts.paper(), 3u);
  EXPECT_DOUBLE_EQ(counts.digital_share(), 0.75);
  ASSERT_EQ(counts.paper_by_reason_size(), 2);
  EXPECT_EQ(counts.paper_by_reason(0).reason(), v1::STATUS_REASON_RECIPIENT_RESERVED);
}

}  // namespace
}  // namespace utpost::testutil
