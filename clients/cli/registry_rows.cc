#include "clients/cli/registry_rows.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/field_violations.h"
#include "common/registry_rules.h"
#include "common/strings.h"

namespace utpost::cli {
namespace {

using common::Av;

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(Av(s)); }

std::string Trim(std::string_view s) { return std::string(absl::StripAsciiWhitespace(Av(s))); }

// Splits one CSV record (which may span lines) into fields. False if a quote is unbalanced.
bool SplitCsv(const std::string& record, std::vector<std::string>& fields) {
  fields.clear();
  std::string field;
  bool quoted = false;
  bool was_quoted = false;
  for (size_t i = 0; i < record.size(); ++i) {
    const char c = record[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < record.size() && record[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field.push_back(c);
      }
    } else if (c == '"' && Trim(field).empty()) {
      field.clear();
      quoted = true;
      was_quoted = true;
    } else if (c == ',') {
      fields.push_back(was_quoted ? field : Trim(field));
      field.clear();
      was_quoted = false;
    } else {
      field.push_back(c);
    }
  }
  if (quoted) return false;
  fields.push_back(was_quoted ? field : Trim(field));
  return true;
}

// Quotes in `line` that open or close a quoted field (an odd count leaves one open).
size_t CountQuotes(std::string_view line) { return std::count(line.begin(), line.end(), '"'); }

bool IsField(const std::string& name) {
  const auto& fields = RowFields();
  return std::find(fields.begin(), fields.end(), name) != fields.end();
}

}  // namespace

const std::vector<std::string>& RowFields() {
  static const std::vector<std::string> kFields = {
      "kind",          "id",           "mailbox_provider", "mailbox_address",   "reserved",
      "postal_name",   "postal_lines", "postal_code",      "postal_city",       "postal_country",
      "provider_name", "endpoint",     "certificate",      "max_security_level"};
  return kFields;
}

absl::StatusOr<std::unique_ptr<RowReader>> RowReader::Open(const std::filesystem::path& path,
                                                           std::optional<FileFormat> format) {
  auto reader = std::unique_ptr<RowReader>(new RowReader());
  reader->in_.open(path, std::ios::binary);
  if (!reader->in_) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  if (format) {
    reader->format_ = *format;
  } else {
    const std::string ext = Lower(path.extension().string());
    if (ext == ".csv") {
      reader->format_ = FileFormat::kCsv;
    } else if (ext == ".json" || ext == ".jsonl" || ext == ".ndjson") {
      reader->format_ = FileFormat::kJson;
    } else {
      int c;
      while ((c = reader->in_.peek()) != EOF &&
             absl::ascii_isspace(static_cast<unsigned char>(c))) {
        reader->in_.get();
      }
      reader->format_ = (c == '[' || c == '{') ? FileFormat::kJson : FileFormat::kCsv;
      reader->in_.clear();
      reader->in_.seekg(0);
    }
  }
  return reader;
}

bool RowReader::GetLine(std::string& line) {
  if (!std::getline(in_, line)) return false;
  ++line_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

bool RowReader::Next(RawRow& row, std::optional<RowError>& error) {
  row = RawRow();
  error.reset();
  return format_ == FileFormat::kCsv ? NextCsv(row, error) : NextJson(row, error);
}

bool RowReader::NextCsv(RawRow& row, std::optional<RowError>& error) {
  std::string record;
  std::vector<std::string> fields;
  for (;;) {
    if (!GetLine(record)) return false;
    row.line = line_;
    // A quoted field may hold line breaks: the record goes on until its quotes balance.
    std::string more;
    while (CountQuotes(record) % 2 == 1 && GetLine(more)) absl::StrAppend(&record, "\n", more);
    if (Trim(record).empty()) continue;
    if (!SplitCsv(record, fields)) {
      error = RowError{row.line, "", "", "has a quote that is never closed"};
      return true;
    }
    if (header_.empty() && !header_error_) {
      for (std::string& f : fields) {
        std::string name = Lower(Trim(f));
        if (!IsField(name)) {
          header_error_ = true;
          error = RowError{row.line, name, "",
                           absl::StrCat("the header names an unknown field '", name,
                                        "'; fields: kind, id, mailbox_provider, ...")};
          return true;
        }
        header_.push_back(std::move(name));
      }
      continue;
    }
    if (header_error_) {
      error = RowError{row.line, "", "", "not read: the header is wrong"};
      return true;
    }
    if (fields.size() > header_.size()) {
      error = RowError{
          row.line, "", "",
          absl::StrCat("has ", fields.size(), " fields; the header names ", header_.size())};
      return true;
    }
    for (size_t i = 0; i < fields.size(); ++i) {
      if (!fields[i].empty()) row.values[header_[i]] = std::move(fields[i]);
    }
    return true;
  }
}

bool RowReader::NextJson(RawRow& row, std::optional<RowError>& error) {
  // Finds the next top-level object (inside an outer array or not) and its first line.
  int c;
  while ((c = in_.get()) != EOF) {
    if (c == '\n') {
      ++line_;
      continue;
    }
    if (c == '{') break;
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == ',' || c == '[' || c == ']') {
      continue;
    }
    row.line = line_ + 1;
    error = RowError{row.line, "", "",
                     absl::StrCat("unexpected '", std::string(1, c), "': expected a JSON object")};
    // Skip the rest of the line.
    std::string rest;
    std::getline(in_, rest);
    ++line_;
    return true;
  }
  if (c == EOF) return false;
  row.line = line_ + 1;
  std::string text = "{";
  int depth = 1;
  bool in_string = false;
  bool escaped = false;
  while (depth > 0 && (c = in_.get()) != EOF) {
    text.push_back(static_cast<char>(c));
    if (c == '\n') ++line_;
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}') {
      --depth;
    }
  }
  if (depth > 0) {
    error = RowError{row.line, "", "", "is not a well-formed JSON object"};
    return true;
  }
  error = JsonObjectToRow(text, row);
  return true;
}

std::optional<RowError> JsonObjectToRow(const std::string& text, RawRow& row) {
  nlohmann::json object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) {
    return RowError{row.line, "", "", "is not a well-formed JSON object"};
  }
  for (const auto& [key, value] : object.items()) {
    if (!IsField(key))
      return RowError{row.line, key, "", absl::StrCat("unknown field '", key, "'")};
    if (value.is_null()) continue;
    if (value.is_string()) {
      row.values[key] = value.get<std::string>();
    } else if (value.is_boolean()) {
      row.values[key] = value.get<bool>() ? "true" : "false";
    } else if (value.is_number()) {
      row.values[key] = value.dump();
    } else if (key == "postal_lines" && value.is_array()) {
      std::vector<std::string> lines;
      for (const auto& line : value) {
        if (!line.is_string()) return RowError{row.line, key, "", "must be a list of strings"};
        lines.push_back(line.get<std::string>());
      }
      row.lines = std::move(lines);
    } else {
      return RowError{row.line, key, "", "must be a string, number or boolean"};
    }
  }
  return std::nullopt;
}

std::string ColumnOf(std::string_view path) {
  const std::string p(path);
  auto has = [&p](const char* part) { return absl::StrContains(p, part); };
  if (has("postal_address.name")) return "postal_name";
  if (has("postal_address.address_lines")) return "postal_lines";
  if (has("postal_address.postal_code")) return "postal_code";
  if (has("postal_address.city")) return "postal_city";
  if (has("postal_address.country_code")) return "postal_country";
  if (has("mailbox.provider_id") || has("inbox.provider_id")) return "mailbox_provider";
  if (has("mailbox.address") || has("inbox.address")) return "mailbox_address";
  if (has("provider.provider_id") || has(".id") || p == "entry") return "id";
  if (has("provider.name")) return "provider_name";
  if (has("provider.endpoint")) return "endpoint";
  if (has("encryption_certificate_pem")) return "certificate";
  if (has("max_security_level")) return "max_security_level";
  return "";
}

v1::RegistryEntry RowToEntry(const RawRow& row, const std::filesystem::path& base_dir,
                             std::vector<RowError>& errors) {
  const size_t errors_before = errors.size();
  auto fail = [&](const std::string& column, std::string description) {
    errors.push_back(RowError{row.line, column, "", std::move(description)});
  };
  auto get = [&row](const std::string& name) -> std::string {
    auto it = row.values.find(name);
    return it == row.values.end() ? "" : it->second;
  };
  v1::RegistryEntry entry;
  std::string kind = Lower(Trim(get("kind")));
  std::string id = Trim(get("id"));
  // DDMMYY-SSSS is how a CPR number is usually written.
  std::string digits = id;
  if (digits.size() == 11 && digits[6] == '-') digits.erase(6, 1);
  const bool all_digits = !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
  if (kind.empty() && all_digits) {
    kind = digits.size() >= 10 ? "person" : "organisation";
  }
  if (id.empty()) {
    fail("id", "is required");
    return entry;
  }
  bool danish = false;
  if (kind == "person" || kind == "organisation") {
    if (!all_digits || digits.size() < 8 || digits.size() > 11) {
      fail("id", "must be 11 digits (national id), 10 (CPR), 9 (org number) or 8 (CVR)");
      return entry;
    }
    const bool person_length = digits.size() >= 10;
    if (person_length != (kind == "person")) {
      fail("id", absl::StrCat("has ", digits.size(), " digits, which is not a",
                              kind == "person" ? " person's identifier" : "n organisation's"));
      return entry;
    }
    danish = digits.size() == 10 || digits.size() == 8;
  } else if (kind != "provider") {
    fail("kind", kind.empty() ? "is required for a provider row (kind: provider)"
                              : "must be person, organisation or provider");
    return entry;
  }

  const std::string mailbox_provider = Trim(get("mailbox_provider"));
  const std::string mailbox_address = Trim(get("mailbox_address"));
  const bool has_mailbox = !mailbox_provider.empty() || !mailbox_address.empty();
  const std::string reserved_text = Lower(Trim(get("reserved")));
  bool reserved = false;
  if (reserved_text == "true" || reserved_text == "yes" || reserved_text == "1") {
    reserved = true;
  } else if (!reserved_text.empty() && reserved_text != "false" && reserved_text != "no" &&
             reserved_text != "0") {
    fail("reserved", "must be true or false");
  }
  v1::PostalAddress address;
  bool has_address = false;
  for (const char* f : {"postal_name", "postal_code", "postal_city", "postal_country"}) {
    has_address = has_address || !Trim(get(f)).empty();
  }
  std::vector<std::string> lines;
  if (row.lines) {
    lines = *row.lines;
  } else if (!get("postal_lines").empty()) {
    lines = absl::StrSplit(get("postal_lines"), '|');
  }
  has_address = has_address || !lines.empty();
  if (has_address) {
    address.set_name(Trim(get("postal_name")));
    for (const std::string& line : lines) address.add_address_lines(Trim(line));
    address.set_postal_code(Trim(get("postal_code")));
    address.set_city(Trim(get("postal_city")));
    std::string country = Trim(get("postal_country"));
    if (country.empty()) country = danish ? "DK" : "NO";
    address.set_country_code(country);
  }
  auto only_for = [&](const char* column, const char* what) {
    if (!Trim(get(column)).empty()) fail(column, absl::StrCat("applies to ", what, " only"));
  };

  if (kind == "person") {
    v1::PersonEntry* person = entry.mutable_person();
    if (digits.size() == 11) {
      person->mutable_id()->set_norwegian_national_id(digits);
    } else {
      person->mutable_id()->set_danish_cpr(digits);
    }
    if (has_mailbox) {
      person->mutable_mailbox()->set_provider_id(mailbox_provider);
      person->mutable_mailbox()->set_address(mailbox_address);
    }
    person->set_reserved(reserved);
    if (has_address) *person->mutable_postal_address() = address;
  } else if (kind == "organisation") {
    v1::OrganisationEntry* org = entry.mutable_organisation();
    if (digits.size() == 9) {
      org->mutable_id()->set_norwegian_org_number(digits);
    } else {
      org->mutable_id()->set_danish_cvr(digits);
    }
    if (has_mailbox) {
      org->mutable_inbox()->set_provider_id(mailbox_provider);
      org->mutable_inbox()->set_address(mailbox_address);
    }
    if (reserved) fail("reserved", "applies to persons only");
    if (has_address) *org->mutable_postal_address() = address;
  } else {
    v1::Provider* provider = entry.mutable_provider();
    provider->set_provider_id(id);
    provider->set_name(Trim(get("provider_name")));
    provider->set_endpoint(Trim(get("endpoint")));
    const std::string certificate = get("certificate");
    if (absl::StrContains(certificate, "-----BEGIN")) {
      provider->set_encryption_certificate_pem(certificate);
    } else if (!Trim(certificate).empty()) {
      std::filesystem::path path = Trim(certificate);
      if (path.is_relative()) path = base_dir / path;
      std::ifstream in(path, std::ios::binary);
      std::stringstream pem;
      pem << in.rdbuf();
      if (!in) {
        fail("certificate", absl::StrCat("cannot read ", path.string()));
      } else {
        provider->set_encryption_certificate_pem(pem.str());
      }
    }
    const std::string level = Lower(Trim(get("max_security_level")));
    if (level == "substantial") {
      provider->set_max_security_level(v1::SECURITY_LEVEL_SUBSTANTIAL);
    } else if (level == "high") {
      provider->set_max_security_level(v1::SECURITY_LEVEL_HIGH);
    } else if (!level.empty()) {
      fail("max_security_level", "must be substantial or high");
    }
    if (has_mailbox)
      fail(mailbox_provider.empty() ? "mailbox_address" : "mailbox_provider",
           "applies to persons and organisations only");
    if (reserved) fail("reserved", "applies to persons only");
    if (has_address) fail("postal_name", "a provider has no postal address");
  }
  if (kind != "provider") {
    for (const char* column : {"provider_name", "endpoint", "certificate", "max_security_level"}) {
      only_for(column, "providers");
    }
  }
  if (errors.size() != errors_before) return entry;
  common::FieldViolations v;
  common::CheckRegistryEntry(v, entry, "");
  if (auto bad = common::GetBadRequest(v.ToStatus())) {
    for (const auto& violation : bad->field_violations()) {
      errors.push_back(RowError{row.line, ColumnOf(violation.field()), violation.field(),
                                violation.description()});
    }
  }
  return entry;
}

}  // namespace utpost::cli
