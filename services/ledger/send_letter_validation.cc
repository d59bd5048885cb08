#include "services/ledger/send_letter_validation.h"

#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/field_violations.h"
#include "common/ids.h"

namespace utpost::ledger {
namespace {

using common::FieldViolations;

constexpr size_t kMaxFilenameBytes = 255;
constexpr size_t kMaxMediaTypePartChars = 127;  // RFC 6838, section 4.2
constexpr int kMaxNameChars = 200;
constexpr int kMaxAddressLines = 4;
constexpr int kMaxAddressLineChars = 200;
constexpr int kMaxCityChars = 100;
constexpr int kMaxOtherPostalCodeChars = 16;
constexpr int kMaxExternalReferenceChars = 100;
constexpr size_t kMaxIdempotencyKeyChars = 128;
constexpr absl::Duration kMinPrintIfUnreadAfter = absl::Hours(1);
constexpr absl::Duration kMaxPrintIfUnreadAfter = absl::Hours(90 * 24);
constexpr std::string_view kPdfMediaType = "application/pdf";
constexpr std::string_view kPdfHeader = "%PDF-";
constexpr std::string_view kFilenameForbiddenChars = "/\\:*?\"<>|";

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
bool IsControl(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

// Characters that change how text is shown without being seen: bidirectional embeddings,
// overrides, isolates and marks (which can make "invoice_fdp.exe" read as "invoice_exe.pdf"),
// zero-width characters and the Unicode line and paragraph separators.
bool IsInvisibleFormatting(char32_t cp) {
  return (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061C ||
         cp == 0xFEFF || cp == 0x2028 || cp == 0x2029;
}

// Characters that look like a path separator: division slash, fraction slash, fullwidth
// solidus and reverse solidus, big solidus.
bool IsSlashLookalike(char32_t cp) {
  return cp == 0x2215 || cp == 0x2044 || cp == 0xFF0F || cp == 0xFF3C || cp == 0x29F8;
}

struct TextInfo {
  bool valid_utf8 = false;
  bool has_control = false;
  bool has_invisible = false;
  bool has_slash_lookalike = false;
  size_t chars = 0;  // code points
};

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

// The key under which file names must be unique, for valid UTF-8 `name`: case folded for
// ASCII and the Latin-1 capitals (Æ, Ø, Å, Ä, Ö, Ü, ...), which covers Nordic names without
// pulling in a Unicode library.
std::u32string FoldedName(std::string_view name) {
  std::u32string out;
  out.reserve(name.size());
  ForEachCodePoint(name, [&out](char32_t cp) {
    if ((cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)) cp += 0x20;
    out.push_back(cp);
  });
  return out;
}

bool IsAllDigits(std::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// One part of a media type: RFC 6838 restricted-name, narrowed to lower case.
bool IsMediaTypePart(std::string_view part) {
  if (part.empty() || part.size() > kMaxMediaTypePartChars) return false;
  for (size_t i = 0; i < part.size(); ++i) {
    const char c = part[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (i == 0 ? !alnum : !(alnum || c == '.' || c == '+' || c == '-')) return false;
  }
  return true;
}

bool IsMediaType(std::string_view s) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  return IsMediaTypePart(s.substr(0, slash)) && IsMediaTypePart(s.substr(slash + 1));
}

void CheckPersonId(FieldViolations& v, const v1::PersonId& person, const std::string& prefix) {
  switch (person.id_case()) {
    case v1::PersonId::kNorwegianNationalId:
      if (absl::Status s = common::ValidateNorwegianNationalId(person.norwegian_national_id());
          !s.ok()) {
        v.Add(prefix + ".norwegian_national_id", std::string(s.message()));
      }
      break;
    case v1::PersonId::kDanishCpr:
      if (absl::Status s = common::ValidateDanishCpr(person.danish_cpr()); !s.ok()) {
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
      if (absl::Status s = common::ValidateNorwegianOrgNumber(org.norwegian_org_number());
          !s.ok()) {
        v.Add(prefix + ".norwegian_org_number", std::string(s.message()));
      }
      break;
    case v1::OrganisationId::kDanishCvr:
      if (absl::Status s = common::ValidateDanishCvr(org.danish_cvr()); !s.ok()) {
        v.Add(prefix + ".danish_cvr", std::string(s.message()));
      }
      break;
    case v1::OrganisationId::ID_NOT_SET:
      v.Add(prefix, "must hold a Norwegian organisation number or a Danish CVR number");
      break;
  }
}

void CheckRecipient(FieldViolations& v, const v1::SendLetterRequest& request) {
  if (!request.has_recipient()) {
    v.Add("recipient", "is required");
    return;
  }
  const v1::Recipient& recipient = request.recipient();
  switch (recipient.recipient_case()) {
    case v1::Recipient::kPerson:
      CheckPersonId(v, recipient.person(), "recipient.person");
      break;
    case v1::Recipient::kOrganisation:
      CheckOrganisationId(v, recipient.organisation(), "recipient.organisation");
      break;
    case v1::Recipient::RECIPIENT_NOT_SET:
      v.Add("recipient", "must name a person or an organisation");
      break;
  }
}

void CheckPostalCode(FieldViolations& v, std::string_view code, std::string_view country) {
  constexpr std::string_view kField = "postal_address.postal_code";
  if (country == "NO" || country == "DK") {
    if (code.size() != 4 || !IsAllDigits(code)) {
      v.Add(std::string(kField), absl::StrCat("must be 4 digits for ", std::string(country)));
    }
  } else if (country == "SE") {
    const bool five_digits = code.size() == 5 && IsAllDigits(code);
    const bool spaced = code.size() == 6 && code[3] == ' ' && IsAllDigits(code.substr(0, 3)) &&
                        IsAllDigits(code.substr(4));
    if (!five_digits && !spaced) {
      v.Add(std::string(kField), "must be 5 digits for SE (NNNNN or NNN NN)");
    }
  } else {
    CheckText(v, std::string(kField), code, 1, kMaxOtherPostalCodeChars);
  }
}

void CheckPostalAddress(FieldViolations& v, const v1::PostalAddress& address) {
  CheckText(v, "postal_address.name", address.name(), 1, kMaxNameChars);
  const int lines = address.address_lines_size();
  if (lines < 1 || lines > kMaxAddressLines) {
    v.Add("postal_address.address_lines",
          absl::StrCat("must have 1 to ", kMaxAddressLines, " lines (has ", lines, ")"));
  }
  for (int i = 0; i < lines; ++i) {
    CheckText(v, absl::StrCat("postal_address.address_lines[", i, "]"), address.address_lines(i), 1,
              kMaxAddressLineChars);
  }
  const std::string& country = address.country_code();
  const bool country_ok =
      country.size() == 2 && absl::ascii_isupper(country[0]) && absl::ascii_isupper(country[1]);
  // The country-specific rule only makes sense for a well-formed country code; otherwise
  // the generic one applies and the country code gets its own violation.
  CheckPostalCode(v, address.postal_code(), country_ok ? std::string_view(country) : "");
  CheckText(v, "postal_address.city", address.city(), 1, kMaxCityChars);
  if (!country_ok) {
    v.Add("postal_address.country_code", "must be two upper-case letters (ISO 3166-1 alpha-2)");
  }
}

void CheckDocuments(FieldViolations& v, const v1::SendLetterRequest& request,
                    const LetterLimits& limits, bool print_only) {
  const int count = request.documents_size();
  if (count == 0) {
    v.Add("documents", "must have at least 1 document");
  } else if (count > limits.max_documents) {
    // Refused before any per-document work: a million empty documents cost nothing here.
    v.Add("documents",
          absl::StrCat("must have at most ", limits.max_documents, " documents (has ", count, ")"));
    return;
  }

  uint64_t total_bytes = 0;
  // Folded file name -> index of the first document that has it.
  std::unordered_map<std::u32string, int> first_with_name;
  for (int i = 0; i < count; ++i) {
    const v1::Document& doc = request.documents(i);
    const std::string prefix = absl::StrCat("documents[", i, "]");
    const std::string filename_field = prefix + ".filename";

    const std::string& filename = doc.filename();
    // Byte length first: a long name is neither inspected nor folded.
    const bool short_enough = filename.size() <= kMaxFilenameBytes;
    const TextInfo info = short_enough ? InspectText(filename) : TextInfo{};
    if (filename.empty()) {
      v.Add(filename_field, "must not be empty");
    } else if (!short_enough) {
      v.Add(filename_field, absl::StrCat("must be at most ", kMaxFilenameBytes, " bytes (is ",
                                         filename.size(), ")"));
    } else if (!info.valid_utf8) {
      v.Add(filename_field, "must be valid UTF-8");
    } else if (filename.find_first_of(kFilenameForbiddenChars) != std::string::npos) {
      v.Add(filename_field, "must not contain any of / \\ : * ? \" < > |");
    } else if (info.has_control) {
      v.Add(filename_field, "must not contain control characters");
    } else if (info.has_invisible) {
      v.Add(filename_field,
            "must not contain invisible formatting characters (bidirectional controls, "
            "zero-width characters, line or paragraph separators)");
    } else if (info.has_slash_lookalike) {
      v.Add(filename_field,
            "must not contain characters that look like a slash (U+2215, U+FF0F, ...)");
    } else if (filename == "." || filename == "..") {
      v.Add(filename_field, "must not be \".\" or \"..\"");
    }
    if (short_enough && info.valid_utf8 && !filename.empty()) {
      const auto [it, inserted] = first_with_name.try_emplace(FoldedName(filename), i);
      if (!inserted) {
        v.Add(filename_field, absl::StrCat("must be unique in the letter (same as documents[",
                                           it->second, "].filename, ignoring case)"));
      }
    }

    const std::string media_field = prefix + ".media_type";
    const std::string& media_type = doc.media_type();
    if (media_type.empty()) {
      v.Add(media_field, "must not be empty");
    } else if (!IsMediaType(media_type)) {
      v.Add(media_field,
            "must be type/subtype in lower case letters, digits and . + - (e.g. application/pdf)");
    }
    const bool is_pdf = media_type == kPdfMediaType;
    if (print_only && !is_pdf) {
      v.Add(media_field,
            "must be application/pdf: only PDF documents can be printed and channel_policy is "
            "CHANNEL_POLICY_PRINT_ONLY");
    }

    const std::string content_field = prefix + ".content";
    if (doc.content().empty()) {
      v.Add(content_field, "must not be empty");
    } else if (is_pdf && !doc.content().starts_with(kPdfHeader)) {
      v.Add(content_field, "is not a PDF: application/pdf content must start with \"%PDF-\"");
    }
    total_bytes += doc.content().size();
  }
  if (total_bytes > limits.max_total_bytes) {
    v.Add("documents", absl::StrCat("total size of ", total_bytes, " bytes exceeds the limit of ",
                                    limits.max_total_bytes, " bytes"));
  }
}

void CheckOptions(FieldViolations& v, const v1::DeliveryOptions& options) {
  const v1::ChannelPolicy policy = options.channel_policy();
  if (!v1::ChannelPolicy_IsValid(policy)) {
    v.Add("options.channel_policy", absl::StrCat("unknown value ", static_cast<int>(policy)));
  }
  if (options.has_print_if_unread_after()) {
    constexpr std::string_view kField = "options.print_if_unread_after";
    const google::protobuf::Duration& d = options.print_if_unread_after();
    if (policy == v1::CHANNEL_POLICY_DIGITAL_ONLY || policy == v1::CHANNEL_POLICY_PRINT_ONLY) {
      v.Add(std::string(kField),
            absl::StrCat("is not allowed with channel_policy ", v1::ChannelPolicy_Name(policy)));
    } else if (d.nanos() <= -1'000'000'000 || d.nanos() >= 1'000'000'000 ||
               (d.seconds() > 0 && d.nanos() < 0) || (d.seconds() < 0 && d.nanos() > 0)) {
      v.Add(std::string(kField), "is not a valid duration");
    } else {
      const absl::Duration after = absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
      if (after < kMinPrintIfUnreadAfter || after > kMaxPrintIfUnreadAfter) {
        v.Add(std::string(kField), "must be between 1 hour and 90 days");
      }
    }
  }
  const v1::SecurityLevel level = options.security_level();
  if (!v1::SecurityLevel_IsValid(level)) {
    v.Add("options.security_level", absl::StrCat("unknown value ", static_cast<int>(level)));
  }
}

void CheckIdempotencyKey(FieldViolations& v, std::string_view key) {
  if (key.size() > kMaxIdempotencyKeyChars) {
    v.Add("idempotency_key", absl::StrCat("must be at most ", kMaxIdempotencyKeyChars,
                                          " characters (is ", key.size(), ")"));
    return;
  }
  for (unsigned char c : key) {
    if (c < 0x21 || c > 0x7E) {
      v.Add("idempotency_key", "must be printable ASCII without spaces (0x21 to 0x7E)");
      return;
    }
  }
}

}  // namespace

void CheckText(common::FieldViolations& v, const std::string& field, std::string_view text,
               int min_chars, int max_chars, bool forbid_slash_lookalikes) {
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

absl::Status ValidateSendLetter(const v1::SendLetterRequest& request, const LetterLimits& limits) {
  FieldViolations v;
  CheckRecipient(v, request);
  if (request.has_postal_address()) CheckPostalAddress(v, request.postal_address());
  CheckText(v, "title", request.title(), 1, limits.max_title_chars,
            /*forbid_slash_lookalikes=*/true);
  const bool print_only = request.options().channel_policy() == v1::CHANNEL_POLICY_PRINT_ONLY;
  CheckDocuments(v, request, limits, print_only);
  if (request.has_options()) CheckOptions(v, request.options());
  if (request.has_reply_to()) CheckOrganisationId(v, request.reply_to(), "reply_to");
  CheckText(v, "external_reference", request.external_reference(), 0, kMaxExternalReferenceChars);
  CheckIdempotencyKey(v, request.idempotency_key());
  return v.ToStatus();
}

}  // namespace utpost::ledger
