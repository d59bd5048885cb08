// Registry rows as utpostctl reads them from a file (CSV or JSON) or from flags, turned into
// RegistryEntry messages and checked with the server's own rules (common/registry_rules.h).
//
// Fields (CSV header names, JSON keys and `put` flags alike; `put` spells them with dashes):
//   kind               person | organisation | provider; optional for persons and
//                      organisations (told apart by the id's length)
//   id                 11 digits national id / D-number, 10 (or DDMMYY-SSSS) CPR, 9 org
//                      number, 8 CVR; for a provider its id ([a-z0-9-], 1..64)
//   mailbox_provider   provider of a person's digital mailbox or an organisation's inbox
//   mailbox_address    the address there
//   reserved           true/false (also yes/no, 1/0; empty is false): reserved against
//                      digital mail (persons)
//   postal_name, postal_lines, postal_code, postal_city, postal_country
//                      postal address; postal_lines separated by "|" (a JSON array also
//                      works); all empty means none; postal_country defaults to NO for a
//                      Norwegian id and DK for a Danish one
//   provider_name, endpoint, certificate, max_security_level
//                      a provider's name, endpoint (https URL or host:port), encryption
//                      certificate (PEM text, or the path of a PEM file, relative to the
//                      import file), and substantial | high
// CSV: RFC 4180 (a header row naming the fields in any order, commas, double quotes around
// fields that hold commas, quotes or line breaks). JSON: one object per line (JSON lines) or
// one array of objects. A row's line is the line its record or object starts on.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "utpost/v1/registry.pb.h"

namespace utpost::cli {

struct RawRow {
  uint64_t line = 0;
  std::map<std::string, std::string> values;      // field -> text
  std::optional<std::vector<std::string>> lines;  // postal_lines given as a JSON array
};

struct RowError {
  uint64_t line = 0;
  std::string column;  // the row's field, e.g. "id"
  std::string field;   // the entry's field path, e.g. "person.id.norwegian_national_id"
  std::string description;
};

enum class FileFormat { kCsv, kJson };

// Reads rows one at a time, with constant memory per row.
class RowReader {
 public:
  // The format from `format`, else from the extension (.csv; .json, .jsonl, .ndjson), else
  // from the first character ('[' or '{' is JSON). NOT_FOUND if the file cannot be read.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RowReader>> Open(
      const std::filesystem::path& path, std::optional<FileFormat> format = std::nullopt);

  // The next row into `row`: true, or false at the end. A record that cannot be read (an
  // unterminated quote, malformed JSON, an unknown column) is a row with `error` set.
  [[nodiscard]] bool Next(RawRow& row, std::optional<RowError>& error);

  FileFormat format() const { return format_; }

 private:
  RowReader() = default;
  bool NextCsv(RawRow& row, std::optional<RowError>& error);
  bool NextJson(RawRow& row, std::optional<RowError>& error);
  bool GetLine(std::string& line);

  std::ifstream in_;
  FileFormat format_ = FileFormat::kCsv;
  uint64_t line_ = 0;
  std::vector<std::string> header_;
  bool header_error_ = false;
};

// Reads one JSON object (text) into `row` (whose line is kept). An error if it is not an
// object of known fields.
std::optional<RowError> JsonObjectToRow(const std::string& text, RawRow& row);

// The fields every row may have.
const std::vector<std::string>& RowFields();

// The entry `row` describes, checked with the server's rules. `base_dir` resolves a
// certificate path. Appends every problem to `errors` (the entry is usable only if none was
// added).
v1::RegistryEntry RowToEntry(const RawRow& row, const std::filesystem::path& base_dir,
                             std::vector<RowError>& errors);

// The row field an entry field path comes from ("person.mailbox.address" ->
// "mailbox_address").
std::string ColumnOf(std::string_view field_path);

}  // namespace utpost::cli
