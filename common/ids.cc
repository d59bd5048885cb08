#include "common/ids.h"

#include <array>
#include <cstddef>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace utpost::common {
namespace {

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Length and digits only; both failures get the same message because "must be N digits"
// tells the caller everything they need either way.
absl::Status CheckDigits(std::string_view id, size_t length) {
  if (id.size() != length || !AllDigits(id)) {
    return absl::InvalidArgumentError(absl::StrCat("must be ", length, " digits"));
  }
  return absl::OkStatus();
}

int Digit(std::string_view s, size_t i) { return s[i] - '0'; }

int TwoDigits(std::string_view s, size_t i) { return Digit(s, i) * 10 + Digit(s, i + 1); }

template <size_t N>
int WeightedSum(std::string_view digits, const std::array<int, N>& weights) {
  int sum = 0;
  for (size_t i = 0; i < N; ++i) sum += Digit(digits, i) * weights[i];
  return sum;
}

// The mod-11 check digit for a weighted sum, or -1 where the rule makes the number
// impossible (remainder 1 would need the check digit 10).
int Mod11CheckDigit(int weighted_sum) {
  const int check = 11 - weighted_sum % 11;
  if (check == 11) return 0;
  if (check == 10) return -1;
  return check;
}

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

bool IsValidDate(int year, int month, int day) {
  static constexpr std::array<int, 12> kDaysInMonth = {31, 28, 31, 30, 31, 30,
                                                       31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return false;
  int days = kDaysInMonth[month - 1];
  if (month == 2 && IsLeapYear(year)) days = 29;
  return day <= days;
}

// The birth year of a Norwegian national id from its two-digit year and individual number
// (Skatteetaten's allocation table). The only combination the table does not assign
// (individual number 500-749 with year 40-53) falls back to the 1900s: no such number is
// issued, and 1940-1953 and 2040-2053 agree on which years are leap years, so the date
// check is the same either way. The century matters only for 29 February of year 00.
int NorwegianBirthYear(int yy, int individual) {
  if (individual <= 499) return 1900 + yy;
  if (individual <= 749 && yy >= 54) return 1800 + yy;
  if (yy <= 39) return 2000 + yy;
  return 1900 + yy;
}

// The birth year of a Danish CPR number from its two-digit year and the first digit of the
// serial number (CPR-kontoret's century rule).
int DanishBirthYear(int yy, int century_digit) {
  switch (century_digit) {
    case 4:
    case 9:
      return yy <= 36 ? 2000 + yy : 1900 + yy;
    case 5:
    case 6:
    case 7:
    case 8:
      return yy <= 57 ? 2000 + yy : 1800 + yy;
    default:
      return 1900 + yy;
  }
}

bool IsValidCvr(std::string_view digits) {
  static constexpr std::array<int, 8> kWeights = {2, 7, 6, 5, 4, 3, 2, 1};
  return WeightedSum(digits, kWeights) % 11 == 0;
}

bool IsValidNorwegianOrgNumber(std::string_view digits) {
  static constexpr std::array<int, 8> kWeights = {3, 2, 7, 6, 5, 4, 3, 2};
  return Mod11CheckDigit(WeightedSum(digits, kWeights)) == Digit(digits, 8);
}

}  // namespace

absl::Status ValidateNorwegianNationalId(std::string_view id) {
  if (absl::Status s = CheckDigits(id, 11); !s.ok()) return s;

  static constexpr std::array<int, 9> kWeights1 = {3, 7, 6, 1, 8, 9, 4, 5, 2};
  static constexpr std::array<int, 10> kWeights2 = {5, 4, 3, 2, 7, 6, 5, 4, 3, 2};
  if (Mod11CheckDigit(WeightedSum(id, kWeights1)) != Digit(id, 9) ||
      Mod11CheckDigit(WeightedSum(id, kWeights2)) != Digit(id, 10)) {
    return absl::InvalidArgumentError("check digit is wrong");
  }

  int day = TwoDigits(id, 0);
  int month = TwoDigits(id, 2);
  const int yy = TwoDigits(id, 4);
  const int individual = Digit(id, 6) * 100 + TwoDigits(id, 7);
  // D-numbers add 40 to the day; H-numbers add 40 and synthetic test numbers (Tenor) add
  // 80 to the month. A D-number may also be synthetic, so both shifts may apply.
  if (day > 40) day -= 40;
  if (month > 80) {
    month -= 80;
  } else if (month > 40) {
    month -= 40;
  }
  if (!IsValidDate(NorwegianBirthYear(yy, individual), month, day)) {
    return absl::InvalidArgumentError("birth date is not a valid date");
  }
  return absl::OkStatus();
}

absl::Status ValidateNorwegianOrgNumber(std::string_view id) {
  if (absl::Status s = CheckDigits(id, 9); !s.ok()) return s;
  // The register (Enhetsregisteret) hands out numbers starting with 8 or 9 only; without this
  // rule 000000000 would pass, its weighted sum being 0.
  if (id[0] != '8' && id[0] != '9') return absl::InvalidArgumentError("must start with 8 or 9");
  if (!IsValidNorwegianOrgNumber(id)) return absl::InvalidArgumentError("check digit is wrong");
  return absl::OkStatus();
}

absl::Status ValidateDanishCpr(std::string_view id) {
  if (absl::Status s = CheckDigits(id, 10); !s.ok()) return s;
  const int year = DanishBirthYear(TwoDigits(id, 4), Digit(id, 6));
  if (!IsValidDate(year, TwoDigits(id, 2), TwoDigits(id, 0))) {
    return absl::InvalidArgumentError("birth date is not a valid date");
  }
  return absl::OkStatus();
}

absl::Status ValidateDanishCvr(std::string_view id) {
  if (absl::Status s = CheckDigits(id, 8); !s.ok()) return s;
  // CVR numbers run from 10000000; 00000000 would otherwise pass the mod-11 rule.
  if (id[0] == '0') return absl::InvalidArgumentError("must not start with 0");
  if (!IsValidCvr(id)) return absl::InvalidArgumentError("check digit is wrong");
  return absl::OkStatus();
}

absl::StatusOr<ParsedId> ParseIdentifier(std::string_view text) {
  // Debian's Abseil has its own string_view type, not an alias of std::string_view.
  std::string digits(absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
  // DDMMYY-SSSS is the usual way of writing a CPR number; no other form has a dash.
  if (digits.size() == 11 && digits[6] == '-') digits.erase(6, 1);
  if (!AllDigits(digits)) {
    return absl::InvalidArgumentError("must contain only digits (CPR numbers may be DDMMYY-SSSS)");
  }
  IdKind kind;
  absl::Status status;
  switch (digits.size()) {
    case 11:
      kind = IdKind::kNorwegianNationalId;
      status = ValidateNorwegianNationalId(digits);
      break;
    case 9:
      kind = IdKind::kNorwegianOrgNumber;
      status = ValidateNorwegianOrgNumber(digits);
      break;
    case 10:
      kind = IdKind::kDanishCpr;
      status = ValidateDanishCpr(digits);
      break;
    case 8:
      kind = IdKind::kDanishCvr;
      status = ValidateDanishCvr(digits);
      break;
    default:
      return absl::InvalidArgumentError("must be 8, 9, 10 or 11 digits");
  }
  if (!status.ok()) return status;
  return ParsedId{kind, std::move(digits)};
}

absl::StatusOr<std::string> MakeOrgKey(IdKind kind, std::string_view digits) {
  switch (kind) {
    case IdKind::kNorwegianOrgNumber:
      if (absl::Status s = ValidateNorwegianOrgNumber(digits); !s.ok()) return s;
      return std::string("NO").append(digits);
    case IdKind::kDanishCvr:
      if (absl::Status s = ValidateDanishCvr(digits); !s.ok()) return s;
      return std::string("DK").append(digits);
    case IdKind::kNorwegianNationalId:
    case IdKind::kDanishCpr:
      break;
  }
  return absl::InvalidArgumentError("is not an organisation number");
}

bool IsValidOrgKey(std::string_view key) {
  if (key.size() < 2) return false;
  const std::string_view country = key.substr(0, 2);
  const std::string_view digits = key.substr(2);
  if (country == "NO") return ValidateNorwegianOrgNumber(digits).ok();
  if (country == "DK") return ValidateDanishCvr(digits).ok();
  return false;
}

}  // namespace utpost::common
