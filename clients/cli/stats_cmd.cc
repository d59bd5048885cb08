#include "clients/cli/stats_cmd.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <iostream>
#include <map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "clients/cli/output.h"
#include "clients/cli/stats_report.h"
#include "clients/cpp/stats_client.h"
#include "common/field_violations.h"
#include "common/proto_time.h"

namespace utpost::cli {
namespace {

enum class Format { kTable, kCsv, kJson };

absl::Status Wrong(std::string_view flag, std::string_view message) {
  return common::FieldError(absl::StatusCode::kInvalidArgument, std::string(flag),
                            std::string(message));
}

std::string Percent(double share) { return absl::StrFormat("%.1f %%", share * 100); }

std::string RecipientText(const v1::Recipient& r) {
  if (r.has_person()) {
    return r.person().has_danish_cpr() ? absl::StrCat("DK-CPR ", r.person().danish_cpr())
                                       : r.person().norwegian_national_id();
  }
  if (r.organisation().has_danish_cvr()) return absl::StrCat("DK", r.organisation().danish_cvr());
  return absl::StrCat("NO", r.organisation().norwegian_org_number());
}

std::string Reasons(const google::protobuf::RepeatedPtrField<v1::PaperReasonCount>& reasons) {
  std::vector<std::string> parts;
  for (const auto& r : reasons)
    parts.push_back(absl::StrCat(ReasonName(r.reason()), " ", r.letters()));
  return absl::StrJoin(parts, ", ");
}

int Share(StatsCommand& c, client::StatsClient& stats, Format format) {
  v1::GetChannelStatsRequest request;
  request.set_from(c.from);
  request.set_to(c.to);
  if (c.by == "day") {
    request.set_granularity(v1::GRANULARITY_DAY);
  } else if (c.by == "month") {
    request.set_granularity(v1::GRANULARITY_MONTH);
  } else {
    return Report(Wrong("--by", "is month or day"));
  }
  absl::StatusOr<v1::GetChannelStatsResponse> table = stats.GetChannelStats(request);
  if (!table.ok()) return Report(table.status());
  if (format == Format::kJson) {
    PrintJson(*table);
    return 0;
  }
  std::vector<const v1::ChannelCounts*> rows;
  for (const auto& p : table->periods()) rows.push_back(&p);
  rows.push_back(&table->total());
  if (format == Format::kCsv) {
    std::cout << "period,accepted,digital_mailbox,organisation_inbox,paper,printed,read,failed,"
                 "cancelled,digital,digital_share\n";
    for (const v1::ChannelCounts* r : rows) {
      std::cout << absl::StrFormat("%s,%d,%d,%d,%d,%d,%d,%d,%d,%d,%.4f\n", r->period(),
                                   r->accepted(), r->digital_mailbox(), r->organisation_inbox(),
                                   r->paper(), r->printed(), r->read(), r->failed(), r->cancelled(),
                                   r->digital(), r->digital_share());
    }
    return 0;
  }
  std::cout << absl::StrFormat("%-10s %9s %9s %9s %9s %9s %9s  %s\n", "PERIOD", "ACCEPTED",
                               "MAILBOX", "INBOX", "PAPER", "READ", "DIGITAL", "DIGITAL SHARE");
  for (const v1::ChannelCounts* r : rows) {
    if (r == &table->total()) std::cout << std::string(80, '-') << "\n";
    std::cout << absl::StrFormat("%-10s %9d %9d %9d %9d %9d %9d  %s\n", r->period(), r->accepted(),
                                 r->digital_mailbox(), r->organisation_inbox(), r->paper(),
                                 r->read(), r->digital(), Percent(r->digital_share()));
  }
  if (table->total().paper_by_reason_size() > 0) {
    std::cout << "\npaper by reason: " << Reasons(table->total().paper_by_reason()) << "\n";
  }
  return 0;
}

int Benefits(StatsCommand& c, client::StatsClient& stats, Format format) {
  v1::GetBenefitsRequest request;
  request.set_from(c.from);
  request.set_to(c.to);
  absl::StatusOr<v1::GetBenefitsResponse> benefits = stats.GetBenefits(request);
  if (!benefits.ok()) return Report(benefits.status());
  if (format == Format::kJson) {
    PrintJson(*benefits);
    return 0;
  }
  std::vector<const v1::BenefitsPeriod*> rows;
  for (const auto& m : benefits->months()) rows.push_back(&m);
  rows.push_back(&benefits->total());
  const std::string currency = benefits->prices().print_per_letter().currency_code();
  if (format == Format::kCsv) {
    std::cout << "month,digital_letters,paper_letters,digital_share,cost,cost_avoided,currency\n";
    for (const v1::BenefitsPeriod* r : rows) {
      std::cout << absl::StrFormat("%s,%d,%d,%.4f,%s,%s,%s\n", r->period(), r->digital_letters(),
                                   r->paper_letters(), r->digital_share(), Amount(r->cost()),
                                   Amount(r->cost_avoided()), currency);
    }
    return 0;
  }
  std::cout << absl::StrFormat("%-8s %9s %9s %8s %14s %14s\n", "MONTH", "DIGITAL", "PAPER", "SHARE",
                               absl::StrCat("COST ", currency), absl::StrCat("AVOIDED ", currency));
  for (const v1::BenefitsPeriod* r : rows) {
    if (r == &benefits->total()) std::cout << std::string(68, '-') << "\n";
    std::cout << absl::StrFormat("%-8s %9d %9d %8s %14s %14s\n", r->period(), r->digital_letters(),
                                 r->paper_letters(), Percent(r->digital_share()), Amount(r->cost()),
                                 Amount(r->cost_avoided()));
  }
  const v1::PriceTable& p = benefits->prices();
  std::cout << absl::StrFormat(
      "\nprices per letter: print %s + postage %s on paper, %s digitally (%s)\n",
      Amount(p.print_per_letter()), Amount(p.postage_per_letter()), Amount(p.digital_per_letter()),
      p.source());
  return 0;
}

// Every paper letter of the window, grouped by recipient: letters, reasons, the latest.
int PaperRecipients(StatsCommand& c, client::StatsClient& stats, Format format) {
  struct Row {
    uint64_t letters = 0;
    std::map<std::string, uint64_t> reasons;
    google::protobuf::Timestamp last;
  };
  std::map<std::string, Row> rows;
  v1::ListPaperLettersRequest request;
  request.set_from(c.from);
  request.set_to(c.to);
  request.set_page_size(1000);
  int letters = 0;
  bool truncated = false;
  do {
    absl::StatusOr<v1::ListPaperLettersResponse> page = stats.ListPaperLetters(request);
    if (!page.ok()) return Report(page.status());
    for (const v1::PaperLetter& l : page->letters()) {
      Row& row = rows[RecipientText(l.recipient())];
      ++row.letters;
      ++row.reasons[ReasonName(l.reason())];
      if (common::FromProto(l.accepted_time()) > common::FromProto(row.last)) {
        row.last = l.accepted_time();
      }
      ++letters;
    }
    request.set_page_token(page->next_page_token());
    if (letters >= c.max_letters && !request.page_token().empty()) {
      truncated = true;
      break;
    }
  } while (!request.page_token().empty());

  std::vector<std::pair<std::string, const Row*>> sorted;
  for (const auto& [recipient, row] : rows) sorted.emplace_back(recipient, &row);
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second->letters > b.second->letters;
  });
  auto reasons = [](const Row& row) {
    std::vector<std::string> parts;
    for (const auto& [reason, n] : row.reasons) parts.push_back(absl::StrCat(reason, " ", n));
    return absl::StrJoin(parts, "; ");
  };
  auto day = [](const google::protobuf::Timestamp& t) {
    return absl::FormatTime("%Y-%m-%d", common::FromProto(t), absl::UTCTimeZone());
  };
  if (format == Format::kJson) {
    std::cout << "{\"recipients\": [";
    bool first = true;
    for (const auto& [recipient, row] : sorted) {
      std::cout << (first ? "\n" : ",\n") << "  {\"recipient\": \"" << recipient
                << "\", \"letters\": " << row->letters << ", \"reasons\": {";
      bool first_reason = true;
      for (const auto& [reason, n] : row->reasons) {
        std::cout << (first_reason ? "" : ", ") << "\"" << reason << "\": " << n;
        first_reason = false;
      }
      std::cout << "}, \"last_accepted\": \"" << day(row->last) << "\"}";
      first = false;
    }
    std::cout << "\n], \"letters\": " << letters
              << ", \"truncated\": " << (truncated ? "true" : "false") << "}\n";
    return 0;
  }
  if (format == Format::kCsv) {
    std::cout << "recipient,letters,reasons,last_accepted\n";
    for (const auto& [recipient, row] : sorted) {
      std::cout << recipient << "," << row->letters << ",\"" << reasons(*row) << "\","
                << day(row->last) << "\n";
    }
  } else {
    std::cout << absl::StrFormat("%-14s %8s  %-12s %s\n", "RECIPIENT", "LETTERS", "LAST", "WHY");
    for (const auto& [recipient, row] : sorted) {
      std::cout << absl::StrFormat("%-14s %8d  %-12s %s\n", recipient, row->letters, day(row->last),
                                   reasons(*row));
    }
    std::cout << "\n" << sorted.size() << " recipients, " << letters << " paper letters\n";
  }
  if (truncated) {
    std::cerr << "stopped after " << letters << " letters (--max-letters); narrow --from/--to\n";
  }
  return 0;
}

// The organisation name (O=) of the client certificate at `path`, or "" if it has none.
std::string CertificateOrganisation(const std::filesystem::path& path) {
  if (path.empty()) return "";
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (!bio) return "";
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return "";
  char name[256] = {0};
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_organizationName,
                                          name, sizeof name);
  return n > 0 ? std::string(name, static_cast<size_t>(n)) : "";
}

// The HTML report: months and benefits from the server, written to --out.
int Report(StatsCommand& c, client::StatsClient& stats, const client::ConnectionOptions& options) {
  v1::GetChannelStatsRequest months_request;
  months_request.set_from(c.from);
  months_request.set_to(c.to);
  months_request.set_granularity(v1::GRANULARITY_MONTH);
  ReportInput input;
  absl::StatusOr<v1::GetChannelStatsResponse> months = stats.GetChannelStats(months_request);
  if (!months.ok()) return cli::Report(months.status());
  v1::GetBenefitsRequest benefits_request;
  benefits_request.set_from(c.from);
  benefits_request.set_to(c.to);
  absl::StatusOr<v1::GetBenefitsResponse> benefits = stats.GetBenefits(benefits_request);
  if (!benefits.ok()) return cli::Report(benefits.status());
  input.months = *std::move(months);
  input.benefits = *std::move(benefits);
  input.organisation = !c.name.empty() ? c.name : CertificateOrganisation(options.cert);
  if (input.organisation.empty()) input.organisation = options.organisation;
  input.generated = absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::Now(), absl::UTCTimeZone());
  std::ofstream out(c.out, std::ios::binary | std::ios::trunc);
  out << RenderReport(input);
  out.close();
  if (!out) return cli::Report(Wrong("--out", absl::StrCat("cannot write ", c.out)));
  std::cout << "wrote " << c.out << " (" << input.months.periods_size() << " months, digital share "
            << Percent(input.months.total().digital_share()) << ")\n";
  return 0;
}

}  // namespace

std::unique_ptr<StatsCommand> AddStatsCommand(CLI::App& cli) {
  auto c = std::make_unique<StatsCommand>();
  c->stats =
      cli.add_subcommand("stats", "your letters by channel, the cost avoided, who gets paper");
  c->stats->require_subcommand(1);
  c->stats->fallthrough();
  auto window = [&](CLI::App* app, const char* what) {
    app->add_option("--from", c->from, absl::StrCat("first ", what, ": YYYY-MM or YYYY-MM-DD"))
        ->required();
    app->add_option("--to", c->to, "last one, inclusive (default: today)");
    app->add_option("--format", c->format, "table, csv or json")
        ->check(CLI::IsMember({"table", "csv", "json"}));
  };
  c->share = c->stats->add_subcommand("share", "letters by channel and the digital share");
  window(c->share, "period");
  c->share->add_option("--by", c->by, "month or day")->check(CLI::IsMember({"month", "day"}));
  c->benefits = c->stats->add_subcommand(
      "benefits", "what your letters cost, and the cost avoided by sending them digitally");
  window(c->benefits, "month");
  c->paper_recipients = c->stats->add_subcommand(
      "paper-recipients", "who still gets paper, and why (letters accepted in the period)");
  window(c->paper_recipients, "day of acceptance");
  c->paper_recipients->add_option("--max-letters", c->max_letters, "stop after this many letters");
  c->report = c->stats->add_subcommand(
      "report", "write the benefits report, one HTML file for a council (prints to A4)");
  c->report->add_option("--from", c->from, "first month: YYYY-MM")->required();
  c->report->add_option("--to", c->to, "last month, inclusive (default: this month)");
  c->report->add_option("--out", c->out, "the HTML file to write")->required();
  c->report->add_option("--name", c->name,
                        "the organisation's name in the heading (default: from your "
                        "certificate)");
  return c;
}

int RunStatsCommand(StatsCommand& c, const client::ConnectionOverrides& overrides, bool json,
                    int timeout_seconds) {
  absl::StatusOr<client::ConnectionOptions> options = client::ResolveConnection(overrides);
  if (!options.ok()) return Report(options.status());
  auto channel = client::Connect(*options);
  if (!channel.ok()) return Report(channel.status());
  client::StatsClient stats(*channel, *options, absl::Seconds(timeout_seconds));
  const Format format = json || c.format == "json" ? Format::kJson
                        : c.format == "csv"        ? Format::kCsv
                                                   : Format::kTable;
  if (c.share->parsed()) return Share(c, stats, format);
  if (c.benefits->parsed()) return Benefits(c, stats, format);
  if (c.report->parsed()) return Report(c, stats, *options);
  return PaperRecipients(c, stats, format);
}

}  // namespace utpost::cli
