#include "services/ledger/form_validation.h"

#include <cmath>
#include <set>
#include <unordered_map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/field_violations.h"
#include "common/ids.h"
#include "common/strings.h"
#include "common/text_rules.h"
#include "crypto/dev_provider_cert.h"
#include "services/ledger/send_letter_validation.h"

namespace utpost::ledger {
namespace {

using common::CheckText;
using common::FieldViolations;

constexpr size_t kMaxFormTypeIdChars = 64;
constexpr size_t kMaxFieldNameChars = 64;
constexpr int kMaxTitleChars = 200;
constexpr int kMaxLabelChars = 200;
constexpr uint32_t kDefaultTextMax = 1000;
constexpr uint32_t kMaxTextMax = 100000;
constexpr int kMaxChoices = 200;
constexpr int kMaxChoiceChars = 200;
constexpr int kMaxMediaTypes = 50;
constexpr size_t kMaxCertificateBytes = 64 << 10;
constexpr size_t kMaxIdempotencyKeyChars = 128;

bool IsFieldName(std::string_view name) {
  if (name.empty() || name.size() > kMaxFieldNameChars) return false;
  if (!(name[0] >= 'a' && name[0] <= 'z')) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// The org key of a valid OrganisationId, or empty.
std::string OrgKey(const v1::OrganisationId& org) {
  absl::StatusOr<std::string> key =
      org.has_norwegian_org_number()
          ? common::MakeOrgKey(common::IdKind::kNorwegianOrgNumber, org.norwegian_org_number())
          : common::MakeOrgKey(common::IdKind::kDanishCvr, org.danish_cvr());
  return key.ok() ? *key : std::string();
}

const char* KindName(v1::FieldKind kind) {
  switch (kind) {
    case v1::FIELD_KIND_TEXT:
      return "TEXT";
    case v1::FIELD_KIND_NUMBER:
      return "NUMBER";
    case v1::FIELD_KIND_DATE:
      return "DATE";
    case v1::FIELD_KIND_CHOICE:
      return "CHOICE";
    case v1::FIELD_KIND_NATIONAL_ID:
      return "NATIONAL_ID";
    case v1::FIELD_KIND_ORG_NUMBER:
      return "ORG_NUMBER";
    case v1::FIELD_KIND_EMAIL:
      return "EMAIL";
    case v1::FIELD_KIND_PHONE:
      return "PHONE";
    default:
      return "UNSPECIFIED";
  }
}

// The FieldValue member a kind takes.
v1::FieldValue::ValueCase MemberOf(v1::FieldKind kind) {
  switch (kind) {
    case v1::FIELD_KIND_TEXT:
      return v1::FieldValue::kText;
    case v1::FIELD_KIND_NUMBER:
      return v1::FieldValue::kNumber;
    case v1::FIELD_KIND_DATE:
      return v1::FieldValue::kDate;
    case v1::FIELD_KIND_CHOICE:
      return v1::FieldValue::kChoice;
    case v1::FIELD_KIND_NATIONAL_ID:
      return v1::FieldValue::kNationalId;
    case v1::FIELD_KIND_ORG_NUMBER:
      return v1::FieldValue::kOrgNumber;
    case v1::FIELD_KIND_EMAIL:
      return v1::FieldValue::kEmail;
    case v1::FIELD_KIND_PHONE:
      return v1::FieldValue::kPhone;
    default:
      return v1::FieldValue::VALUE_NOT_SET;
  }
}

const std::string& MemberName(v1::FieldValue::ValueCase member) {
  return v1::FieldValue::descriptor()->FindFieldByNumber(static_cast<int>(member))->name();
}

void CheckFormField(FieldViolations& v, const v1::FormField& field, const std::string& prefix) {
  if (!IsFieldName(field.name())) {
    v.Add(prefix + ".name", "must be 1..64 characters of a-z, 0-9 and _, starting with a letter");
  }
  CheckText(v, prefix + ".label", field.label(), 0, kMaxLabelChars);
  const v1::FieldKind kind = field.kind();
  if (kind == v1::FIELD_KIND_UNSPECIFIED || !v1::FieldKind_IsValid(kind)) {
    v.Add(prefix + ".kind", "must be one of the field kinds (TEXT, NUMBER, DATE, ...)");
    return;
  }
  const v1::FormField::LimitsCase limits = field.limits_case();
  const bool matches = limits == v1::FormField::LIMITS_NOT_SET ||
                       (kind == v1::FIELD_KIND_TEXT && limits == v1::FormField::kText) ||
                       (kind == v1::FIELD_KIND_NUMBER && limits == v1::FormField::kNumber) ||
                       (kind == v1::FIELD_KIND_DATE && limits == v1::FormField::kDate) ||
                       (kind == v1::FIELD_KIND_CHOICE && limits == v1::FormField::kChoice);
  if (!matches) {
    v.Add(absl::StrCat(prefix, ".", v1::FormField::descriptor()->FindFieldByNumber(limits)->name()),
          absl::StrCat("does not apply to a ", KindName(kind), " field"));
    return;
  }
  switch (kind) {
    case v1::FIELD_KIND_TEXT:
      if (field.has_text()) {
        const uint32_t max =
            field.text().max_length() == 0 ? kDefaultTextMax : field.text().max_length();
        if (max > kMaxTextMax) {
          v.Add(prefix + ".text.max_length", absl::StrCat("must be at most ", kMaxTextMax));
        } else if (field.text().min_length() > max) {
          v.Add(prefix + ".text.min_length", "must not be greater than max_length");
        }
      }
      break;
    case v1::FIELD_KIND_NUMBER: {
      const v1::NumberLimits& n = field.number();
      if (n.has_min() && !std::isfinite(n.min())) v.Add(prefix + ".number.min", "must be finite");
      if (n.has_max() && !std::isfinite(n.max())) v.Add(prefix + ".number.max", "must be finite");
      if (n.has_min() && n.has_max() && n.min() > n.max()) {
        v.Add(prefix + ".number.max", "must not be less than min");
      }
      break;
    }
    case v1::FIELD_KIND_DATE: {
      const v1::DateLimits& d = field.date();
      bool ok = true;
      if (!d.earliest().empty() && !IsCalendarDate(d.earliest())) {
        v.Add(prefix + ".date.earliest", "must be a real date YYYY-MM-DD");
        ok = false;
      }
      if (!d.latest().empty() && !IsCalendarDate(d.latest())) {
        v.Add(prefix + ".date.latest", "must be a real date YYYY-MM-DD");
        ok = false;
      }
      if (ok && !d.earliest().empty() && !d.latest().empty() && d.latest() < d.earliest()) {
        v.Add(prefix + ".date.latest", "must not be before earliest");
      }
      break;
    }
    case v1::FIELD_KIND_CHOICE: {
      if (!field.has_choice()) {
        v.Add(prefix + ".choice", "is required for a CHOICE field");
        break;
      }
      const auto& choices = field.choice().choices();
      if (choices.empty() || choices.size() > kMaxChoices) {
        v.Add(prefix + ".choice.choices", absl::StrCat("must have 1..", kMaxChoices, " choices"));
        break;
      }
      absl::flat_hash_set<std::string> seen;
      for (int i = 0; i < choices.size(); ++i) {
        const std::string path = absl::StrCat(prefix, ".choice.choices[", i, "]");
        FieldViolations one;
        CheckText(one, path, choices[i], 1, kMaxChoiceChars);
        if (!one.empty()) {
          CheckText(v, path, choices[i], 1, kMaxChoiceChars);
        } else if (!seen.insert(choices[i]).second) {
          v.Add(path, "must be unique");
        }
      }
      break;
    }
    default:
      break;
  }
}

void CheckAttachmentRules(FieldViolations& v, const v1::AttachmentRules& rules,
                          const FormsConfig& config) {
  const std::string prefix = "form_type.attachments";
  if (rules.max_count() > static_cast<uint32_t>(config.max_attachments)) {
    v.Add(prefix + ".max_count",
          absl::StrCat("must be at most ", config.max_attachments, " (the server's limit)"));
  }
  if (rules.max_total_bytes() > config.max_submission_bytes) {
    v.Add(prefix + ".max_total_bytes",
          absl::StrCat("must be at most ", config.max_submission_bytes, " (the server's limit)"));
  }
  const uint64_t total =
      rules.max_total_bytes() == 0 ? config.max_submission_bytes : rules.max_total_bytes();
  if (rules.max_bytes_each() > total) {
    v.Add(prefix + ".max_bytes_each", "must not be greater than max_total_bytes");
  }
  if (rules.media_types_size() > kMaxMediaTypes) {
    v.Add(prefix + ".media_types", absl::StrCat("must have at most ", kMaxMediaTypes, " entries"));
    return;
  }
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < rules.media_types_size(); ++i) {
    const std::string path = absl::StrCat(prefix, ".media_types[", i, "]");
    if (!IsMediaType(rules.media_types(i))) {
      v.Add(path, "must be type/subtype in lower case (e.g. application/pdf)");
    } else if (!seen.insert(rules.media_types(i)).second) {
      v.Add(path, "must be unique");
    }
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

// Free text: valid UTF-8 without control characters other than tab, CR and LF.
void CheckFreeText(FieldViolations& v, const std::string& path, const std::string& text,
                   uint32_t min_chars, uint32_t max_chars) {
  if (text.size() > 4ull * max_chars) {
    v.Add(path, absl::StrCat("must be at most ", max_chars, " characters"));
    return;
  }
  bool control = false;
  size_t chars = 0;
  const bool valid = common::ForEachCodePoint(text, [&](char32_t cp) {
    ++chars;
    if (common::IsControl(cp) && cp != '\t' && cp != '\r' && cp != '\n') control = true;
  });
  if (!valid) {
    v.Add(path, "must be valid UTF-8");
  } else if (control) {
    v.Add(path, "must not contain control characters other than tab, CR and LF");
  } else if (chars > max_chars) {
    v.Add(path, absl::StrCat("must be at most ", max_chars, " characters (is ", chars, ")"));
  } else if (chars < min_chars) {
    v.Add(path, absl::StrCat("must be at least ", min_chars, " characters (is ", chars, ")"));
  }
}

bool IsEmail(std::string_view s) {
  if (s.size() > 254) return false;
  const size_t at = s.find('@');
  if (at == std::string_view::npos || at == 0 || at > 64 || s.find('@', at + 1) != s.npos) {
    return false;
  }
  for (char c : s.substr(0, at)) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == '"' || c == '(' || c == ')' || c == ',' || c == ':' ||
        c == ';' || c == '<' || c == '>' || c == '[' || c == ']' || c == '\\') {
      return false;
    }
  }
  const std::string_view local = s.substr(0, at);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != local.npos) return false;
  const std::string_view domain = s.substr(at + 1);
  int labels = 0;
  size_t start = 0;
  while (start <= domain.size()) {
    size_t dot = domain.find('.', start);
    if (dot == std::string_view::npos) dot = domain.size();
    const std::string_view label = domain.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-')) {
        return false;
      }
    }
    ++labels;
    start = dot + 1;
  }
  return labels >= 2;
}

bool IsPhone(std::string_view s) {
  size_t i = 0;
  if (!s.empty() && s[0] == '+') i = 1;
  int digits = 0;
  bool last_space = true;  // no leading space, no two in a row
  for (; i < s.size(); ++i) {
    if (s[i] >= '0' && s[i] <= '9') {
      ++digits;
      last_space = false;
    } else if (s[i] == ' ' && !last_space) {
      last_space = true;
    } else {
      return false;
    }
  }
  return !last_space && digits >= 8 && digits <= 15;
}

void CheckValue(FieldViolations& v, const v1::FormField& field, const v1::FieldValue& value,
                const std::string& path) {
  switch (field.kind()) {
    case v1::FIELD_KIND_TEXT: {
      const uint32_t max =
          field.text().max_length() == 0 ? kDefaultTextMax : field.text().max_length();
      const uint32_t min = std::max<uint32_t>(field.text().min_length(), field.required() ? 1 : 0);
      CheckFreeText(v, path, value.text(), min, max);
      break;
    }
    case v1::FIELD_KIND_NUMBER: {
      const double n = value.number();
      const v1::NumberLimits& limits = field.number();
      if (!std::isfinite(n)) {
        v.Add(path, "must be a finite number");
      } else if (limits.integer_only() && std::trunc(n) != n) {
        v.Add(path, "must be a whole number");
      } else if (limits.has_min() && n < limits.min()) {
        v.Add(path, absl::StrCat("must be at least ", limits.min()));
      } else if (limits.has_max() && n > limits.max()) {
        v.Add(path, absl::StrCat("must be at most ", limits.max()));
      }
      break;
    }
    case v1::FIELD_KIND_DATE: {
      const std::string& date = value.date();
      if (!IsCalendarDate(date)) {
        v.Add(path, "must be a real calendar date YYYY-MM-DD");
      } else if (!field.date().earliest().empty() && date < field.date().earliest()) {
        v.Add(path, absl::StrCat("must not be before ", field.date().earliest()));
      } else if (!field.date().latest().empty() && date > field.date().latest()) {
        v.Add(path, absl::StrCat("must not be after ", field.date().latest()));
      }
      break;
    }
    case v1::FIELD_KIND_CHOICE: {
      const auto& choices = field.choice().choices();
      if (std::find(choices.begin(), choices.end(), value.choice()) == choices.end()) {
        v.Add(path, "must be one of the field's choices");
      }
      break;
    }
    case v1::FIELD_KIND_NATIONAL_ID:
      if (absl::Status s = common::ValidateNorwegianNationalId(value.national_id()); !s.ok()) {
        v.Add(path, std::string(s.message()));
      }
      break;
    case v1::FIELD_KIND_ORG_NUMBER:
      if (absl::Status s = common::ValidateNorwegianOrgNumber(value.org_number()); !s.ok()) {
        v.Add(path, std::string(s.message()));
      }
      break;
    case v1::FIELD_KIND_EMAIL:
      if (!IsEmail(value.email())) v.Add(path, "must be an e-mail address local@domain.tld");
      break;
    case v1::FIELD_KIND_PHONE:
      if (!IsPhone(value.phone())) {
        v.Add(path, "must be a telephone number: optional +, then 8..15 digits");
      }
      break;
    default:
      break;
  }
}

void CheckAttachments(FieldViolations& v, const v1::SubmitFormRequest& request,
                      const v1::FormType& form_type, const FormsConfig& config) {
  const v1::AttachmentRules& rules = form_type.attachments();
  const int count = request.attachments_size();
  if (count > static_cast<int>(rules.max_count())) {
    v.Add("attachments", absl::StrCat("must have at most ", rules.max_count(),
                                      " attachments for this form type (has ", count, ")"));
    return;
  }
  const uint64_t max_total =
      rules.max_total_bytes() == 0 ? config.max_submission_bytes : rules.max_total_bytes();
  const uint64_t max_each = rules.max_bytes_each() == 0 ? max_total : rules.max_bytes_each();
  std::vector<std::string_view> allowed(rules.media_types().begin(), rules.media_types().end());
  if (allowed.empty()) {
    allowed.assign(std::begin(kDefaultAttachmentMediaTypes),
                   std::end(kDefaultAttachmentMediaTypes));
  }
  std::unordered_map<std::u32string, int> first_with_name;
  uint64_t total = 0;
  for (int i = 0; i < count; ++i) {
    const v1::Attachment& attachment = request.attachments(i);
    const std::string prefix = absl::StrCat("attachments[", i, "]");
    const std::string filename_field = prefix + ".filename";
    FieldViolations name_check;
    CheckFilename(name_check, filename_field, attachment.filename());
    if (!name_check.empty()) {
      CheckFilename(v, filename_field, attachment.filename());
    } else {
      const auto [it, inserted] =
          first_with_name.try_emplace(FoldedFilename(attachment.filename()), i);
      if (!inserted) {
        v.Add(filename_field, absl::StrCat("must be unique in the submission (same as attachments[",
                                           it->second, "].filename, ignoring case)"));
      }
    }
    const std::string& media_type = attachment.media_type();
    if (std::find(allowed.begin(), allowed.end(), media_type) == allowed.end()) {
      v.Add(prefix + ".media_type", "is not one of the media types this form type allows");
    }
    const std::string content_field = prefix + ".content";
    const std::string& content = attachment.content();
    if (content.empty()) {
      v.Add(content_field, "must not be empty");
    } else if (content.size() > max_each) {
      v.Add(content_field, absl::StrCat("is ", content.size(), " bytes; this form type allows ",
                                        max_each, " per attachment"));
    } else {
      const bool recognised = std::find(std::begin(kDefaultAttachmentMediaTypes),
                                        std::end(kDefaultAttachmentMediaTypes),
                                        media_type) != std::end(kDefaultAttachmentMediaTypes);
      if (recognised && SniffMediaType(content) != media_type) {
        const std::string_view actual = SniffMediaType(content);
        v.Add(content_field,
              absl::StrCat("is not ", media_type, " (its bytes are ",
                           actual.empty() ? "of no type this server recognises"
                                          : absl::StrCat("those of ", common::Av(actual)),
                           ")"));
      }
    }
    total += content.size();
  }
  if (total > max_total) {
    v.Add("attachments", absl::StrCat("total size of ", total, " bytes exceeds this form type's ",
                                      "limit of ", max_total, " bytes"));
  }
}

}  // namespace

bool IsFormTypeId(std::string_view id) {
  if (id.empty() || id.size() > kMaxFormTypeIdChars) return false;
  if (!(id[0] >= 'a' && id[0] <= 'z')) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool IsCalendarDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  auto num = [&](size_t at, size_t len) {
    int n = 0;
    for (size_t i = at; i < at + len; ++i) n = n * 10 + (s[i] - '0');
    return n;
  };
  const int year = num(0, 4), month = num(5, 2), day = num(8, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int days = kDays[month - 1] + (month == 2 && leap ? 1 : 0);
  return day <= days;
}

std::string_view SniffMediaType(std::string_view content) {
  if (content.starts_with("%PDF-")) return "application/pdf";
  if (content.starts_with(std::string_view("\x89PNG\r\n\x1a\n", 8))) return "image/png";
  if (content.starts_with("\xFF\xD8\xFF")) return "image/jpeg";
  return {};
}

absl::Status ValidateFormType(const v1::FormType& form_type, const FormsConfig& config) {
  FieldViolations v;
  if (!IsFormTypeId(form_type.form_type_id())) {
    v.Add("form_type.form_type_id",
          "must be 1..64 characters of a-z, 0-9 and -, starting with a letter");
  }
  CheckText(v, "form_type.title", form_type.title(), 1, kMaxTitleChars,
            /*forbid_slash_lookalikes=*/true);  // as a letter's title: it titles receipts
  if (form_type.version() == 0) v.Add("form_type.version", "must be 1 or more");
  const int fields = form_type.fields_size();
  if (fields == 0) {
    v.Add("form_type.fields", "must have at least 1 field");
  } else if (fields > config.max_fields) {
    v.Add("form_type.fields",
          absl::StrCat("must have at most ", config.max_fields, " fields (has ", fields, ")"));
  } else {
    absl::flat_hash_map<std::string, int> first_with_name;
    for (int i = 0; i < fields; ++i) {
      const std::string prefix = absl::StrCat("form_type.fields[", i, "]");
      CheckFormField(v, form_type.fields(i), prefix);
      const std::string& name = form_type.fields(i).name();
      if (IsFieldName(name)) {
        const auto [it, inserted] = first_with_name.try_emplace(name, i);
        if (!inserted) {
          v.Add(prefix + ".name",
                absl::StrCat("must be unique (same as form_type.fields[", it->second, "].name)"));
        }
      }
    }
  }
  CheckAttachmentRules(v, form_type.attachments(), config);
  const int portals = form_type.allowed_portals_size();
  if (portals == 0) {
    v.Add("form_type.allowed_portals", "must name at least 1 portal");
  } else if (portals > config.max_portals) {
    v.Add("form_type.allowed_portals",
          absl::StrCat("must name at most ", config.max_portals, " portals (has ", portals, ")"));
  } else {
    std::set<std::string> seen;
    for (int i = 0; i < portals; ++i) {
      const std::string path = absl::StrCat("form_type.allowed_portals[", i, "]");
      FieldViolations one;
      common::CheckOrganisationId(one, form_type.allowed_portals(i), path);
      if (!one.empty()) {
        common::CheckOrganisationId(v, form_type.allowed_portals(i), path);
      } else if (!seen.insert(OrgKey(form_type.allowed_portals(i))).second) {
        v.Add(path, "must be unique");
      }
    }
  }
  const std::string& pem = form_type.encryption_certificate_pem();
  if (pem.empty()) {
    v.Add("form_type.encryption_certificate_pem", "is required");
  } else if (pem.size() > kMaxCertificateBytes) {
    v.Add("form_type.encryption_certificate_pem",
          absl::StrCat("must be at most ", kMaxCertificateBytes, " bytes"));
  } else if (absl::Status usable = crypto::CheckEncryptionCertificatePem(pem); !usable.ok()) {
    v.Add("form_type.encryption_certificate_pem", std::string(usable.message()));
  }
  return v.ToStatus();
}

absl::Status ValidateSubmitRequest(const v1::SubmitFormRequest& request,
                                   const FormsConfig& config) {
  FieldViolations v;
  if (!request.has_municipality()) {
    v.Add("municipality", "is required");
  } else {
    common::CheckOrganisationId(v, request.municipality(), "municipality");
  }
  if (!IsFormTypeId(request.form_type_id())) {
    v.Add("form_type_id", "must be 1..64 characters of a-z, 0-9 and -, starting with a letter");
  }
  if (!request.has_citizen()) {
    v.Add("citizen", "is required");
  } else {
    common::CheckPersonId(v, request.citizen(), "citizen");
  }
  if (request.values_size() > config.max_fields) {
    v.Add("values", absl::StrCat("must have at most ", config.max_fields, " values (has ",
                                 request.values_size(), ")"));
  }
  if (request.attachments_size() > config.max_attachments) {
    v.Add("attachments", absl::StrCat("must have at most ", config.max_attachments,
                                      " attachments (has ", request.attachments_size(), ")"));
  }
  CheckIdempotencyKey(v, request.idempotency_key());
  return v.ToStatus();
}

absl::Status ValidateSubmission(const v1::SubmitFormRequest& request, const v1::FormType& form_type,
                                const FormsConfig& config) {
  FieldViolations v;
  absl::flat_hash_map<std::string, int> field_index;
  for (int i = 0; i < form_type.fields_size(); ++i) field_index[form_type.fields(i).name()] = i;
  absl::flat_hash_map<std::string, int> given;  // field name -> values index
  for (int i = 0; i < request.values_size(); ++i) {
    const v1::FieldValue& value = request.values(i);
    const std::string prefix = absl::StrCat("values[", i, "]");
    auto it = field_index.find(value.name());
    if (it == field_index.end()) {
      v.Add(prefix + ".name",
            IsFieldName(value.name())
                ? absl::StrCat("\"", value.name(), "\" is not a field of form type ",
                               form_type.form_type_id())
                : "is not a field of this form type");
      continue;
    }
    const auto [first, inserted] = given.try_emplace(value.name(), i);
    if (!inserted) {
      v.Add(prefix + ".name",
            absl::StrCat("was given before (values[", first->second, "]); give each field once"));
      continue;
    }
    const v1::FormField& field = form_type.fields(it->second);
    const v1::FieldValue::ValueCase expected = MemberOf(field.kind());
    if (value.value_case() == v1::FieldValue::VALUE_NOT_SET) {
      v.Add(prefix,
            absl::StrCat("has no value; field \"", field.name(), "\" is ", KindName(field.kind()),
                         ": set ", prefix, ".", MemberName(expected)));
      continue;
    }
    if (value.value_case() != expected) {
      v.Add(absl::StrCat(prefix, ".", MemberName(value.value_case())),
            absl::StrCat("field \"", field.name(), "\" is ", KindName(field.kind()), ": set ",
                         prefix, ".", MemberName(expected), " instead"));
      continue;
    }
    CheckValue(v, field, value, absl::StrCat(prefix, ".", MemberName(expected)));
  }
  for (const v1::FormField& field : form_type.fields()) {
    if (field.required() && !given.contains(field.name())) {
      v.Add("values", absl::StrCat("required field \"", field.name(), "\" has no value"));
    }
  }
  CheckAttachments(v, request, form_type, config);
  return v.ToStatus();
}

}  // namespace utpost::ledger
