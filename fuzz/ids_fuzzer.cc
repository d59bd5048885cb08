// Identifier parsing: common/ids.h and common/letter_id.h on arbitrary text.
//
// Invariants: every validator answers OK only for the right number of digits, and otherwise
// INVALID_ARGUMENT with a message; ParseIdentifier agrees with the validators; org keys are
// made only from valid organisation numbers and are recognised again; a decoded letter id
// re-encodes to its canonical spelling, which decodes to the same id; any 16 bytes survive
// encoding and decoding.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/ids.h"
#include "common/letter_id.h"
#include "fuzz/fuzz_check.h"

namespace utpost::fuzz {
namespace {

using common::IdKind;

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool IsRefusal(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument && !status.message().empty();
}

// A validator's answer for `id`: OK only for exactly `length` digits.
void CheckValidator(const absl::Status& status, std::string_view id, size_t length) {
  if (status.ok()) {
    UTPOST_FUZZ_CHECK(id.size() == length && AllDigits(id));
  } else {
    UTPOST_FUZZ_CHECK(IsRefusal(status));
  }
}

void CheckOrgKey(IdKind kind, std::string_view digits, bool valid, std::string_view country) {
  absl::StatusOr<std::string> key = common::MakeOrgKey(kind, digits);
  UTPOST_FUZZ_CHECK(key.ok() == valid);
  if (!key.ok()) {
    UTPOST_FUZZ_CHECK(IsRefusal(key.status()));
    return;
  }
  UTPOST_FUZZ_CHECK(*key == std::string(country).append(digits));
  UTPOST_FUZZ_CHECK(common::IsValidOrgKey(*key));
}

void FuzzIdentifiers(std::string_view text) {
  const absl::Status national_id = common::ValidateNorwegianNationalId(text);
  const absl::Status org_number = common::ValidateNorwegianOrgNumber(text);
  const absl::Status cpr = common::ValidateDanishCpr(text);
  const absl::Status cvr = common::ValidateDanishCvr(text);
  CheckValidator(national_id, text, 11);
  CheckValidator(org_number, text, 9);
  CheckValidator(cpr, text, 10);
  CheckValidator(cvr, text, 8);

  absl::StatusOr<common::ParsedId> parsed = common::ParseIdentifier(text);
  if (parsed.ok()) {
    const std::string& digits = parsed->digits;
    UTPOST_FUZZ_CHECK(AllDigits(digits));
    switch (parsed->kind) {
      case IdKind::kNorwegianNationalId:
        UTPOST_FUZZ_CHECK(common::ValidateNorwegianNationalId(digits).ok());
        break;
      case IdKind::kNorwegianOrgNumber:
        UTPOST_FUZZ_CHECK(common::ValidateNorwegianOrgNumber(digits).ok());
        break;
      case IdKind::kDanishCpr:
        UTPOST_FUZZ_CHECK(common::ValidateDanishCpr(digits).ok());
        break;
      case IdKind::kDanishCvr:
        UTPOST_FUZZ_CHECK(common::ValidateDanishCvr(digits).ok());
        break;
    }
    const bool is_org =
        parsed->kind == IdKind::kNorwegianOrgNumber || parsed->kind == IdKind::kDanishCvr;
    absl::StatusOr<std::string> key = common::MakeOrgKey(parsed->kind, digits);
    UTPOST_FUZZ_CHECK(key.ok() == is_org);
    if (key.ok()) UTPOST_FUZZ_CHECK(common::IsValidOrgKey(*key));
  } else {
    UTPOST_FUZZ_CHECK(IsRefusal(parsed.status()));
  }
  // The lengths tell the kinds apart, so text a validator accepts parses as that kind.
  const auto parsed_as = [&parsed, text](IdKind kind) {
    return parsed.ok() && parsed->kind == kind && parsed->digits == text;
  };
  if (national_id.ok()) UTPOST_FUZZ_CHECK(parsed_as(IdKind::kNorwegianNationalId));
  if (org_number.ok()) UTPOST_FUZZ_CHECK(parsed_as(IdKind::kNorwegianOrgNumber));
  if (cpr.ok()) UTPOST_FUZZ_CHECK(parsed_as(IdKind::kDanishCpr));
  if (cvr.ok()) UTPOST_FUZZ_CHECK(parsed_as(IdKind::kDanishCvr));

  CheckOrgKey(IdKind::kNorwegianOrgNumber, text, org_number.ok(), "NO");
  CheckOrgKey(IdKind::kDanishCvr, text, cvr.ok(), "DK");
  UTPOST_FUZZ_CHECK(!common::MakeOrgKey(IdKind::kNorwegianNationalId, text).ok());
  UTPOST_FUZZ_CHECK(!common::MakeOrgKey(IdKind::kDanishCpr, text).ok());

  const bool valid_key =
      text.size() >= 2 &&
      ((text.substr(0, 2) == "NO" && common::ValidateNorwegianOrgNumber(text.substr(2)).ok()) ||
       (text.substr(0, 2) == "DK" && common::ValidateDanishCvr(text.substr(2)).ok()));
  UTPOST_FUZZ_CHECK(common::IsValidOrgKey(text) == valid_key);
}

// The canonical spelling of a Crockford base32 text: upper case, I and L as 1, O as 0.
std::string Canonical(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c == 'I' || c == 'L') c = '1';
    if (c == 'O') c = '0';
  }
  return out;
}

bool IsEncodedId(std::string_view text) {
  if (text.size() != common::kLetterIdLength || text[0] < '0' || text[0] > '7') return false;
  for (char c : text) {
    if (std::string_view("0123456789ABCDEFGHJKMNPQRSTVWXYZ").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

void FuzzLetterId(std::string_view text) {
  absl::StatusOr<common::LetterIdBytes> decoded = common::DecodeLetterId(text);
  if (decoded.ok()) {
    UTPOST_FUZZ_CHECK(text.size() == common::kLetterIdLength);
    const std::string encoded = common::EncodeLetterId(*decoded);
    UTPOST_FUZZ_CHECK(IsEncodedId(encoded));
    UTPOST_FUZZ_CHECK(encoded == Canonical(text));
    absl::StatusOr<common::LetterIdBytes> again = common::DecodeLetterId(encoded);
    UTPOST_FUZZ_CHECK(again.ok() && *again == *decoded);

    // The smallest id of the id's millisecond shares its time bytes and is not greater.
    const common::LetterIdBytes floor = common::MinLetterIdAt(common::LetterIdTime(*decoded));
    UTPOST_FUZZ_CHECK(std::memcmp(floor.data(), decoded->data(), 6) == 0);
    UTPOST_FUZZ_CHECK(floor <= *decoded);
  } else {
    UTPOST_FUZZ_CHECK(IsRefusal(decoded.status()));
  }

  if (text.size() >= 16) {
    common::LetterIdBytes bytes{};
    std::memcpy(bytes.data(), text.data(), bytes.size());
    const std::string encoded = common::EncodeLetterId(bytes);
    UTPOST_FUZZ_CHECK(IsEncodedId(encoded));
    absl::StatusOr<common::LetterIdBytes> round_trip = common::DecodeLetterId(encoded);
    UTPOST_FUZZ_CHECK(round_trip.ok() && *round_trip == bytes);
  }
}

}  // namespace
}  // namespace utpost::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  utpost::fuzz::FuzzIdentifiers(text);
  utpost::fuzz::FuzzLetterId(text);
  return 0;
}
