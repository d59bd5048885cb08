#include "services/ledger/stats.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/field_violations.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace utpost::ledger {
namespace {

const absl::CivilDay kEpoch(1970, 1, 1);

int32_t DayNumber(absl::CivilDay day) { return static_cast<int32_t>(day - kEpoch); }

absl::Status Invalid(std::string_view field, std::string_view message) {
  return common::FieldError(absl::StatusCode::kInvalidArgument, std::string(field),
                            std::string(message));
}

std::string MonthLabel(absl::CivilMonth m) {
  return absl::StrFormat("%04d-%02d", m.year(), m.month());
}
std::string DayLabel(absl::CivilDay d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

v1::Money Minor(const std::string& currency, int64_t minor) {
  v1::Money money;
  money.set_currency_code(currency);
  money.set_minor_units(minor);
  return money;
}

double Share(uint64_t digital, uint64_t paper) {
  return digital + paper == 0 ? 0.0
                              : static_cast<double>(digital) / static_cast<double>(digital + paper);
}

void AddPaperReason(v1::ChannelCounts& out, v1::StatusReason reason, uint64_t letters) {
  for (v1::PaperReasonCount& r : *out.mutable_paper_by_reason()) {
    if (r.reason() == reason) {
      r.set_letters(r.letters() + letters);
      return;
    }
  }
  v1::PaperReasonCount* r = out.add_paper_by_reason();
  r->set_reason(reason);
  r->set_letters(letters);
}

void AddInto(const v1::ChannelCounts& from, v1::ChannelCounts& to) {
  to.set_accepted(to.accepted() + from.accepted());
  to.set_digital_mailbox(to.digital_mailbox() + from.digital_mailbox());
  to.set_organisation_inbox(to.organisation_inbox() + from.organisation_inbox());
  to.set_paper(to.paper() + from.paper());
  to.set_printed(to.printed() + from.printed());
  to.set_read(to.read() + from.read());
  to.set_failed(to.failed() + from.failed());
  to.set_cancelled(to.cancelled() + from.cancelled());
  for (const v1::PaperReasonCount& r : from.paper_by_reason()) {
    AddPaperReason(to, r.reason(), r.letters());
  }
}

}  // namespace

absl::StatusOr<PeriodSpan> ParsePeriod(std::string_view text, std::string_view field) {
  absl::CivilDay day;
  absl::CivilMonth month;
  // absl's parsers accept what they can normalise; only the exact spellings count.
  if (text.size() == 10 && absl::ParseCivilTime(common::Av(text), &day) && DayLabel(day) == text) {
    return PeriodSpan{day, day};
  }
  if (text.size() == 7 && absl::ParseCivilTime(common::Av(text), &month) &&
      MonthLabel(month) == text) {
    const absl::CivilDay first(month);
    return PeriodSpan{first, absl::CivilDay(month + 1) - 1};
  }
  return Invalid(field, absl::StrCat("must be a month \"YYYY-MM\" or a day \"YYYY-MM-DD\", not \"",
                                     common::Av(text.substr(0, 32)), "\""));
}

void AddCounts(const storage::DayCount& count, v1::ChannelCounts& out) {
  if (count.paper) {
    AddPaperReason(out, count.paper_reason, count.count);
    return;
  }
  switch (count.status) {
    case v1::LETTER_STATUS_ACCEPTED:
      out.set_accepted(out.accepted() + count.count);
      break;
    case v1::LETTER_STATUS_DELIVERED_DIGITALLY:
      if (count.channel == v1::CHANNEL_ORGANISATION_INBOX) {
        out.set_organisation_inbox(out.organisation_inbox() + count.count);
      } else {
        out.set_digital_mailbox(out.digital_mailbox() + count.count);
      }
      break;
    case v1::LETTER_STATUS_QUEUED_FOR_PRINT:
      out.set_paper(out.paper() + count.count);
      break;
    case v1::LETTER_STATUS_PRINTED:
      out.set_printed(out.printed() + count.count);
      break;
    case v1::LETTER_STATUS_READ:
      out.set_read(out.read() + count.count);
      break;
    case v1::LETTER_STATUS_FAILED:
      out.set_failed(out.failed() + count.count);
      break;
    case v1::LETTER_STATUS_CANCELLED:
      out.set_cancelled(out.cancelled() + count.count);
      break;
    default:
      break;  // routed and the like: steps, not outcomes
  }
}

void FinishCounts(v1::ChannelCounts& out) {
  uint64_t unread_to_paper = 0;
  for (const v1::PaperReasonCount& r : out.paper_by_reason()) {
    if (r.reason() == v1::STATUS_REASON_UNREAD_PAST_DEADLINE) unread_to_paper += r.letters();
  }
  const uint64_t delivered = out.digital_mailbox() + out.organisation_inbox();
  // A letter delivered in one period and printed unread in the next leaves the first
  // period's digital count as it was; only within one period (or the total) it moves.
  out.set_digital(delivered > unread_to_paper ? delivered - unread_to_paper : 0);
  out.set_digital_share(Share(out.digital(), out.paper()));
  std::sort(out.mutable_paper_by_reason()->begin(), out.mutable_paper_by_reason()->end(),
            [](const v1::PaperReasonCount& a, const v1::PaperReasonCount& b) {
              return a.letters() != b.letters() ? a.letters() > b.letters()
                                                : a.reason() < b.reason();
            });
}

Stats::Stats(const StatsConfig& config, const Ledger& ledger, const storage::StatsStore& store,
             const common::Clock& clock)
    : config_(config), ledger_(ledger), store_(store), clock_(clock) {}

absl::StatusOr<PeriodSpan> Stats::Window(std::string_view from, std::string_view to) const {
  if (from.empty()) return Invalid("from", "is required (\"YYYY-MM\" or \"YYYY-MM-DD\")");
  UTPOST_ASSIGN_OR_RETURN(const PeriodSpan first, ParsePeriod(from, "from"));
  PeriodSpan last;
  if (to.empty()) {
    const absl::CivilDay today = absl::ToCivilDay(clock_.Now(), absl::UTCTimeZone());
    last = {today, today};
  } else {
    UTPOST_ASSIGN_OR_RETURN(last, ParsePeriod(to, "to"));
  }
  if (last.last < first.first) return Invalid("to", "must not be before from");
  if (last.last - first.first >= kMaxStatsDays) {
    return Invalid("to", absl::StrCat("must be at most ", kMaxStatsDays, " days after from"));
  }
  return PeriodSpan{first.first, last.last};
}

absl::StatusOr<v1::GetChannelStatsResponse> Stats::Table(std::string_view caller,
                                                         const PeriodSpan& window,
                                                         v1::Granularity granularity) const {
  const bool by_day = granularity == v1::GRANULARITY_DAY;
  v1::GetChannelStatsResponse response;
  const absl::CivilMonth first_month(window.first);
  if (by_day) {
    for (absl::CivilDay d = window.first; d <= window.last; ++d) {
      response.add_periods()->set_period(DayLabel(d));
    }
  } else {
    for (absl::CivilMonth m = first_month; m <= absl::CivilMonth(window.last); ++m) {
      response.add_periods()->set_period(MonthLabel(m));
    }
  }
  UTPOST_ASSIGN_OR_RETURN(std::vector<storage::DayCount> counts,
                          store_.Read(caller, DayNumber(window.first), DayNumber(window.last)));
  for (const storage::DayCount& count : counts) {
    const absl::CivilDay day = kEpoch + count.day;
    const int64_t index = by_day ? day - window.first : absl::CivilMonth(day) - first_month;
    if (index < 0 || index >= response.periods_size()) continue;
    AddCounts(count, *response.mutable_periods(static_cast<int>(index)));
  }
  v1::ChannelCounts& total = *response.mutable_total();
  total.set_period("total");
  for (v1::ChannelCounts& period : *response.mutable_periods()) {
    AddInto(period, total);
    FinishCounts(period);
  }
  FinishCounts(total);
  return response;
}

absl::StatusOr<v1::GetChannelStatsResponse> Stats::GetChannelStats(
    std::string_view caller, const v1::GetChannelStatsRequest& request) const {
  if (!v1::Granularity_IsValid(request.granularity())) {
    return Invalid("granularity", "is not a granularity");
  }
  UTPOST_ASSIGN_OR_RETURN(const PeriodSpan window, Window(request.from(), request.to()));
  return Table(caller, window, request.granularity());
}

absl::StatusOr<v1::GetBenefitsResponse> Stats::GetBenefits(
    std::string_view caller, const v1::GetBenefitsRequest& request) const {
  UTPOST_ASSIGN_OR_RETURN(PeriodSpan window, Window(request.from(), request.to()));
  // Whole months.
  window.first = absl::CivilDay(absl::CivilMonth(window.first));
  window.last = absl::CivilDay(absl::CivilMonth(window.last) + 1) - 1;
  UTPOST_ASSIGN_OR_RETURN(const v1::GetChannelStatsResponse table,
                          Table(caller, window, v1::GRANULARITY_MONTH));
  const StatsPrices& p = config_.prices;
  v1::GetBenefitsResponse response;
  *response.mutable_prices() = PriceTableOf(p);
  const int64_t paper_price = p.print_minor + p.postage_minor;
  auto priced = [&](const v1::ChannelCounts& counts, v1::BenefitsPeriod& out) {
    out.set_period(counts.period());
    out.set_digital_letters(counts.digital());
    out.set_paper_letters(counts.paper());
    const auto digital = static_cast<int64_t>(counts.digital());
    const auto paper = static_cast<int64_t>(counts.paper());
    *out.mutable_cost() = Minor(p.currency, paper * paper_price + digital * p.digital_minor);
    *out.mutable_cost_avoided() = Minor(p.currency, digital * (paper_price - p.digital_minor));
    out.set_digital_share(counts.digital_share());
  };
  for (const v1::ChannelCounts& month : table.periods()) priced(month, *response.add_months());
  priced(table.total(), *response.mutable_total());
  return response;
}

absl::StatusOr<v1::ListPaperLettersResponse> Stats::ListPaperLetters(
    std::string_view caller, const v1::ListPaperLettersRequest& request) const {
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return Invalid("page_size", "must be from 0 to 1000");
  }
  UTPOST_ASSIGN_OR_RETURN(const PeriodSpan window, Window(request.from(), request.to()));
  v1::ListLettersRequest list;
  list.set_page_size(request.page_size() == 0 ? 100 : request.page_size());
  list.set_page_token(request.page_token());
  for (v1::LetterStatus s :
       {v1::LETTER_STATUS_QUEUED_FOR_PRINT, v1::LETTER_STATUS_PRINTED, v1::LETTER_STATUS_FAILED}) {
    list.add_statuses(s);
  }
  *list.mutable_accepted_after() =
      common::ToProto(absl::FromCivil(window.first, absl::UTCTimeZone()));
  *list.mutable_accepted_before() =
      common::ToProto(absl::FromCivil(window.last + 1, absl::UTCTimeZone()));
  UTPOST_ASSIGN_OR_RETURN(v1::ListLettersResponse letters, ledger_.ListLetters(caller, list));
  v1::ListPaperLettersResponse response;
  response.set_next_page_token(letters.next_page_token());
  for (v1::Letter& letter : *letters.mutable_letters()) {
    if (letter.channel() != v1::CHANNEL_PRINT) continue;  // failed without reaching paper
    v1::GetLetterRequest get;
    get.set_letter_id(letter.letter_id());
    UTPOST_ASSIGN_OR_RETURN(const v1::GetLetterResponse history, ledger_.GetLetter(caller, get));
    v1::StatusReason reason = v1::STATUS_REASON_UNSPECIFIED;
    for (const v1::LetterEvent& event : history.events()) {
      if (event.status() == v1::LETTER_STATUS_QUEUED_FOR_PRINT) reason = event.reason();
    }
    v1::PaperLetter& out = *response.add_letters();
    out.set_letter_id(letter.letter_id());
    *out.mutable_recipient() = std::move(*letter.mutable_recipient());
    out.set_reason(reason);
    *out.mutable_accepted_time() = letter.accepted_time();
    out.set_status(letter.status());
  }
  return response;
}

}  // namespace utpost::ledger
