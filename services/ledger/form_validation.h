// Validation of form types and of submissions against them (utpost/v1/forms.proto), in one
// place. Every violation is reported at once with its field path, as INVALID_ARGUMENT
// carrying a google.rpc.BadRequest (common/field_violations.h). Pure: no I/O, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "services/ledger/forms_config.h"
#include "utpost/v1/forms.pb.h"

namespace utpost::ledger {

// The media types an attachment may have when a form type lists none.
inline constexpr std::string_view kDefaultAttachmentMediaTypes[] = {"application/pdf", "image/png",
                                                                    "image/jpeg"};

// A form type definition as RegisterFormType takes it. Fields under "form_type.", e.g.
// "form_type.form_type_id", "form_type.fields[2].name", "form_type.fields[2].choice.choices[0]",
// "form_type.attachments.max_count", "form_type.allowed_portals[1]",
// "form_type.encryption_certificate_pem".
[[nodiscard]] absl::Status ValidateFormType(const v1::FormType& form_type,
                                            const FormsConfig& config);

// A form type id: 1..64 characters of [a-z0-9-], starting with a letter.
bool IsFormTypeId(std::string_view id);

// What SubmitForm is checked for before its form type is read: "municipality",
// "form_type_id", "citizen" (and its members), "values" and "attachments" counts,
// "idempotency_key".
[[nodiscard]] absl::Status ValidateSubmitRequest(const v1::SubmitFormRequest& request,
                                                 const FormsConfig& config);

// The values and attachments of `request` against `form_type` (a valid one): "values"
// (a required field without a value: the description names the field), "values[i].name"
// (unknown or repeated field), "values[i]" (no value set), "values[i].<member>" (the member
// of another kind than the field's, or a value outside its kind's rules and limits),
// "attachments" (count, total size), "attachments[i].filename", "attachments[i].media_type",
// "attachments[i].content" (empty, too large, or bytes that are not of the declared type).
[[nodiscard]] absl::Status ValidateSubmission(const v1::SubmitFormRequest& request,
                                              const v1::FormType& form_type,
                                              const FormsConfig& config);

// The media type whose signature `content` starts with, among those this server recognises
// (application/pdf, image/png, image/jpeg); empty if none.
std::string_view SniffMediaType(std::string_view content);

// A real calendar date "YYYY-MM-DD" (years 0001..9999, leap years honoured).
bool IsCalendarDate(std::string_view text);

}  // namespace utpost::ledger
