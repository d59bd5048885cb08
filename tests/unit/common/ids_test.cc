#include "common/ids.h"

#include <string>
#include <string_view>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace utpost::common {
namespace {

using ::testing::HasSubstr;

// Every validator must reject the mutation of any one digit of a valid id: a mod-11 check
// with weights 1..10 catches every single-digit substitution.
template <typename Validate>
void ExpectEverySingleDigitChangeRejected(std::string_view valid, Validate validate) {
  ASSERT_TRUE(validate(valid).ok()) << valid;
  for (size_t i = 0; i < valid.size(); ++i) {
    for (char d = '0'; d <= '9'; ++d) {
      if (d == valid[i]) continue;
      std::string changed(valid);
      changed[i] = d;
      absl::Status s = validate(changed);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << changed;
    }
  }
}

// ---- Norwegian national id ----

TEST(NorwegianNationalIdTest, AcceptsKnownValidNumber) {
  EXPECT_TRUE(ValidateNorwegianNationalId("15076500565").ok());
}

TEST(NorwegianNationalIdTest, RejectsWrongSecondCheckDigit) {
  absl::Status s = ValidateNorwegianNationalId("15076500566");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "check digit is wrong");
}

TEST(NorwegianNationalIdTest, RejectsWrongFirstCheckDigit) {
  EXPECT_EQ(ValidateNorwegianNationalId("15076500555").message(), "check digit is wrong");
}

TEST(NorwegianNationalIdTest, RejectsNumberWhoseFirstCheckDigitWouldBeTen) {
  // The weighted sum of 010101003 leaves remainder 1: no digit can be the check digit.
  for (char k1 = '0'; k1 <= '9'; ++k1) {
    std::string id = std::string("010101003") + k1 + "0";
    EXPECT_EQ(ValidateNorwegianNationalId(id).message(), "check digit is wrong") << id;
  }
}

TEST(NorwegianNationalIdTest, RejectsEverySingleDigitChange) {
  ExpectEverySingleDigitChangeRejected(
      "15076500565", [](std::string_view id) { return ValidateNorwegianNationalId(id); });
}

TEST(NorwegianNationalIdTest, RejectsWrongLengthOrNonDigits) {
  for (std::string_view id : {"", "1507650056", "150765005650", "1507650056a", " 15076500565",
                              "15076500565 ", "150765-00565", "１５076500565"}) {
    absl::Status s = ValidateNorwegianNationalId(id);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(s.message(), "must be 11 digits") << id;
  }
}

TEST(NorwegianNationalIdTest, DateValidity) {
  struct Case {
    std::string_view id;
    bool valid;
    std::string_view why;
  };
  // All have correct check digits; only the date decides.
  const Case cases[] = {
      {"31120123427", true, "31 December"},
      {"31040123469", false, "31 April"},
      {"32010123428", false, "day 32"},
      {"00120123475", false, "day 0"},
      {"01130123585", false, "month 13"},
      {"29029612410", true, "29 February 1996 (leap year)"},
      {"29029712350", false, "29 February 1997"},
      {"29020050088", true, "29 February 2000: individual 500-999 with year 00-39"},
      {"29020090039", true, "29 February 2000: individual 900-999 with year 00-39"},
      {"29020049942", false, "29 February 1900: individual 000-499, 1900 is no leap year"},
      {"29020000064", false, "29 February 1900: individual 000"},
      {"45070123456", true, "D-number, 5 July"},
      {"71010123482", true, "D-number, 31 January"},
      {"72010123411", false, "D-number, day 32"},
      {"40010123420", false, "D-number, day 0"},
      {"69029612323", true, "D-number, 29 February 1996"},
      {"69029712344", false, "D-number, 29 February 1997"},
      {"15470123416", true, "H-number, month + 40"},
      {"01530123487", false, "H-number, month 13"},
      {"45870123411", true, "synthetic D-number, month + 80"},
      {"15970123447", false, "synthetic, month 17"},
      {"15570123464", false, "month 57"},
  };
  for (const Case& c : cases) {
    absl::Status s = ValidateNorwegianNationalId(c.id);
    if (c.valid) {
      EXPECT_TRUE(s.ok()) << c.id << " (" << c.why << "): " << s;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.id << " (" << c.why << ")";
      EXPECT_THAT(s.message(), HasSubstr("not a valid date")) << c.id << " (" << c.why << ")";
    }
  }
}

// ---- Norwegian organisation number ----

TEST(NorwegianOrgNumberTest, AcceptsMunicipalities) {
  EXPECT_TRUE(ValidateNorwegianOrgNumber("958935420").ok());  // Oslo kommune
  EXPECT_TRUE(ValidateNorwegianOrgNumber("964338531").ok());  // Bergen kommune
}

TEST(NorwegianOrgNumberTest, RejectsWrongCheckDigit) {
  absl::Status s = ValidateNorwegianOrgNumber("958935421");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "check digit is wrong");
}

TEST(NorwegianOrgNumberTest, RejectsNumberWhoseCheckDigitWouldBeTen) {
  // 9xxxxxxx prefixes whose weighted sum leaves remainder 1 would need the check digit 10,
  // so no ninth digit makes them valid.
  static constexpr int kWeights[] = {3, 2, 7, 6, 5, 4, 3, 2};
  int found = 0;
  for (int n = 90000000; n < 90001000; ++n) {
    const std::string prefix = std::to_string(n);
    int sum = 0;
    for (int i = 0; i < 8; ++i) sum += (prefix[i] - '0') * kWeights[i];
    if (sum % 11 != 1) continue;
    ++found;
    for (char k = '0'; k <= '9'; ++k) {
      EXPECT_EQ(ValidateNorwegianOrgNumber(prefix + k).message(), "check digit is wrong")
          << prefix + k;
    }
  }
  EXPECT_GT(found, 10);
}

TEST(NorwegianOrgNumberTest, RejectsEverySingleDigitChange) {
  ExpectEverySingleDigitChangeRejected(
      "964338531", [](std::string_view id) { return ValidateNorwegianOrgNumber(id); });
}

TEST(NorwegianOrgNumberTest, RejectsNumbersNotStartingWithEightOrNine) {
  // 000000000 has weighted sum 0 and so passes the mod-11 rule alone.
  for (std::string_view id : {"000000000", "123456785", "700000000"}) {
    EXPECT_EQ(ValidateNorwegianOrgNumber(id).message(), "must start with 8 or 9") << id;
  }
  EXPECT_FALSE(MakeOrgKey(IdKind::kNorwegianOrgNumber, "000000000").ok());
}

TEST(NorwegianOrgNumberTest, RejectsWrongLengthOrNonDigits) {
  for (std::string_view id : {"", "95893542", "9589354200", "95893542O", "958 935 420"}) {
    EXPECT_EQ(ValidateNorwegianOrgNumber(id).message(), "must be 9 digits") << id;
  }
}

// ---- Danish CPR ----

TEST(DanishCprTest, AcceptsRealDatesWithAndWithoutModulo11) {
  EXPECT_TRUE(ValidateDanishCpr("0707614285").ok());  // satisfies mod 11
  EXPECT_TRUE(ValidateDanishCpr("0707614286").ok());  // does not; issued since 2007
  EXPECT_TRUE(ValidateDanishCpr("3112991234").ok());
}

TEST(DanishCprTest, RejectsInvalidDates) {
  for (std::string_view id :
       {"3204801234", "0013801234", "0000801234", "3104801234", "2902971234", "3102001234"}) {
    absl::Status s = ValidateDanishCpr(id);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_THAT(s.message(), HasSubstr("not a valid date")) << id;
  }
}

TEST(DanishCprTest, LeapDayUsesTheCenturyFromTheSerialNumber) {
  EXPECT_TRUE(ValidateDanishCpr("2902961234").ok());  // 1996
  // Year 00: serial 0xxx-3xxx means 1900 (no leap year), 4xxx-9xxx means 2000.
  EXPECT_FALSE(ValidateDanishCpr("2902000234").ok());
  EXPECT_FALSE(ValidateDanishCpr("2902003234").ok());
  EXPECT_TRUE(ValidateDanishCpr("2902004234").ok());
  EXPECT_TRUE(ValidateDanishCpr("2902005234").ok());
  EXPECT_TRUE(ValidateDanishCpr("2902009234").ok());
}

TEST(DanishCprTest, RejectsWrongLengthOrNonDigits) {
  for (std::string_view id : {"", "070761428", "07076142850", "070761-4285", "07076l4285"}) {
    EXPECT_EQ(ValidateDanishCpr(id).message(), "must be 10 digits") << id;
  }
}

// ---- Danish CVR ----

TEST(DanishCvrTest, AcceptsValidNumbers) {
  // 2*2+9*7+1*6+8*5+9*4+8*3+4*2+6*1 = 187 = 17*11
  EXPECT_TRUE(ValidateDanishCvr("29189846").ok());
  // 2*2+5*7+0*6+5*5+2*4+9*3+4*2+3*1 = 110 = 10*11
  EXPECT_TRUE(ValidateDanishCvr("25052943").ok());
}

TEST(DanishCvrTest, RejectsWrongChecksum) {
  absl::Status s = ValidateDanishCvr("29189847");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "check digit is wrong");
}

TEST(DanishCvrTest, RejectsEverySingleDigitChange) {
  ExpectEverySingleDigitChangeRejected("25052943",
                                       [](std::string_view id) { return ValidateDanishCvr(id); });
}

TEST(DanishCvrTest, RejectsNumbersStartingWithZero) {
  for (std::string_view id : {"00000000", "01234567"}) {
    EXPECT_EQ(ValidateDanishCvr(id).message(), "must not start with 0") << id;
  }
  EXPECT_FALSE(ParseIdentifier("00000000").ok());
}

TEST(DanishCvrTest, RejectsWrongLengthOrNonDigits) {
  for (std::string_view id : {"", "2918984", "291898460", "2918984x", "DK29189846"}) {
    EXPECT_EQ(ValidateDanishCvr(id).message(), "must be 8 digits") << id;
  }
}

// ---- ParseIdentifier ----

TEST(ParseIdentifierTest, TellsKindsApartByLength) {
  struct Case {
    std::string_view text;
    IdKind kind;
    std::string_view digits;
  };
  const Case cases[] = {
      {"15076500565", IdKind::kNorwegianNationalId, "15076500565"},
      {"958935420", IdKind::kNorwegianOrgNumber, "958935420"},
      {"0707614285", IdKind::kDanishCpr, "0707614285"},
      {"070761-4285", IdKind::kDanishCpr, "0707614285"},
      {"29189846", IdKind::kDanishCvr, "29189846"},
      {"  964338531\n", IdKind::kNorwegianOrgNumber, "964338531"},
      {"\t070761-4285 ", IdKind::kDanishCpr, "0707614285"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ParsedId> parsed = ParseIdentifier(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.status();
    EXPECT_EQ(parsed->kind, c.kind) << c.text;
    EXPECT_EQ(parsed->digits, c.digits) << c.text;
  }
}

TEST(ParseIdentifierTest, RejectsInvalidNumbersOfEachKind) {
  EXPECT_EQ(ParseIdentifier("15076500566").status().message(), "check digit is wrong");
  EXPECT_EQ(ParseIdentifier("958935421").status().message(), "check digit is wrong");
  EXPECT_THAT(ParseIdentifier("320761-4285").status().message(), HasSubstr("not a valid date"));
  EXPECT_EQ(ParseIdentifier("29189847").status().message(), "check digit is wrong");
}

TEST(ParseIdentifierTest, RejectsOtherShapes) {
  for (std::string_view text : {"", "   ", "1234567", "123456789012", "9589-35420", "0707-614285",
                                "070761--4285", "NO958935420", "958 935 420"}) {
    absl::StatusOr<ParsedId> parsed = ParseIdentifier(text);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

// ---- Org keys ----

TEST(OrgKeyTest, MakesKeysForOrganisations) {
  absl::StatusOr<std::string> no = MakeOrgKey(IdKind::kNorwegianOrgNumber, "958935420");
  ASSERT_TRUE(no.ok()) << no.status();
  EXPECT_EQ(*no, "NO958935420");
  absl::StatusOr<std::string> dk = MakeOrgKey(IdKind::kDanishCvr, "29189846");
  ASSERT_TRUE(dk.ok()) << dk.status();
  EXPECT_EQ(*dk, "DK29189846");
}

TEST(OrgKeyTest, RejectsInvalidNumbersAndPersonKinds) {
  EXPECT_EQ(MakeOrgKey(IdKind::kNorwegianOrgNumber, "958935421").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeOrgKey(IdKind::kDanishCvr, "29189847").status().code(),
            absl::StatusCode::kInvalidArgument);
  // A valid CVR is not a valid Norwegian org number (wrong length) and vice versa.
  EXPECT_FALSE(MakeOrgKey(IdKind::kNorwegianOrgNumber, "29189846").ok());
  EXPECT_FALSE(MakeOrgKey(IdKind::kDanishCvr, "958935420").ok());
  EXPECT_EQ(MakeOrgKey(IdKind::kNorwegianNationalId, "15076500565").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeOrgKey(IdKind::kDanishCpr, "0707614285").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OrgKeyTest, IsValidOrgKey) {
  EXPECT_TRUE(IsValidOrgKey("NO958935420"));
  EXPECT_TRUE(IsValidOrgKey("NO964338531"));
  EXPECT_TRUE(IsValidOrgKey("DK29189846"));
  EXPECT_TRUE(IsValidOrgKey("DK25052943"));
  for (std::string_view key : {"", "N", "NO", "DK", "NO958935421", "DK29189847", "no958935420",
                               "dk29189846", "DK958935420", "NO29189846", "SE958935420",
                               "958935420", "NO 958935420", "NO9589354200", "NO15076500565"}) {
    EXPECT_FALSE(IsValidOrgKey(key)) << key;
  }
}

TEST(OrgKeyTest, MadeKeysAreValid) {
  for (auto [kind, digits] : {std::pair{IdKind::kNorwegianOrgNumber, "958935420"},
                              std::pair{IdKind::kDanishCvr, "25052943"}}) {
    absl::StatusOr<std::string> key = MakeOrgKey(kind, digits);
    ASSERT_TRUE(key.ok());
    EXPECT_TRUE(IsValidOrgKey(*key)) << *key;
  }
}

}  // namespace
}  // namespace utpost::common
