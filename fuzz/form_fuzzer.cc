// Form type and submission validation (services/ledger/form_validation.h), as RegisterFormType
// and SubmitForm call it, at the level reachable without a database. The first input byte
// picks the mode; the rest is wire form.
//
//   0  a FormType as sent: ValidateFormType.
//   1  the same with a usable encryption certificate put in, so that the rest is reached.
//   2  [2 bytes: n][n bytes: FormType][SubmitFormRequest]: the form type (with a usable
//      certificate) validated; if it is valid, the request is checked as SubmitForm does
//      (ValidateSubmitRequest, then ValidateSubmission against it).
//
// Invariants: a refusal is INVALID_ARGUMENT with a google.rpc.BadRequest whose field paths are
// the documented ones and whose text is valid UTF-8; an accepted submission names only fields
// of its type, each once, gives every required field a value, has real dates, and attachments
// whose bytes are of their declared media type.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "common/field_violations.h"
#include "crypto/dev_provider_cert.h"
#include "fuzz/fuzz_check.h"
#include "google/protobuf/stubs/common.h"
#include "services/ledger/form_validation.h"
#include "utpost/v1/forms.pb.h"

namespace utpost::fuzz {
namespace {

bool IsUtf8(std::string_view s) {
  return google::protobuf::internal::IsStructurallyValidUTF8(s.data(), static_cast<int>(s.size()));
}

// A certificate ValidateFormType accepts (EC P-256), made once in a temporary directory.
const std::string& UsableCertificate() {
  static const std::string pem = [] {
    char dir[] = "/tmp/utpost-form-fuzzer-XXXXXX";
    if (::mkdtemp(dir) == nullptr) std::abort();
    absl::StatusOr<std::string> cert =
        crypto::EnsureDevProviderCertificate(dir, "fuzz", "form fuzzer");
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (!cert.ok()) std::abort();
    return *cert;
  }();
  return pem;
}

void CheckRefusal(const absl::Status& status, std::initializer_list<absl::string_view> prefixes) {
  UTPOST_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  UTPOST_FUZZ_CHECK(IsUtf8(std::string_view(status.message().data(), status.message().size())));
  const auto details = common::GetBadRequest(status);
  UTPOST_FUZZ_CHECK(details.has_value());
  UTPOST_FUZZ_CHECK(details->field_violations_size() > 0);
  for (const auto& violation : details->field_violations()) {
    bool known = false;
    for (absl::string_view prefix : prefixes) {
      known = known || absl::StartsWith(violation.field(), prefix);
    }
    UTPOST_FUZZ_CHECK(known);
    UTPOST_FUZZ_CHECK(!violation.description().empty());
    UTPOST_FUZZ_CHECK(IsUtf8(violation.description()));
  }
}

// True if the form type is valid.
bool CheckFormType(const v1::FormType& type, const ledger::FormsConfig& config) {
  const absl::Status status = ledger::ValidateFormType(type, config);
  if (!status.ok()) {
    CheckRefusal(status, {"form_type"});
    return false;
  }
  UTPOST_FUZZ_CHECK(ledger::IsFormTypeId(type.form_type_id()));
  UTPOST_FUZZ_CHECK(type.fields_size() <= config.max_fields);
  UTPOST_FUZZ_CHECK(type.allowed_portals_size() <= config.max_portals);
  absl::flat_hash_set<std::string> names;
  for (const auto& field : type.fields()) {
    UTPOST_FUZZ_CHECK(!field.name().empty());
    UTPOST_FUZZ_CHECK(names.insert(field.name()).second);
    UTPOST_FUZZ_CHECK(field.kind() != v1::FIELD_KIND_UNSPECIFIED);
  }
  return true;
}

void CheckSubmission(const v1::SubmitFormRequest& request, const v1::FormType& type,
                     const ledger::FormsConfig& config) {
  absl::Status status = ledger::ValidateSubmitRequest(request, config);
  if (status.ok()) status = ledger::ValidateSubmission(request, type, config);
  if (!status.ok()) {
    CheckRefusal(status, {"municipality", "form_type_id", "form_type_version", "citizen", "values",
                          "attachments", "idempotency_key"});
    return;
  }
  absl::flat_hash_set<std::string> given;
  for (const auto& value : request.values()) {
    UTPOST_FUZZ_CHECK(given.insert(value.name()).second);
    const v1::FormField* field = nullptr;
    for (const auto& f : type.fields()) {
      if (f.name() == value.name()) field = &f;
    }
    UTPOST_FUZZ_CHECK(field != nullptr);
    UTPOST_FUZZ_CHECK(value.value_case() != v1::FieldValue::VALUE_NOT_SET);
    if (value.has_date()) UTPOST_FUZZ_CHECK(ledger::IsCalendarDate(value.date()));
    if (value.has_text()) UTPOST_FUZZ_CHECK(IsUtf8(value.text()));
  }
  for (const auto& field : type.fields()) {
    if (field.required()) UTPOST_FUZZ_CHECK(given.contains(field.name()));
  }
  UTPOST_FUZZ_CHECK(request.attachments_size() <= config.max_attachments);
  for (const auto& attachment : request.attachments()) {
    UTPOST_FUZZ_CHECK(!attachment.content().empty());
    UTPOST_FUZZ_CHECK(ledger::SniffMediaType(attachment.content()) == attachment.media_type());
  }
}

}  // namespace
}  // namespace utpost::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace utpost;
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 3;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  ledger::FormsConfig config;
  v1::FormType type;
  if (mode < 2) {
    if (!type.ParseFromArray(rest.data(), static_cast<int>(rest.size()))) return 0;
    if (mode == 1) type.set_encryption_certificate_pem(fuzz::UsableCertificate());
    fuzz::CheckFormType(type, config);
    return 0;
  }
  if (rest.size() < 2) return 0;
  const size_t n = static_cast<uint8_t>(rest[0]) << 8 | static_cast<uint8_t>(rest[1]);
  rest.remove_prefix(2);
  if (n > rest.size()) return 0;
  if (!type.ParseFromArray(rest.data(), static_cast<int>(n))) return 0;
  type.set_encryption_certificate_pem(fuzz::UsableCertificate());
  if (!fuzz::CheckFormType(type, config)) return 0;
  rest.remove_prefix(n);
  v1::SubmitFormRequest request;
  if (!request.ParseFromArray(rest.data(), static_cast<int>(rest.size()))) return 0;
  fuzz::CheckSubmission(request, type, config);
  return 0;
}
