#include "services/ledger/send_letter_validation.h"

#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/field_violations.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "common/text_rules.h"

namespace utpost::ledger {
namespace {

using common::CheckOrganisationId;
using common::CheckPersonId;
using common::CheckText;
using common::FieldViolations;
using common::ForEachCodePoint;
using common::InspectText;
using common::TextInfo;

constexpr size_t kMaxFilenameBytes = 255;
constexpr size_t kMaxMediaTypePartChars = 127;  // RFC 6838, section 4.2
constexpr int kMaxExternalReferenceChars = 100;
constexpr size_t kMaxIdempotencyKeyChars = 128;
constexpr absl::Duration kMaxPrintIfUnreadAfter = absl::Hours(90 * 24);
constexpr std::string_view kPdfMediaType = "application/pdf";
constexpr std::string_view kPdfHeader = "%PDF-";
constexpr std::string_view kFilenameForbiddenChars = "/\\:*?\"<>|";

// The key under which file names must be unique, for valid UTF-8 `name`: case folded for
// ASCII and the Latin-1 capitals (Æ, Ø, Å, Ä, Ö, Ü, ...), which covers Nordic names without
// pulling in a Unicode library.
std::u32string FoldedNameImpl(std::string_view name) {
  std::u32string out;
  out.reserve(name.size());
  ForEachCodePoint(name, [&out](char32_t cp) {
    if ((cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)) cp += 0x20;
    out.push_back(cp);
  });
  return out;
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

bool IsMediaTypeImpl(std::string_view s) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  return IsMediaTypePart(s.substr(0, slash)) && IsMediaTypePart(s.substr(slash + 1));
}

// `field` is the recipient's path ("recipient", "recipients[3].recipient").
void CheckRecipient(FieldViolations& v, bool present, const v1::Recipient& recipient,
                    const std::string& field) {
  if (!present) {
    v.Add(field, "is required");
    return;
  }
  switch (recipient.recipient_case()) {
    case v1::Recipient::kPerson:
      CheckPersonId(v, recipient.person(), absl::StrCat(field, ".person"));
      break;
    case v1::Recipient::kOrganisation:
      CheckOrganisationId(v, recipient.organisation(), absl::StrCat(field, ".organisation"));
      break;
    case v1::Recipient::RECIPIENT_NOT_SET:
      v.Add(field, "must name a person or an organisation");
      break;
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
    const bool short_enough = filename.size() <= kMaxFilenameBytes;
    CheckFilename(v, filename_field, filename);
    if (short_enough && InspectText(filename).valid_utf8 && !filename.empty()) {
      const auto [it, inserted] = first_with_name.try_emplace(FoldedFilename(filename), i);
      if (!inserted) {
        v.Add(filename_field, absl::StrCat("must be unique in the letter (same as documents[",
                                           it->second, "].filename, ignoring case)"));
      }
    }

    const std::string media_field = prefix + ".media_type";
    const std::string& media_type = doc.media_type();
    if (media_type.empty()) {
      v.Add(media_field, "must not be empty");
    } else if (!IsMediaTypeImpl(media_type)) {
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

// "1 hour", "10 seconds", or absl's form ("1h30m") for anything else.
std::string DurationText(absl::Duration d) {
  const int64_t seconds = absl::ToInt64Seconds(d);
  if (absl::Seconds(seconds) != d || seconds <= 0) return absl::FormatDuration(d);
  if (seconds % 3600 == 0)
    return absl::StrCat(seconds / 3600, seconds == 3600 ? " hour" : " hours");
  if (seconds % 60 == 0) return absl::StrCat(seconds / 60, seconds == 60 ? " minute" : " minutes");
  return absl::StrCat(seconds, seconds == 1 ? " second" : " seconds");
}

void CheckOptions(FieldViolations& v, const v1::DeliveryOptions& options,
                  const LetterLimits& limits, absl::Time now) {
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
      if (after < limits.min_print_if_unread_after || after > kMaxPrintIfUnreadAfter) {
        v.Add(std::string(kField),
              absl::StrCat("must be between ", DurationText(limits.min_print_if_unread_after),
                           " and 90 days"));
      }
    }
  }
  if (options.has_deliver_after()) {
    if (!common::IsValidTimestamp(options.deliver_after())) {
      v.Add("options.deliver_after", "is not a valid timestamp");
    } else if (common::FromProto(options.deliver_after()) > now + kMaxDeliverAfterAhead) {
      v.Add("options.deliver_after", "must be at most 366 days ahead");
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

std::u32string FoldedFilename(std::string_view name) { return FoldedNameImpl(name); }

bool IsMediaType(std::string_view s) { return IsMediaTypeImpl(s); }

void CheckFilename(FieldViolations& v, const std::string& filename_field,
                   std::string_view filename) {
  // Byte length first: a long name is neither inspected nor folded.
  const bool short_enough = filename.size() <= kMaxFilenameBytes;
  const TextInfo info = short_enough ? InspectText(filename) : TextInfo{};
  if (filename.empty()) {
    v.Add(filename_field, "must not be empty");
  } else if (!short_enough) {
    v.Add(filename_field,
          absl::StrCat("must be at most ", kMaxFilenameBytes, " bytes (is ", filename.size(), ")"));
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
}

absl::Status ValidateSendLetter(const v1::SendLetterRequest& request, const LetterLimits& limits,
                                absl::Time now) {
  FieldViolations v;
  CheckRecipient(v, request.has_recipient(), request.recipient(), "recipient");
  if (request.has_postal_address()) {
    common::CheckPostalAddress(v, request.postal_address(), "postal_address");
  }
  CheckText(v, "title", request.title(), 1, limits.max_title_chars,
            /*forbid_slash_lookalikes=*/true);
  const bool print_only = request.options().channel_policy() == v1::CHANNEL_POLICY_PRINT_ONLY;
  CheckDocuments(v, request, limits, print_only);
  if (request.has_options()) CheckOptions(v, request.options(), limits, now);
  if (request.has_reply_to()) CheckOrganisationId(v, request.reply_to(), "reply_to");
  CheckText(v, "external_reference", request.external_reference(), 0, kMaxExternalReferenceChars);
  CheckIdempotencyKey(v, request.idempotency_key());
  return v.ToStatus();
}

absl::Status ValidatePreviewRoutes(const v1::PreviewRoutesRequest& request,
                                   const LetterLimits& limits, absl::Time now) {
  FieldViolations v;
  if (request.recipients().empty()) {
    v.Add("recipients", "must have at least one recipient");
  } else if (request.recipients_size() > kMaxPreviewRecipients) {
    v.Add("recipients",
          absl::StrCat("must have at most ", kMaxPreviewRecipients, " recipients per call (has ",
                       request.recipients_size(), "); preview a larger batch in several calls"));
  }
  for (int i = 0; i < request.recipients_size() && v.size() < FieldViolations::kMaxKept; ++i) {
    const v1::PreviewRecipient& r = request.recipients(i);
    CheckRecipient(v, r.has_recipient(), r.recipient(),
                   absl::StrCat("recipients[", i, "].recipient"));
  }
  if (request.has_options()) CheckOptions(v, request.options(), limits, now);
  return v.ToStatus();
}

absl::StatusOr<std::vector<internal::v1::Printability>> CheckLetterPrintability(
    const v1::SendLetterRequest& request, const LetterLimits& limits) {
  std::vector<internal::v1::Printability> result;
  const v1::ChannelPolicy policy = request.options().channel_policy();
  if (policy == v1::CHANNEL_POLICY_DIGITAL_ONLY) return result;
  FieldViolations v;
  result.reserve(request.documents_size());
  for (int i = 0; i < request.documents_size(); ++i) {
    const v1::Document& document = request.documents(i);
    internal::v1::Printability p;
    if (document.media_type() != kPdfMediaType) {
      p.set_problem(absl::StrCat("is ", document.media_type(), ", not application/pdf"));
    } else {
      p = pdf::CheckPrintable(document.content(), limits.printability);
    }
    if (!p.printable() && policy == v1::CHANNEL_POLICY_PRINT_ONLY) {
      v.Add(absl::StrCat("documents[", i, "].content"),
            absl::StrCat("cannot be printed: ", p.problem(),
                         "; channel_policy is CHANNEL_POLICY_PRINT_ONLY"));
    }
    result.push_back(std::move(p));
  }
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  return result;
}

}  // namespace utpost::ledger
