#include "services/ledger/submission_mime.h"

#include <charconv>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace utpost::ledger {
namespace {

constexpr char kCrlf[] = "\r\n";

std::string JsonNumber(double n) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), n);
  return std::string(buffer, result.ptr);
}

std::string CitizenJson(const v1::PersonId& citizen) {
  if (citizen.has_danish_cpr())
    return absl::StrCat("{\"danish_cpr\": ", JsonString(citizen.danish_cpr()), "}");
  return absl::StrCat("{\"norwegian_national_id\": ", JsonString(citizen.norwegian_national_id()),
                      "}");
}

std::string ValueJson(const v1::FieldValue& value) {
  switch (value.value_case()) {
    case v1::FieldValue::kNumber:
      return JsonNumber(value.number());
    case v1::FieldValue::kText:
      return JsonString(value.text());
    case v1::FieldValue::kDate:
      return JsonString(value.date());
    case v1::FieldValue::kChoice:
      return JsonString(value.choice());
    case v1::FieldValue::kNationalId:
      return JsonString(value.national_id());
    case v1::FieldValue::kOrgNumber:
      return JsonString(value.org_number());
    case v1::FieldValue::kEmail:
      return JsonString(value.email());
    case v1::FieldValue::kPhone:
      return JsonString(value.phone());
    case v1::FieldValue::VALUE_NOT_SET:
      break;
  }
  return "null";
}

bool IsAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

// RFC 2231 / 5987 ext-value: UTF-8''percent-encoded.
std::string ExtValue(std::string_view s) {
  std::string out = "UTF-8''";
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '-' || c == '_' || c == '~';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string AttachmentHeaders(const v1::Attachment& attachment) {
  // File names hold no quotes, backslashes or control characters (validated), so quoting
  // them is safe.
  std::string disposition = absl::StrCat("attachment; filename=\"", attachment.filename(), "\"");
  if (!IsAscii(attachment.filename())) {
    absl::StrAppend(&disposition, "; filename*=", ExtValue(attachment.filename()));
  }
  return absl::StrCat("Content-Type: ", attachment.media_type(), kCrlf,
                      "Content-Disposition: ", disposition, kCrlf,
                      "Content-Transfer-Encoding: binary", kCrlf, kCrlf);
}

}  // namespace

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  out.reserve(text.size() + 2);
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7F) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string SubmissionJson(const SubmissionHeader& header, const v1::SubmitFormRequest& request) {
  std::string json =
      absl::StrCat("{\"submission_id\": ", JsonString(header.submission_id),
                   ", \"form_type_id\": ", JsonString(header.form_type_id),
                   ", \"form_type_version\": ", header.form_type_version,
                   ", \"form_title\": ", JsonString(header.form_title),
                   ", \"municipality\": ", JsonString(header.municipality),
                   ", \"portal\": ", JsonString(header.portal),
                   ", \"citizen\": ", CitizenJson(request.citizen()), ", \"receipt_time\": ",
                   JsonString(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", header.receipt_time,
                                               absl::UTCTimeZone())),
                   ", \"values\": {");
  for (int i = 0; i < request.values_size(); ++i) {
    const v1::FieldValue& value = request.values(i);
    absl::StrAppend(&json, i == 0 ? "" : ", ", JsonString(value.name()), ": ", ValueJson(value));
  }
  absl::StrAppend(&json, "}, \"attachments\": [");
  for (int i = 0; i < request.attachments_size(); ++i) {
    const v1::Attachment& attachment = request.attachments(i);
    absl::StrAppend(&json, i == 0 ? "" : ", ", "{\"filename\": ", JsonString(attachment.filename()),
                    ", \"media_type\": ", JsonString(attachment.media_type()),
                    ", \"size_bytes\": ", attachment.content().size(), "}");
  }
  absl::StrAppend(&json, "]}");
  return json;
}

absl::Status WriteSubmissionMime(std::string_view json, const v1::SubmitFormRequest& request,
                                 std::string_view boundary, const MimeSink& sink) {
  const std::string delimiter = absl::StrCat(kCrlf, "--", common::Av(boundary));
  UTPOST_RETURN_IF_ERROR(
      sink(absl::StrCat("MIME-Version: 1.0", kCrlf, "Content-Type: multipart/mixed; boundary=\"",
                        common::Av(boundary), "\"", kCrlf, kCrlf, "--", common::Av(boundary), kCrlf,
                        "Content-Type: application/json; charset=utf-8", kCrlf,
                        "Content-Disposition: inline; filename=\"submission.json\"", kCrlf,
                        "Content-Transfer-Encoding: 8bit", kCrlf, kCrlf)));
  UTPOST_RETURN_IF_ERROR(sink(json));
  for (const v1::Attachment& attachment : request.attachments()) {
    UTPOST_RETURN_IF_ERROR(sink(absl::StrCat(delimiter, kCrlf, AttachmentHeaders(attachment))));
    UTPOST_RETURN_IF_ERROR(sink(attachment.content()));
  }
  return sink(absl::StrCat(delimiter, "--", kCrlf));
}

std::string ChooseBoundary(std::string_view json, const v1::SubmitFormRequest& request,
                           const std::function<std::string()>& next_random) {
  while (true) {
    const std::string boundary = absl::StrCat("utpost-", absl::BytesToHexString(next_random()));
    bool occurs = json.find(boundary) != std::string_view::npos;
    for (int i = 0; !occurs && i < request.attachments_size(); ++i) {
      occurs = request.attachments(i).content().find(boundary) != std::string::npos;
    }
    if (!occurs) return boundary;
  }
}

}  // namespace utpost::ledger
