#include "clients/cli/registry_cmd.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "clients/cli/output.h"
#include "clients/cli/registry_rows.h"
#include "clients/cpp/registry_client.h"
#include "common/field_violations.h"
#include "common/registry_rules.h"

namespace utpost::cli {
namespace {

constexpr int kBatchRows = common::kMaxRegistryImportRows;

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(t.seconds()),
                          absl::LocalTimeZone());
}

std::string Level(v1::SecurityLevel level) {
  return level == v1::SECURITY_LEVEL_HIGH ? "high" : "substantial";
}

std::string AddressText(const v1::PostalAddress& a) {
  return absl::StrCat(a.name(), ", ", absl::StrJoin(a.address_lines(), ", "), ", ", a.postal_code(),
                      " ", a.city(), ", ", a.country_code());
}

void PrintResult(const v1::LookupResult& result) {
  const v1::RegistryEntry& e = result.entry();
  auto provider_text = [&result](const std::string& id) {
    if (!result.has_provider()) return absl::StrCat(id, " (not in the registry)");
    return absl::StrCat(id, " (", result.provider().name(), ", up to ",
                        Level(result.provider().max_security_level()), ")");
  };
  if (e.has_person()) {
    const v1::PersonEntry& p = e.person();
    std::cout << "person     "
              << (p.id().has_norwegian_national_id()
                      ? absl::StrCat(p.id().norwegian_national_id(), " (NO)")
                      : absl::StrCat(p.id().danish_cpr(), " (DK)"))
              << "\n";
    std::cout << "mailbox    "
              << (p.has_mailbox() ? absl::StrCat(p.mailbox().address(), " at ",
                                                 provider_text(p.mailbox().provider_id()))
                                  : "none")
              << "\n";
    std::cout << "reserved   " << (p.reserved() ? "yes" : "no") << "\n";
    std::cout << "address    "
              << (p.has_postal_address() ? AddressText(p.postal_address()) : "none") << "\n";
    std::cout << "updated    " << Time(p.update_time()) << "\n";
  } else if (e.has_organisation()) {
    const v1::OrganisationEntry& o = e.organisation();
    std::cout << "organisation "
              << (o.id().has_norwegian_org_number()
                      ? absl::StrCat(o.id().norwegian_org_number(), " (NO)")
                      : absl::StrCat(o.id().danish_cvr(), " (DK)"))
              << "\n";
    std::cout << "inbox        "
              << (o.has_inbox() ? absl::StrCat(o.inbox().address(), " at ",
                                               provider_text(o.inbox().provider_id()))
                                : "none")
              << "\n";
    std::cout << "address      "
              << (o.has_postal_address() ? AddressText(o.postal_address()) : "none") << "\n";
    std::cout << "updated      " << Time(o.update_time()) << "\n";
  } else if (e.has_provider()) {
    const v1::Provider& p = e.provider();
    std::cout << "provider   " << p.provider_id() << "\n"
              << "name       " << p.name() << "\n"
              << "endpoint   " << p.endpoint() << "\n"
              << "security   up to " << Level(p.max_security_level()) << "\n"
              << "updated    " << Time(p.update_time()) << "\n";
  }
}

absl::StatusOr<v1::RegistryKey> KeyFrom(const RegistryCommand& c) {
  if (!c.provider.empty()) {
    v1::RegistryKey key;
    key.set_provider_id(c.provider);
    return key;
  }
  if (c.id.empty()) {
    return common::FieldError(absl::StatusCode::kInvalidArgument, "id",
                              "give an identifier, or --provider ID");
  }
  absl::StatusOr<v1::RegistryKey> key = client::RegistryKeyFromIdentifier(c.id);
  if (!key.ok()) {
    return common::FieldError(absl::StatusCode::kInvalidArgument, "id",
                              std::string(key.status().message()));
  }
  return key;
}

void PrintRowError(const RowError& e) {
  std::string where = absl::StrCat("line ", e.line);
  if (!e.column.empty()) absl::StrAppend(&where, ": ", e.column);
  if (!e.field.empty() && e.field != e.column) absl::StrAppend(&where, " (", e.field, ")");
  std::fprintf(stderr, "%s: %s\n", where.c_str(), e.description.c_str());
}

struct Connection {
  client::ConnectionOptions options;
  std::shared_ptr<grpc::Channel> channel;
};

absl::StatusOr<Connection> Connect(const client::ConnectionOverrides& overrides) {
  Connection c;
  absl::StatusOr<client::ConnectionOptions> options = client::ResolveConnection(overrides);
  if (!options.ok()) return options.status();
  c.options = *options;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = client::Connect(c.options);
  if (!channel.ok()) return channel.status();
  c.channel = *channel;
  return c;
}

// Progress on stderr, at most once a second: rows sent and rows per second.
class Progress {
 public:
  explicit Progress(uint64_t total) : total_(total), tty_(::isatty(STDERR_FILENO) != 0) {}
  void Update(uint64_t done, bool last = false) {
    const absl::Time now = absl::Now();
    if (!last && now - shown_ < absl::Seconds(1)) return;
    shown_ = now;
    const double seconds = absl::ToDoubleSeconds(now - start_);
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
    std::fprintf(stderr, "%simported %llu of %llu rows, %.0f rows/s%s", tty_ ? "\r" : "",
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_),
                 rate, tty_ && !last ? "" : "\n");
    std::fflush(stderr);
  }
  absl::Duration elapsed() const { return absl::Now() - start_; }

 private:
  const uint64_t total_;
  const bool tty_;
  const absl::Time start_ = absl::Now();
  absl::Time shown_ = start_;
};

int RunImport(RegistryCommand& c, const client::ConnectionOverrides& overrides, bool json_output,
              int timeout_seconds) {
  std::optional<FileFormat> format;
  if (c.format == "csv") format = FileFormat::kCsv;
  if (c.format == "json") format = FileFormat::kJson;
  const std::filesystem::path path = c.file;
  const std::filesystem::path base_dir = path.parent_path();

  // Pass 1: the whole file is checked before anything is sent.
  absl::StatusOr<std::unique_ptr<RowReader>> reader = RowReader::Open(path, format);
  if (!reader.ok()) return Report(reader.status());
  absl::flat_hash_map<std::string, uint64_t> first_line_of_key;
  absl::flat_hash_set<uint64_t> bad_lines;
  absl::flat_hash_set<std::string> defined_providers;
  absl::flat_hash_map<std::string, std::vector<uint64_t>> lines_naming_provider;
  std::vector<RowError> errors;
  uint64_t rows = 0;
  RawRow row;
  std::optional<RowError> read_error;
  while ((*reader)->Next(row, read_error)) {
    ++rows;
    if (read_error) {
      errors.push_back(*read_error);
      bad_lines.insert(row.line);
      continue;
    }
    const size_t before = errors.size();
    const v1::RegistryEntry entry = RowToEntry(row, base_dir, errors);
    if (errors.size() == before) {
      const std::string key = common::CanonicalRegistryKey(common::RegistryKeyOf(entry));
      const auto [it, inserted] = first_line_of_key.try_emplace(key, row.line);
      if (!inserted) {
        errors.push_back(RowError{row.line, "id", "",
                                  absl::StrCat("the same entry as line ", it->second,
                                               " (each entry may appear once in a file)")});
      } else if (entry.has_provider()) {
        defined_providers.insert(entry.provider().provider_id());
      } else if (entry.person().has_mailbox()) {
        lines_naming_provider[entry.person().mailbox().provider_id()].push_back(row.line);
      } else if (entry.organisation().has_inbox()) {
        lines_naming_provider[entry.organisation().inbox().provider_id()].push_back(row.line);
      }
    }
    if (errors.size() != before) bad_lines.insert(row.line);
  }

  absl::StatusOr<Connection> connection = Connect(overrides);
  if (!connection.ok()) return Report(connection.status());
  client::RegistryClient client(connection->channel, connection->options,
                                absl::Seconds(timeout_seconds));
  // Providers the file names but does not define must be in the registry already.
  v1::LookupRequest lookup;
  for (const auto& [provider, lines] : lines_naming_provider) {
    if (!defined_providers.contains(provider)) lookup.add_keys()->set_provider_id(provider);
  }
  for (int start = 0; start < lookup.keys_size(); start += common::kMaxRegistryLookupKeys) {
    v1::LookupRequest part;
    for (int i = start; i < std::min(lookup.keys_size(), start + common::kMaxRegistryLookupKeys);
         ++i) {
      *part.add_keys() = lookup.keys(i);
    }
    absl::StatusOr<v1::LookupResponse> found = client.Lookup(part);
    if (!found.ok()) return Report(found.status());
    for (int i = 0; i < part.keys_size(); ++i) {
      if (found->results(i).has_entry()) continue;
      const std::string& provider = part.keys(i).provider_id();
      for (uint64_t line : lines_naming_provider[provider]) {
        errors.push_back(RowError{line, "mailbox_provider", "",
                                  absl::StrCat("names provider '", provider,
                                               "', which is neither in the registry nor in "
                                               "the file")});
        bad_lines.insert(line);
      }
    }
  }
  std::sort(errors.begin(), errors.end(),
            [](const RowError& a, const RowError& b) { return a.line < b.line; });
  for (const RowError& e : errors) PrintRowError(e);
  const uint64_t bad = bad_lines.size();
  if (bad > 0 && !c.skip_bad_rows) {
    std::fprintf(stderr,
                 "utpostctl: nothing imported: %llu of %llu rows are bad (fix them, or pass "
                 "--skip-bad-rows to import the others)\n",
                 static_cast<unsigned long long>(bad), static_cast<unsigned long long>(rows));
    return 3;
  }

  // Pass 2: the good rows, streamed in messages of kBatchRows.
  reader = RowReader::Open(path, format);
  if (!reader.ok()) return Report(reader.status());
  std::unique_ptr<client::RegistryClient::ImportStream> stream = client.StartImport();
  Progress progress(rows - bad);
  v1::ImportRequest batch;
  uint64_t sent = 0;
  bool broken = false;
  auto flush = [&]() {
    if (batch.rows_size() == 0 || broken) return;
    if (!stream->Write(batch)) broken = true;
    sent += batch.rows_size();
    batch.Clear();
    progress.Update(sent);
  };
  std::vector<RowError> ignored;
  while (!broken && (*reader)->Next(row, read_error)) {
    if (read_error || bad_lines.contains(row.line)) continue;
    v1::ImportRow* out = batch.add_rows();
    out->set_line(row.line);
    *out->mutable_entry() = RowToEntry(row, base_dir, ignored);
    if (batch.rows_size() == kBatchRows) flush();
  }
  flush();
  absl::StatusOr<v1::ImportResponse> response = stream->Finish();
  if (!response.ok()) return Report(response.status());
  progress.Update(sent, /*last=*/true);
  if (json_output) {
    PrintJson(*response);
  } else {
    for (const v1::ImportRowError& e : response->errors()) {
      PrintRowError(RowError{e.line(), "", e.field(), e.description()});
    }
    std::cout << absl::StrFormat(
        "imported %d rows (%d replaced existing entries) in %.1f s; %d bad rows skipped\n",
        response->imported(), response->replaced(), absl::ToDoubleSeconds(progress.elapsed()),
        bad + response->error_count());
  }
  if (response->error_count() > 0 && !c.skip_bad_rows) return 3;
  return 0;
}

}  // namespace

std::unique_ptr<RegistryCommand> AddRegistryCommand(CLI::App& cli) {
  auto c = std::make_unique<RegistryCommand>();
  c->registry = cli.add_subcommand("registry",
                                   "manage the recipient registry (registry administrators only)");
  c->registry->require_subcommand(1);
  const char* kIdHelp =
      "national id / D-number (11 digits), CPR (10 or DDMMYY-SSSS), org number (9), CVR (8)";

  c->get = c->registry->add_subcommand("get", "show an entry");
  c->get->add_option("id", c->id, kIdHelp);
  c->get->add_option("--provider", c->provider, "a provider id instead of an identifier");

  c->put = c->registry->add_subcommand("put", "create or replace an entry");
  c->put->add_option("id", c->id, kIdHelp);
  c->put->add_option("--provider", c->provider, "a provider entry with this id");
  c->put->add_option("--json", c->json, "the entry as one JSON object with the import fields");
  for (const char* field :
       {"mailbox_provider", "mailbox_address", "postal_name", "postal_code", "postal_city",
        "postal_country", "provider_name", "endpoint", "certificate", "max_security_level"}) {
    std::string flag = absl::StrCat("--", field);
    std::replace(flag.begin(), flag.end(), '_', '-');
    c->put->add_option(flag, c->values[field], absl::StrCat("field ", field));
  }
  c->put->add_option("--postal-line", c->postal_lines, "postal address line (repeat)");
  c->put->add_flag("--reserved", c->reserved, "reserved against digital mail");

  c->del = c->registry->add_subcommand("delete", "delete an entry");
  c->del->add_option("id", c->id, kIdHelp);
  c->del->add_option("--provider", c->provider, "a provider id instead of an identifier");

  c->import = c->registry->add_subcommand(
      "import", "import a CSV or JSON file of entries (checked whole before anything is sent)");
  c->import->add_option("file", c->file, "the file")->required();
  c->import->add_option("--format", c->format, "csv or json (default: by extension or content)")
      ->check(CLI::IsMember({"csv", "json"}));
  c->import->add_flag("--skip-bad-rows", c->skip_bad_rows,
                      "import the good rows of a file that has bad ones");
  return c;
}

int RunRegistryCommand(RegistryCommand& c, const client::ConnectionOverrides& overrides,
                       bool json_output, int timeout_seconds) {
  if (c.import->parsed()) return RunImport(c, overrides, json_output, timeout_seconds);

  v1::RegistryEntry entry;
  std::optional<v1::RegistryKey> key;
  if (c.put->parsed()) {
    RawRow row;
    row.line = 1;
    if (!c.json.empty()) {
      if (std::optional<RowError> e = JsonObjectToRow(c.json, row)) {
        return Report(common::FieldError(absl::StatusCode::kInvalidArgument,
                                         e->column.empty() ? "--json" : e->column, e->description));
      }
    }
    for (const auto& [field, value] : c.values) {
      if (!value.empty()) row.values[field] = value;
    }
    if (!c.postal_lines.empty()) row.lines = c.postal_lines;
    if (c.reserved) row.values["reserved"] = "true";
    if (!c.provider.empty()) {
      row.values["kind"] = "provider";
      row.values["id"] = c.provider;
    } else if (!c.id.empty()) {
      row.values["id"] = c.id;
    }
    std::vector<RowError> errors;
    entry = RowToEntry(row, std::filesystem::current_path(), errors);
    if (!errors.empty()) {
      common::FieldViolations v;
      for (const RowError& e : errors) {
        v.Add(e.column.empty() ? e.field : e.column, e.description);
      }
      return Report(v.ToStatus());
    }
  } else {
    absl::StatusOr<v1::RegistryKey> k = KeyFrom(c);
    if (!k.ok()) return Report(k.status());
    key = *k;
  }

  absl::StatusOr<Connection> connection = Connect(overrides);
  if (!connection.ok()) return Report(connection.status());
  client::RegistryClient client(connection->channel, connection->options,
                                absl::Seconds(timeout_seconds));
  if (c.put->parsed()) {
    absl::StatusOr<v1::UpsertResponse> response = client.Upsert(entry);
    if (!response.ok()) return Report(response.status());
    if (json_output) {
      PrintJson(*response);
    } else {
      std::cout << (response->replaced() ? "replaced" : "created") << "\n";
    }
    return 0;
  }
  if (c.del->parsed()) {
    absl::StatusOr<v1::DeleteResponse> response = client.Delete(*key);
    if (!response.ok()) return Report(response.status());
    if (json_output) {
      PrintJson(*response);
    } else {
      std::cout << (response->found() ? "deleted" : "no such entry") << "\n";
    }
    return 0;
  }
  v1::LookupRequest request;
  *request.add_keys() = *key;
  absl::StatusOr<v1::LookupResponse> response = client.Lookup(request);
  if (!response.ok()) return Report(response.status());
  if (response->results_size() != 1 || !response->results(0).has_entry()) {
    std::fprintf(stderr, "utpostctl: NOT_FOUND: no registry entry for %s\n",
                 c.provider.empty() ? c.id.c_str() : c.provider.c_str());
    return 1;
  }
  if (json_output) {
    PrintJson(response->results(0));
  } else {
    PrintResult(response->results(0));
  }
  return 0;
}

}  // namespace utpost::cli
