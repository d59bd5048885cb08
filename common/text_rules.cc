#include "common/text_rules.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/ids.h"

namespace utpost::common {
namespace {

constexpr int kMaxNameChars = 200;
constexpr int kMaxAddressLines = 4;
constexpr int kMaxAddressLineChars = 200;
constexpr int kMaxCityChars = 100;
constexpr int kMaxOtherPostalCodeChars = 16;

void CheckPostalCode(FieldViolations& v, const std::string& field, std::string_view code,
                     std::string_view country) {
  if (country == "NO" || country == "DK") {
    if (code.size() != 4 || !IsAllDigits(code)) {
      v.Add(field, absl::StrCat("must be 4 digits for ", std::string(country)));
    }
  } else if (country == "SE") {
    const bool five_digits = code.size() == 5 && IsAllDigits(code);
    const bool spaced = code.size() == 6 && code[3] == ' ' && IsAllDigits(code.substr(0, 3)) &&
                        IsAllDigits(code.substr(4));
    if (!five_digits && !spaced) v.Add(field, "must be 5 digits for SE (NNNNN or NNN NN)");
  } else {
    CheckText(v, field, code, 1, kMaxOtherPostalCodeChars);
  }
}

}  // namespace

bool IsControl(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

bool IsInvisibleFormatting(char32_t cp) {
  return (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061C ||
         cp == 0xFEFF || cp == 0x2028 || cp == 0x2029;
}

bool IsSlashLookalike(char32_t cp) {
  return cp == 0x2215 || cp == 0x2044 || cp == 0xFF0F || cp == 0xFF3C || cp == 0x29F8;
}

TextInfo InspectText(std::string_view text) {
  TextInfo info;
  info.valid_utf8 = ForEachCodePoint(text, [&info](char32_t cp) {
    info.has_control = info.has_control || IsControl(cp);
    info.has_invisible = info.has_invisible || IsInvisibleFormatting(cp);
    info.has_slash_lookalike = info.has_slash_lookalike || IsSlashLookalike(cp);
    ++info.chars;
  });
  return info;
}

bool IsAllDigits(std::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

void CheckText(FieldViolations& v, const std::string& field, std::string_view text, int min_chars,
               int max_chars, bool forbid_slash_lookalikes) {
  // A code point takes at most 4 bytes: longer text is refused without reading it.
  if (text.size() > static_cast<size_t>(max_chars) * 4) {
    v.Add(field,
          absl::StrCat("must be at most ", max_chars, " characters (is ", text.size(), " bytes)"));
    return;
  }
  const TextInfo info = InspectText(text);
  if (!info.valid_utf8) {
    v.Add(field, "must be valid UTF-8");
  } else if (info.has_control) {
    v.Add(field, "must not contain control characters");
  } else if (info.has_invisible) {
    v.Add(field,
          "must not contain invisible formatting characters (bidirectional controls, "
          "zero-width characters, line or paragraph separators)");
  } else if (forbid_slash_lookalikes && info.has_slash_lookalike) {
    v.Add(field, "must not contain characters that look like a slash (U+2215, U+FF0F, ...)");
  } else if (info.chars == 0 && min_chars > 0) {
    v.Add(field, "must not be empty");
  } else if (info.chars < static_cast<size_t>(min_chars)) {
    v.Add(field, absl::StrCat("must be at least ", min_chars, " characters (is ", info.chars, ")"));
  } else if (info.chars > static_cast<size_t>(max_chars)) {
    v.Add(field, absl::StrCat("must be at most ", max_chars, " characters (is ", info.chars, ")"));
  }
}

void CheckPersonId(FieldViolations& v, const v1::PersonId& person, const std::string& prefix) {
  switch (person.id_case()) {
    case v1::PersonId::kNorwegianNationalId:
      if (absl::Status s = ValidateNorwegianNationalId(person.norwegian_national_id()); !s.ok()) {
        v.Add(prefix + ".norwegian_national_id", std::string(s.message()));
      }
      break;
    case v1::PersonId::kDanishCpr:
      if (absl::Status s = ValidateDanishCpr(person.danish_cpr()); !s.ok()) {
        v.Add(prefix + ".danish_cpr", std::string(s.message()));
      }
      break;
    case v1::PersonId::ID_NOT_SET:
      v.Add(prefix, "must hold a Norwegian national id or a Danish CPR number");
      break;
  }
}

void CheckOrganisationId(FieldViolations& v, const v1::OrganisationId& org,
                         const std::string& prefix) {
  switch (org.id_case()) {
    case v1::OrganisationId::kNorwegianOrgNumber:
      if (absl::Status s = ValidateNorwegianOrgNumber(org.norwegian_org_number()); !s.ok()) {
        v.Add(prefix + ".norwegian_org_number", std::string(s.message()));
      }
      break;
    case v1::OrganisationId::kDanishCvr:
      if (absl::Status s = ValidateDanishCvr(org.danish_cvr()); !s.ok()) {
        v.Add(prefix + ".danish_cvr", std::string(s.message()));
      }
      break;
    case v1::OrganisationId::ID_NOT_SET:
      v.Add(prefix, "must hold a Norwegian organisation number or a Danish CVR number");
      break;
  }
}

void CheckPostalAddress(FieldViolations& v, const v1::PostalAddress& address,
                        const std::string& prefix) {
  CheckText(v, prefix + ".name", address.name(), 1, kMaxNameChars);
  const int lines = address.address_lines_size();
  if (lines < 1 || lines > kMaxAddressLines) {
    v.Add(prefix + ".address_lines",
          absl::StrCat("must have 1 to ", kMaxAddressLines, " lines (has ", lines, ")"));
  }
  for (int i = 0; i < lines; ++i) {
    CheckText(v, absl::StrCat(prefix, ".address_lines[", i, "]"), address.address_lines(i), 1,
              kMaxAddressLineChars);
  }
  const std::string& country = address.country_code();
  const bool country_ok =
      country.size() == 2 && absl::ascii_isupper(country[0]) && absl::ascii_isupper(country[1]);
  // The country-specific rule only makes sense for a well-formed country code; otherwise
  // the generic one applies and the country code gets its own violation.
  CheckPostalCode(v, prefix + ".postal_code", address.postal_code(),
                  country_ok ? std::string_view(country) : "");
  CheckText(v, prefix + ".city", address.city(), 1, kMaxCityChars);
  if (!country_ok) {
    v.Add(prefix + ".country_code", "must be two upper-case letters (ISO 3166-1 alpha-2)");
  }
}

}  // namespace utpost::common
