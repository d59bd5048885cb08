#include "clients/cli/preview_cmd.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "clients/cli/output.h"
#include "common/field_violations.h"

namespace utpost::cli {
namespace {

// PreviewRoutes takes this many recipients per call.
constexpr size_t kChunk = 1000;

// The fields of one CSV record on one line (RFC 4180 quoting; a quoted field cannot span
// lines here). nullopt if a quote is not closed.
std::optional<std::vector<std::string>> SplitCsv(absl::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) return std::nullopt;
  for (std::string& f : fields) f = std::string(absl::StripAsciiWhitespace(f));
  return fields;
}

std::optional<bool> Truth(absl::string_view text) {
  const std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (t.empty() || t == "false" || t == "no" || t == "0") return false;
  if (t == "true" || t == "yes" || t == "1") return true;
  return std::nullopt;
}

bool LooksLikeIdentifier(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-' || c == ' ';
  });
}

void AddReasons(google::protobuf::RepeatedPtrField<v1::PaperReasonCount>& total,
                const google::protobuf::RepeatedPtrField<v1::PaperReasonCount>& part) {
  std::map<v1::StatusReason, uint64_t> sum;
  for (const auto& r : total) sum[r.reason()] += r.letters();
  for (const auto& r : part) sum[r.reason()] += r.letters();
  std::vector<std::pair<v1::StatusReason, uint64_t>> sorted(sum.begin(), sum.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  total.Clear();
  for (const auto& [reason, letters] : sorted) {
    v1::PaperReasonCount& c = *total.Add();
    c.set_reason(reason);
    c.set_letters(letters);
  }
}

void AddMoney(v1::Money& total, const v1::Money& part) {
  total.set_currency_code(part.currency_code());
  total.set_minor_units(total.minor_units() + part.minor_units());
}

std::string Share(uint64_t n, uint64_t all) {
  return all == 0 ? "-"
                  : absl::StrFormat("%.1f %%",
                                    100.0 * static_cast<double>(n) / static_cast<double>(all));
}

std::string ChannelName(v1::Channel channel) {
  switch (channel) {
    case v1::CHANNEL_DIGITAL_MAILBOX:
      return "digital_mailbox";
    case v1::CHANNEL_ORGANISATION_INBOX:
      return "organisation_inbox";
    case v1::CHANNEL_PRINT:
      return "paper";
    default:
      return "";
  }
}

// 4190000 minor units -> "41 900.00": thousands apart, as Norwegian print does.
std::string Grouped(const v1::Money& money) {
  const std::string text = Amount(money);
  const size_t first = !text.empty() && text[0] == '-' ? 1 : 0;
  const size_t point = std::min(text.find('.'), text.size());
  std::string out(text, 0, first);
  for (size_t i = first; i < point; ++i) {
    if (i > first && (point - i) % 3 == 0) out += ' ';
    out += text[i];
  }
  out.append(text, point, std::string::npos);
  return out;
}

std::string CsvField(std::string_view text) {
  if (text.find_first_of(",\"\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// One call, retried with backoff while the server is busy or briefly away.
absl::StatusOr<v1::PreviewRoutesResponse> PreviewChunk(client::LetterClient& letters,
                                                       const v1::PreviewRoutesRequest& request) {
  absl::Duration wait = absl::Milliseconds(200);
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<v1::PreviewRoutesResponse> response = letters.PreviewRoutes(request);
    if (response.ok() || !client::IsRetryable(response.status()) || attempt == 6) return response;
    absl::SleepFor(wait);
    wait = std::min(wait * 2, absl::Seconds(5));
  }
}

void PrintTable(const v1::PreviewRoutesResponse& total, size_t recipients,
                const std::string& file) {
  const uint64_t all =
      total.digital_mailbox() + total.organisation_inbox() + total.paper() + total.failed();
  std::cout << recipients << " recipients in " << file
            << ", routed as they would be now (nothing was sent):\n\n";
  std::cout << absl::StrFormat("%-32s %9s %8s\n", "CHANNEL", "LETTERS", "SHARE");
  auto row = [&](std::string_view name, uint64_t n) {
    std::cout << absl::StrFormat("%-32s %9d %8s\n", name, n, Share(n, all));
  };
  auto reasons = [&](const google::protobuf::RepeatedPtrField<v1::PaperReasonCount>& rs) {
    for (const auto& r : rs) {
      std::cout << absl::StrFormat("  %-30s %9d\n", ReasonName(r.reason()), r.letters());
    }
  };
  row("digital mailbox", total.digital_mailbox());
  row("organisation inbox", total.organisation_inbox());
  row("paper", total.paper());
  reasons(total.paper_by_reason());
  row("failed (manual handling)", total.failed());
  reasons(total.failed_by_reason());
  const v1::PriceTable& p = total.prices();
  const std::string currency = p.print_per_letter().currency_code();
  std::cout << absl::StrFormat("\nestimated cost %s %s; cost avoided against all on paper %s %s\n",
                               currency, Grouped(total.estimated_cost()), currency,
                               Grouped(total.cost_avoided()));
  std::cout << absl::StrFormat(
      "prices per letter: print %s + postage %s on paper, %s digitally (%s)\n",
      Amount(p.print_per_letter()), Amount(p.postage_per_letter()), Amount(p.digital_per_letter()),
      p.source());
  if (total.failed() > 0) {
    std::cout << "\n--format csv lists each recipient with its route and why.\n";
  }
}

void PrintCsv(const std::vector<PreviewLine>& lines, const v1::PreviewRoutesResponse& total) {
  std::cout << "line,recipient,route,reason,detail\n";
  for (size_t i = 0; i < lines.size(); ++i) {
    const v1::PreviewRoute& r = total.routes(static_cast<int>(i));
    const std::string route =
        r.status() == v1::LETTER_STATUS_ROUTED ? ChannelName(r.channel()) : "failed";
    std::cout << lines[i].line << "," << CsvField(lines[i].identifier) << "," << route << ","
              << ReasonName(r.reason()) << "," << CsvField(r.detail()) << "\n";
  }
}

}  // namespace

absl::StatusOr<std::vector<PreviewLine>> ReadPreviewFile(std::istream& in, bool with_address,
                                                         uint64_t max_recipients) {
  common::FieldViolations v;
  std::vector<PreviewLine> out;
  std::string text;
  uint64_t line = 0;
  bool header_seen = false;
  int id_column = 0;
  int address_column = -1;
  while (std::getline(in, text)) {
    ++line;
    if (line == 1 && text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // a BOM
    if (!text.empty() && text.back() == '\r') text.pop_back();
    const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    const std::string where = absl::StrCat("line ", line);
    std::optional<std::vector<std::string>> fields = SplitCsv(trimmed);
    if (!fields) {
      v.Add(where, "a quoted field is not closed");
      continue;
    }
    if (!header_seen) {
      header_seen = true;
      if (!LooksLikeIdentifier((*fields)[0])) {
        id_column = -1;
        for (size_t c = 0; c < fields->size(); ++c) {
          const std::string name = absl::AsciiStrToLower((*fields)[c]);
          if (id_column < 0 && (name == "id" || name == "identifier" || name == "recipient")) {
            id_column = static_cast<int>(c);
          }
          if (name == "has_address") address_column = static_cast<int>(c);
        }
        if (id_column < 0) {
          return common::FieldError(
              absl::StatusCode::kInvalidArgument, where,
              "the header names no id column (id, identifier or recipient); a file without a "
              "header has one identifier per line");
        }
        continue;
      }
    }
    if (out.size() >= max_recipients) {
      return common::FieldError(
          absl::StatusCode::kInvalidArgument, where,
          absl::StrCat("more than ", max_recipients, " recipients (--max-recipients)"));
    }
    PreviewLine entry;
    entry.line = line;
    if (static_cast<size_t>(id_column) >= fields->size()) {
      v.Add(where, "has no id column");
      continue;
    }
    entry.identifier = (*fields)[static_cast<size_t>(id_column)];
    absl::StatusOr<v1::Recipient> recipient = client::RecipientFromIdentifier(entry.identifier);
    if (!recipient.ok()) {
      v.Add(where, std::string(recipient.status().message()));
      continue;
    }
    *entry.recipient.mutable_recipient() = *std::move(recipient);
    bool has_address = with_address;
    if (address_column >= 0 && static_cast<size_t>(address_column) < fields->size()) {
      std::optional<bool> t = Truth((*fields)[static_cast<size_t>(address_column)]);
      if (!t) {
        v.Add(where, "has_address is true or false (also yes/no, 1/0)");
        continue;
      }
      has_address = has_address || *t;
    }
    entry.recipient.set_has_postal_address(has_address);
    out.push_back(std::move(entry));
  }
  if (!v.empty()) return v.ToStatus();
  if (out.empty()) {
    return common::FieldError(absl::StatusCode::kInvalidArgument, "file", "names no recipient");
  }
  return out;
}

void AddPreview(v1::PreviewRoutesResponse& total, const v1::PreviewRoutesResponse& part) {
  for (const v1::PreviewRoute& r : part.routes()) *total.add_routes() = r;
  total.set_digital_mailbox(total.digital_mailbox() + part.digital_mailbox());
  total.set_organisation_inbox(total.organisation_inbox() + part.organisation_inbox());
  total.set_paper(total.paper() + part.paper());
  total.set_failed(total.failed() + part.failed());
  AddReasons(*total.mutable_paper_by_reason(), part.paper_by_reason());
  AddReasons(*total.mutable_failed_by_reason(), part.failed_by_reason());
  AddMoney(*total.mutable_estimated_cost(), part.estimated_cost());
  AddMoney(*total.mutable_cost_avoided(), part.cost_avoided());
  *total.mutable_prices() = part.prices();
}

std::unique_ptr<PreviewCommand> AddPreviewCommand(CLI::App& cli) {
  auto c = std::make_unique<PreviewCommand>();
  c->preview = cli.add_subcommand(
      "preview",
      "how a batch of letters would be routed, and what it would cost, before anything is sent");
  c->preview
      ->add_option("file", c->file,
                   "recipients: one identifier per line, or CSV with an id column (and "
                   "optionally has_address)")
      ->required();
  c->preview->add_option("--channel", c->channel, "auto, digital-only or print-only")
      ->check(CLI::IsMember({"auto", "digital-only", "print-only"}));
  c->preview->add_option("--security-level", c->security, "substantial or high")
      ->check(CLI::IsMember({"substantial", "high"}));
  c->preview->add_flag("--with-address", c->with_address,
                       "the letters would carry their own postal address (else print uses the "
                       "registry's)");
  c->preview
      ->add_option("--format", c->format,
                   "table (totals), csv (one row per recipient) or json (both)")
      ->check(CLI::IsMember({"table", "csv", "json"}));
  c->preview->add_option("--max-recipients", c->max_recipients,
                         "refuse a file with more recipients than this");
  return c;
}

int RunPreviewCommand(PreviewCommand& c, const client::ConnectionOverrides& overrides, bool json,
                      int timeout_seconds) {
  std::ifstream in(c.file, std::ios::binary);
  if (!in) {
    return Report(common::FieldError(absl::StatusCode::kInvalidArgument, "file",
                                     absl::StrCat("cannot read ", c.file)));
  }
  absl::StatusOr<std::vector<PreviewLine>> lines =
      ReadPreviewFile(in, c.with_address, c.max_recipients);
  if (!lines.ok()) return Report(lines.status());

  absl::StatusOr<client::ConnectionOptions> options = client::ResolveConnection(overrides);
  if (!options.ok()) return Report(options.status());
  auto channel = client::Connect(*options);
  if (!channel.ok()) return Report(channel.status());
  client::LetterClient letters(*channel, *options, absl::Seconds(timeout_seconds));

  v1::DeliveryOptions delivery;
  delivery.set_channel_policy(c.channel == "digital-only" ? v1::CHANNEL_POLICY_DIGITAL_ONLY
                              : c.channel == "print-only" ? v1::CHANNEL_POLICY_PRINT_ONLY
                                                          : v1::CHANNEL_POLICY_AUTO);
  delivery.set_security_level(c.security == "high" ? v1::SECURITY_LEVEL_HIGH
                                                   : v1::SECURITY_LEVEL_SUBSTANTIAL);
  v1::PreviewRoutesResponse total;
  for (size_t first = 0; first < lines->size(); first += kChunk) {
    const size_t last = std::min(lines->size(), first + kChunk);
    v1::PreviewRoutesRequest request;
    *request.mutable_options() = delivery;
    for (size_t i = first; i < last; ++i) *request.add_recipients() = (*lines)[i].recipient;
    absl::StatusOr<v1::PreviewRoutesResponse> part = PreviewChunk(letters, request);
    if (!part.ok()) {
      std::cerr << "utpostctl: previewing the recipients of lines " << (*lines)[first].line
                << " to " << (*lines)[last - 1].line << "\n";
      return Report(part.status());
    }
    if (part->routes_size() != static_cast<int>(last - first)) {
      return Report(absl::InternalError("the server answered a different number of routes"));
    }
    AddPreview(total, *part);
  }
  if (json || c.format == "json") {
    PrintJson(total);
  } else if (c.format == "csv") {
    PrintCsv(*lines, total);
  } else {
    PrintTable(total, lines->size(), c.file);
  }
  return 0;
}

}  // namespace utpost::cli
