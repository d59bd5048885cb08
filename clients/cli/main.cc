// utpostctl: send letters and follow them from the command line.
//
// With no connection flags it reads data/utpostctl.yaml, which a dev utpost (`make run`)
// writes, and acts as the first example municipality.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "clients/cli/admin_cmd.h"
#include "clients/cli/forms_cmd.h"
#include "clients/cli/mailbox_sim_cmd.h"
#include "clients/cli/output.h"
#include "clients/cli/preview_cmd.h"
#include "clients/cli/registry_cmd.h"
#include "clients/cli/stats_cmd.h"
#include "clients/cpp/utpost_client.h"
#include "common/field_violations.h"

namespace {

using utpost::v1::LetterStatus;
namespace v1 = utpost::v1;

enum class Output { kText, kJson };
using utpost::cli::NewIdempotencyKey;
using utpost::cli::PrintJson;
using utpost::cli::Report;

std::string Short(const std::string& enum_name, std::string_view prefix) {
  std::string s = enum_name;
  if (s.rfind(prefix, 0) == 0) s = s.substr(prefix.size());
  return absl::AsciiStrToLower(s);
}

std::string StatusName(int status) {
  return Short(v1::LetterStatus_Name(static_cast<LetterStatus>(status)), "LETTER_STATUS_");
}

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  absl::Time time = absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", time, absl::LocalTimeZone());
}

std::string RecipientText(const v1::Recipient& r) {
  if (r.has_person()) {
    return r.person().has_norwegian_national_id() ? r.person().norwegian_national_id()
                                                  : r.person().danish_cpr();
  }
  if (r.has_organisation()) {
    return r.organisation().has_norwegian_org_number() ? r.organisation().norwegian_org_number()
                                                       : r.organisation().danish_cvr();
  }
  return "-";
}

std::string EventLine(const v1::LetterEvent& e) {
  std::string line = absl::StrFormat("%-8d %-26s %-19s %-20s %s", e.sequence(), e.letter_id(),
                                     Time(e.time()), StatusName(e.status()),
                                     Short(v1::StatusReason_Name(e.reason()), "STATUS_REASON_"));
  if (e.channel() != v1::CHANNEL_UNSPECIFIED) {
    absl::StrAppend(&line, " via ", Short(v1::Channel_Name(e.channel()), "CHANNEL_"));
  }
  if (!e.detail().empty()) absl::StrAppend(&line, " (", e.detail(), ")");
  return line;
}

// Worth another try (utpost::client::IsRetryable); retries of a send reuse its idempotency
// key, so they are safe.
bool Retryable(const absl::Status& s) { return utpost::client::IsRetryable(s); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"utpostctl: send letters through utpost and follow their status"};
  cli.require_subcommand(1);
  utpost::client::ConnectionOverrides conn;
  std::string output = "text";
  int timeout_seconds = 60;
  cli.add_option("--config", conn.config,
                 "client config file (default: $UTPOST_CLIENT_CONFIG, then data/utpostctl.yaml)");
  cli.add_option("--address", conn.address, "server host:port (env UTPOST_ADDRESS)");
  cli.add_option("--ca", conn.ca, "CA certificate, PEM (env UTPOST_CA)");
  cli.add_option("--cert", conn.cert, "client certificate, PEM (env UTPOST_CERT)");
  cli.add_option("--key", conn.key, "client private key, PEM (env UTPOST_KEY)");
  cli.add_flag("--insecure", conn.insecure, "plaintext, for a server started with --insecure");
  cli.add_option("--organisation", conn.organisation,
                 "insecure mode: organisation number to act as (env UTPOST_ORGANISATION)");
  cli.add_option("-o,--output", output, "text or json")->check(CLI::IsMember({"text", "json"}));
  cli.add_option("--timeout", timeout_seconds, "seconds per call")->check(CLI::PositiveNumber);
  std::string as;
  cli.add_option("--as", as,
                 "act as another dev identity: its org number, or `portal` (the dev citizen "
                 "portal); reads data/utpostctl-<org>.yaml, which a dev utpost writes");

  // send
  auto* send = cli.add_subcommand("send", "send a letter; prints its id");
  std::string to, title, external_reference, idempotency_key, channel = "auto",
                                                              security = "substantial";
  std::vector<std::string> files;
  std::string print_if_unread;
  bool colour = false, duplex = false;
  std::string address_name, postal_code, city, country = "NO", reply_to;
  std::vector<std::string> address_lines;
  send->add_option("--to", to,
                   "recipient: national id / D-number (11 digits), org number (9), "
                   "CPR (10 or DDMMYY-SSSS), CVR (8)")
      ->required();
  send->add_option("--title", title, "letter title")->required();
  send->add_option("--file", files, "document file, in order (repeat for several)")->required();
  send->add_option("--external-reference", external_reference, "your case or document number");
  send->add_option("--idempotency-key", idempotency_key,
                   "makes retries safe (default: a fresh key, reused by this command's retries)");
  send->add_option("--channel", channel, "auto, digital-only or print-only")
      ->check(CLI::IsMember({"auto", "digital-only", "print-only"}));
  send->add_option("--print-if-unread-after", print_if_unread,
                   "print if still unread after this long, e.g. 40h or 72h");
  std::string deliver_after;
  send->add_option("--deliver-after", deliver_after,
                   "deliver at this time, not before (cancellable until then): RFC 3339, e.g. "
                   "2026-12-01T08:00:00+01:00, or a duration from now, e.g. 10m");
  send->add_flag("--colour", colour, "print in colour");
  send->add_flag("--duplex", duplex, "print on both sides");
  send->add_option("--security-level", security, "substantial or high")
      ->check(CLI::IsMember({"substantial", "high"}));
  send->add_option("--address-name", address_name, "postal address for print: name");
  send->add_option("--address-line", address_lines, "postal address line (repeat)");
  send->add_option("--postal-code", postal_code, "postal code");
  send->add_option("--city", city, "post town");
  send->add_option("--country", country, "ISO country code (default NO)");
  send->add_option("--reply-to", reply_to, "organisation number replies go to");

  auto* get = cli.add_subcommand("get", "show a letter's status and history");
  std::string letter_id;
  get->add_option("letter_id", letter_id, "letter id")->required();

  auto* list = cli.add_subcommand("list", "list your letters, newest first");
  std::vector<std::string> statuses;
  int limit = 20;
  std::string page_token, since;
  list->add_option("--status", statuses, "only this status (repeat), e.g. accepted, cancelled");
  list->add_option("--limit", limit, "letters per page (1..1000)");
  list->add_option("--page-token", page_token, "continue from a previous page");
  list->add_option("--since", since, "only letters accepted in the last DURATION, e.g. 24h");

  auto* watch = cli.add_subcommand("watch", "stream status events as they happen (Ctrl-C stops)");
  uint64_t after = 0;
  int max_events = 0;
  watch->add_option("--after", after, "start after this event sequence (default: from the start)");
  watch->add_option("--max-events", max_events, "stop after this many events (0: never)");

  auto* cancel = cli.add_subcommand("cancel", "cancel a letter not yet handed to a channel");
  cancel->add_option("letter_id", letter_id, "letter id")->required();

  auto registry = utpost::cli::AddRegistryCommand(cli);
  auto mailbox_sim = utpost::cli::AddMailboxSimCommand(cli);
  auto forms = utpost::cli::AddFormsCommand(cli);
  auto stats = utpost::cli::AddStatsCommand(cli);
  auto preview = utpost::cli::AddPreviewCommand(cli);
  auto admin = utpost::cli::AddAdminCommand(cli);

  CLI11_PARSE(cli, argc, argv);
  if (!as.empty()) {
    if (conn.config) {
      return Report(utpost::common::FieldError(absl::StatusCode::kInvalidArgument, "--as",
                                               "cannot be combined with --config"));
    }
    // The dev portal's org number (services/utpost/app.h, kExamplePortals).
    const std::string org = as == "portal" ? "NO991825827" : absl::AsciiStrToUpper(as);
    conn.config = absl::StrCat("data/utpostctl-", org, ".yaml");
    if (!std::filesystem::exists(*conn.config)) {
      return Report(utpost::common::FieldError(
          absl::StatusCode::kInvalidArgument, "--as",
          absl::StrCat("no ", *conn.config,
                       ": start utpost with `make run` first (it writes one "
                       "per dev identity)")));
    }
  }
  const Output out = output == "json" ? Output::kJson : Output::kText;
  if (registry->registry->parsed()) {
    return utpost::cli::RunRegistryCommand(*registry, conn, out == Output::kJson, timeout_seconds);
  }
  if (forms->forms->parsed()) {
    return utpost::cli::RunFormsCommand(*forms, conn, out == Output::kJson, timeout_seconds);
  }
  if (stats->stats->parsed()) {
    return utpost::cli::RunStatsCommand(*stats, conn, out == Output::kJson, timeout_seconds);
  }
  if (admin->admin->parsed()) {
    return utpost::cli::RunAdminCommand(*admin, conn, out == Output::kJson, timeout_seconds);
  }
  if (preview->preview->parsed()) {
    return utpost::cli::RunPreviewCommand(*preview, conn, out == Output::kJson, timeout_seconds);
  }
  if (mailbox_sim->command->parsed()) {
    return utpost::cli::RunMailboxSimCommand(*mailbox_sim, conn, out == Output::kJson,
                                             timeout_seconds);
  }

  auto options = utpost::client::ResolveConnection(conn);
  if (!options.ok()) return Report(options.status());
  auto channel_or = utpost::client::Connect(*options);
  if (!channel_or.ok()) return Report(channel_or.status());
  utpost::client::LetterClient client(*channel_or, *options, absl::Seconds(timeout_seconds));

  if (send->parsed()) {
    v1::SendLetterRequest request;
    auto recipient = utpost::client::RecipientFromIdentifier(to);
    if (!recipient.ok()) {
      return Report(utpost::common::FieldError(absl::StatusCode::kInvalidArgument, "--to",
                                               std::string(recipient.status().message())));
    }
    *request.mutable_recipient() = *recipient;
    request.set_title(title);
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      if (!in) {
        return Report(utpost::common::FieldError(absl::StatusCode::kInvalidArgument, "--file",
                                                 absl::StrCat("cannot read ", file)));
      }
      std::stringstream content;
      content << in.rdbuf();
      auto* document = request.add_documents();
      document->set_filename(std::filesystem::path(file).filename().string());
      document->set_media_type(utpost::client::MediaTypeForFile(file));
      document->set_content(content.str());
    }
    auto* opts = request.mutable_options();
    opts->set_channel_policy(channel == "digital-only" ? v1::CHANNEL_POLICY_DIGITAL_ONLY
                             : channel == "print-only" ? v1::CHANNEL_POLICY_PRINT_ONLY
                                                       : v1::CHANNEL_POLICY_AUTO);
    opts->set_security_level(security == "high" ? v1::SECURITY_LEVEL_HIGH
                                                : v1::SECURITY_LEVEL_SUBSTANTIAL);
    opts->set_print_colour(colour);
    opts->set_print_duplex(duplex);
    if (!print_if_unread.empty()) {
      absl::Duration d;
      if (!absl::ParseDuration(print_if_unread, &d)) {
        return Report(utpost::common::FieldError(absl::StatusCode::kInvalidArgument,
                                                 "--print-if-unread-after",
                                                 "is not a duration such as 40h"));
      }
      *opts->mutable_print_if_unread_after() =
          google::protobuf::util::TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(d));
    }
    if (!deliver_after.empty()) {
      absl::Time at;
      absl::Duration in;
      std::string error;
      if (absl::ParseTime(absl::RFC3339_full, deliver_after, &at, &error)) {
      } else if (absl::ParseDuration(deliver_after, &in) && in >= absl::ZeroDuration() &&
                 in != absl::InfiniteDuration()) {
        at = absl::Now() + in;
      } else {
        return Report(utpost::common::FieldError(
            absl::StatusCode::kInvalidArgument, "--deliver-after",
            "is neither an RFC 3339 time such as 2026-12-01T08:00:00+01:00 nor a duration such "
            "as 10m"));
      }
      *opts->mutable_deliver_after() =
          google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(at));
    }
    if (!address_name.empty() || !address_lines.empty() || !postal_code.empty() || !city.empty()) {
      auto* a = request.mutable_postal_address();
      a->set_name(address_name);
      for (const auto& line : address_lines) a->add_address_lines(line);
      a->set_postal_code(postal_code);
      a->set_city(city);
      a->set_country_code(country);
    }
    if (!reply_to.empty()) {
      auto r = utpost::client::RecipientFromIdentifier(reply_to);
      if (!r.ok() || !r->has_organisation()) {
        return Report(utpost::common::FieldError(absl::StatusCode::kInvalidArgument, "--reply-to",
                                                 "must be an organisation number or CVR"));
      }
      *request.mutable_reply_to() = r->organisation();
    }
    request.set_external_reference(external_reference);
    request.set_idempotency_key(idempotency_key.empty() ? NewIdempotencyKey() : idempotency_key);
    // Retries reuse the idempotency key, so a retry after a lost reply cannot duplicate.
    absl::StatusOr<v1::SendLetterResponse> response;
    for (int attempt = 0; attempt < 4; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(250 << attempt));
      response = client.Send(request);
      if (response.ok() || !Retryable(response.status())) break;
    }
    if (!response.ok()) return Report(response.status());
    if (out == Output::kJson) {
      PrintJson(*response);
    } else {
      std::cout << response->letter_id() << "\n";
    }
    return 0;
  }

  if (get->parsed()) {
    auto response = client.Get(letter_id);
    if (!response.ok()) return Report(response.status());
    if (out == Output::kJson) {
      PrintJson(*response);
      return 0;
    }
    const v1::Letter& l = response->letter();
    std::cout << "letter     " << l.letter_id() << "\n"
              << "status     " << StatusName(l.status()) << "\n"
              << "recipient  " << RecipientText(l.recipient()) << "\n"
              << "title      " << l.title() << "\n";
    if (!l.external_reference().empty())
      std::cout << "reference  " << l.external_reference() << "\n";
    std::cout << "accepted   " << Time(l.accepted_time()) << "\n"
              << "updated    " << Time(l.update_time()) << "\n";
    for (int i = 0; i < l.documents_size(); ++i) {
      std::cout << (i == 0 ? "documents  " : "           ") << l.documents(i).filename() << " ("
                << l.documents(i).media_type() << ", " << l.documents(i).size_bytes()
                << " bytes)\n";
    }
    std::cout << "history\n";
    for (const auto& e : response->events()) std::cout << "  " << EventLine(e) << "\n";
    return 0;
  }

  if (list->parsed()) {
    v1::ListLettersRequest request;
    request.set_page_size(limit);
    request.set_page_token(page_token);
    for (const auto& s : statuses) {
      v1::LetterStatus status;
      if (!v1::LetterStatus_Parse("LETTER_STATUS_" + absl::AsciiStrToUpper(s), &status)) {
        return Report(utpost::common::FieldError(absl::StatusCode::kInvalidArgument, "--status",
                                                 absl::StrCat("unknown status '", s, "'")));
      }
      request.add_statuses(status);
    }
    if (!since.empty()) {
      absl::Duration d;
      if (!absl::ParseDuration(since, &d)) {
        return Report(utpost::common::FieldError(absl::StatusCode::kInvalidArgument, "--since",
                                                 "is not a duration such as 24h"));
      }
      *request.mutable_accepted_after() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
          absl::ToUnixNanos(absl::Now() - d));
    }
    auto response = client.List(request);
    if (!response.ok()) return Report(response.status());
    if (out == Output::kJson) {
      PrintJson(*response);
      return 0;
    }
    std::cout << absl::StrFormat("%-26s %-20s %-19s %-11s %s\n", "LETTER", "STATUS", "ACCEPTED",
                                 "RECIPIENT", "TITLE");
    for (const auto& l : response->letters()) {
      std::cout << absl::StrFormat("%-26s %-20s %-19s %-11s %s\n", l.letter_id(),
                                   StatusName(l.status()), Time(l.accepted_time()),
                                   RecipientText(l.recipient()), l.title());
    }
    if (!response->next_page_token().empty()) {
      std::cout << "more: --page-token " << response->next_page_token() << "\n";
    }
    return 0;
  }

  if (watch->parsed()) {
    uint64_t cursor = after;
    int seen = 0;
    if (out == Output::kText) {
      std::cout << absl::StrFormat("%-8s %-26s %-19s %-20s %s\n", "SEQ", "LETTER", "TIME", "STATUS",
                                   "REASON");
    }
    // Reconnects from the last sequence seen, so a restart of the server loses nothing.
    for (int failures = 0;;) {
      absl::Status status = client.Watch(cursor, [&](const v1::LetterEvent& e) {
        cursor = e.sequence();
        failures = 0;
        if (out == Output::kJson) {
          PrintJson(e);
        } else {
          std::cout << EventLine(e) << std::endl;
        }
        return max_events == 0 || ++seen < max_events;
      });
      if (status.ok()) return 0;
      if (!Retryable(status) || ++failures > 30) return Report(status);
      std::this_thread::sleep_for(std::chrono::seconds(std::min(failures, 5)));
    }
  }

  if (cancel->parsed()) {
    auto response = client.Cancel(letter_id);
    if (!response.ok()) return Report(response.status());
    if (out == Output::kJson) {
      PrintJson(*response);
    } else {
      std::cout << response->letter().letter_id() << " " << StatusName(response->letter().status())
                << "\n";
    }
    return 0;
  }
  return 0;
}
