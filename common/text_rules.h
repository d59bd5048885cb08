// Rules for text and for the parties of a letter or registry entry, shared by every validator
// (SendLetterRequest, registry entries, and the command line's local checks), so that a
// name, address line or identifier is judged the same way wherever it arrives. Each Check*
// function adds at most one violation per field to a FieldViolations, with the field path
// built from the caller's prefix. Pure: no I/O, thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/field_violations.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::common {

// Calls `f` with each code point of `text`; false if `text` is not valid UTF-8 (overlong
// forms, surrogates and values above U+10FFFF are invalid). Streams, so a huge field costs
// no memory.
template <typename F>
bool ForEachCodePoint(std::string_view text, F&& f) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t extra;
    char32_t cp;
    char32_t min;
    if (lead < 0x80) {
      extra = 0;
      cp = lead;
      min = 0;
    } else if ((lead & 0xE0) == 0xC0) {
      extra = 1;
      cp = lead & 0x1F;
      min = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2;
      cp = lead & 0x0F;
      min = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3;
      cp = lead & 0x07;
      min = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto cont = static_cast<unsigned char>(text[i + k]);
      if ((cont & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cont & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    f(cp);
    i += extra + 1;
  }
  return true;
}

// Unicode general category Cc: C0, DEL and C1.
bool IsControl(char32_t cp);

// Characters that change how text is shown without being seen: bidirectional embeddings,
// overrides, isolates and marks (which can make "invoice_fdp.exe" read as "invoice_exe.pdf"),
// zero-width characters and the Unicode line and paragraph separators.
bool IsInvisibleFormatting(char32_t cp);

// Characters that look like a path separator: division slash, fraction slash, fullwidth
// solidus and reverse solidus, big solidus.
bool IsSlashLookalike(char32_t cp);

struct TextInfo {
  bool valid_utf8 = false;
  bool has_control = false;
  bool has_invisible = false;
  bool has_slash_lookalike = false;
  size_t chars = 0;  // code points
};

TextInfo InspectText(std::string_view text);

bool IsAllDigits(std::string_view s);

// Checks that `text` is valid UTF-8 without control characters, `min_chars` to `max_chars`
// code points long. Adds at most one violation for `field`. Descriptions never quote the
// value: it may be invalid UTF-8, which a google.rpc.BadRequest cannot carry.
void CheckText(FieldViolations& v, const std::string& field, std::string_view text, int min_chars,
               int max_chars, bool forbid_slash_lookalikes = false);

// A person's identifier: one of norwegian_national_id or danish_cpr, valid (common/ids.h).
// Fields: <prefix>, <prefix>.norwegian_national_id, <prefix>.danish_cpr.
void CheckPersonId(FieldViolations& v, const v1::PersonId& person, const std::string& prefix);

// An organisation's identifier: one of norwegian_org_number or danish_cvr, valid.
// Fields: <prefix>, <prefix>.norwegian_org_number, <prefix>.danish_cvr.
void CheckOrganisationId(FieldViolations& v, const v1::OrganisationId& org,
                         const std::string& prefix);

// A postal address as letters.proto describes it: name 1..200 characters, 1..4 address
// lines of 1..200, a postal code by the country's rule (4 digits NO and DK, 5 digits SE,
// 1..16 characters elsewhere), city 1..100, an upper-case ISO 3166-1 alpha-2 country code.
// Fields: <prefix>.name, <prefix>.address_lines, <prefix>.address_lines[i],
// <prefix>.postal_code, <prefix>.city, <prefix>.country_code.
void CheckPostalAddress(FieldViolations& v, const v1::PostalAddress& address,
                        const std::string& prefix);

}  // namespace utpost::common
