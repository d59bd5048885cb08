// Identifiers of people and organisations in Norway and Denmark, with their check rules.
//
// Every function here is pure and thread-safe. A validation failure is INVALID_ARGUMENT
// with a message that says what is wrong (length, digits, check digit, date), written so
// it can be shown to the caller next to the field path.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace utpost::common {

// Norwegian national identity number (fødselsnummer) or D-number: 11 digits, DDMMYYIIIKK,
// a real birth date (D-number: day + 40; H-numbers and synthetic test numbers with month +
// 40 or + 80 are accepted), and both mod-11 check digits correct.
[[nodiscard]] absl::Status ValidateNorwegianNationalId(std::string_view id);

// Norwegian organisation number: 9 digits starting with 8 or 9, weights 3 2 7 6 5 4 3 2,
// mod-11 check digit.
[[nodiscard]] absl::Status ValidateNorwegianOrgNumber(std::string_view id);

// Danish CPR number: 10 digits (no dash), the first six a real date DDMMYY. The mod-11 rule
// is not applied: CPR numbers without it have been issued since 2007.
[[nodiscard]] absl::Status ValidateDanishCpr(std::string_view id);

// Danish CVR number: 8 digits not starting with 0, weights 2 7 6 5 4 3 2 1, weighted sum
// divisible by 11.
[[nodiscard]] absl::Status ValidateDanishCvr(std::string_view id);

// The four identifier kinds utpost takes.
enum class IdKind {
  kNorwegianNationalId,  // 11 digits
  kNorwegianOrgNumber,   // 9 digits
  kDanishCpr,            // 10 digits, or DDMMYY-SSSS
  kDanishCvr,            // 8 digits
};

struct ParsedId {
  IdKind kind;
  std::string digits;  // normalised: digits only
};

// Tells the kind apart by length (after removing one dash in DDMMYY-SSSS and surrounding
// white space) and validates it. For command-line input.
[[nodiscard]] absl::StatusOr<ParsedId> ParseIdentifier(std::string_view text);

// An organisation's key as used in storage and logs: "NO" + 9 digits or "DK" + 8 digits.
// Returns INVALID_ARGUMENT if the number is not valid for the country.
[[nodiscard]] absl::StatusOr<std::string> MakeOrgKey(IdKind kind, std::string_view digits);

// True if `key` is a well-formed org key ("NO" + valid org number or "DK" + valid CVR).
bool IsValidOrgKey(std::string_view key);

}  // namespace utpost::common
