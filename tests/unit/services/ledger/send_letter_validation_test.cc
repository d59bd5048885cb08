#include "services/ledger/send_letter_validation.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/field_violations.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testutil/pdfs.h"

namespace utpost::ledger {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::string_view kPdf = "%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n";

v1::SendLetterRequest ValidRequest() {
  v1::SendLetterRequest r;
  r.mutable_recipient()->mutable_person()->set_norwegian_national_id("15076500565");
  r.set_title("Vedtak i byggesak 2026/123");
  v1::Document* letter = r.add_documents();
  letter->set_filename("vedtak.pdf");
  letter->set_media_type("application/pdf");
  letter->set_content(std::string(kPdf));
  v1::Document* attachment = r.add_documents();
  attachment->set_filename("vedlegg.txt");
  attachment->set_media_type("text/plain");
  attachment->set_content("Se vedlagt tegning.");
  r.set_external_reference("2026/123-4");
  r.set_idempotency_key("byggesak-2026-123-4");
  return r;
}

v1::PostalAddress ValidAddress() {
  v1::PostalAddress a;
  a.set_name("Kari Nordmann");
  a.add_address_lines("Storgata 1");
  a.set_postal_code("0155");
  a.set_city("OSLO");
  a.set_country_code("NO");
  return a;
}

// (field, description) of every violation, in order; empty if the status carries none.
std::vector<std::pair<std::string, std::string>> Violations(const absl::Status& status) {
  std::vector<std::pair<std::string, std::string>> out;
  std::optional<google::rpc::BadRequest> bad_request = common::GetBadRequest(status);
  if (!bad_request) return out;
  for (const auto& v : bad_request->field_violations())
    out.emplace_back(v.field(), v.description());
  return out;
}

std::vector<std::string> Fields(const absl::Status& status) {
  std::vector<std::string> fields;
  for (auto& [field, description] : Violations(status)) fields.push_back(field);
  return fields;
}

const absl::Time kNow = absl::FromUnixSeconds(1'790'000'000);

absl::Status Validate(const v1::SendLetterRequest& r, const LetterLimits& limits = {}) {
  return ValidateSendLetter(r, limits, kNow);
}

// Expects OK.
void ExpectValid(const v1::SendLetterRequest& r, const LetterLimits& limits = {}) {
  absl::Status s = Validate(r, limits);
  EXPECT_TRUE(s.ok()) << s;
}

// Expects INVALID_ARGUMENT naming exactly `field` once, with a description containing
// `description_part`.
void ExpectOnly(const v1::SendLetterRequest& r, std::string_view field,
                std::string_view description_part = "", const LetterLimits& limits = {}) {
  absl::Status s = Validate(r, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  auto violations = Violations(s);
  ASSERT_EQ(violations.size(), 1u) << s;
  EXPECT_EQ(violations[0].first, field) << s;
  EXPECT_THAT(violations[0].second, HasSubstr(std::string(description_part))) << s;
}

TEST(SendLetterValidationTest, ValidRequestIsOk) { ExpectValid(ValidRequest()); }

TEST(SendLetterValidationTest, MinimalRequestIsOk) {
  v1::SendLetterRequest r;
  r.mutable_recipient()->mutable_organisation()->set_danish_cvr("29189846");
  r.set_title("x");
  v1::Document* d = r.add_documents();
  d->set_filename("a");
  d->set_media_type("text/plain");
  d->set_content("b");
  ExpectValid(r);
}

// ---- recipient ----

TEST(RecipientTest, Required) {
  v1::SendLetterRequest r = ValidRequest();
  r.clear_recipient();
  ExpectOnly(r, "recipient", "is required");
}

TEST(RecipientTest, MustNameAPersonOrOrganisation) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_recipient()->Clear();
  ExpectOnly(r, "recipient", "person or an organisation");
}

TEST(RecipientTest, NorwegianNationalId) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_recipient()->mutable_person()->set_norwegian_national_id("15076500565");
  ExpectValid(r);
  r.mutable_recipient()->mutable_person()->set_norwegian_national_id("15076500566");
  ExpectOnly(r, "recipient.person.norwegian_national_id", "check digit is wrong");
  r.mutable_recipient()->mutable_person()->set_norwegian_national_id("1507650056");
  ExpectOnly(r, "recipient.person.norwegian_national_id", "must be 11 digits");
}

TEST(RecipientTest, DanishCpr) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_recipient()->mutable_person()->set_danish_cpr("0707614285");
  ExpectValid(r);
  r.mutable_recipient()->mutable_person()->set_danish_cpr("3202614285");
  ExpectOnly(r, "recipient.person.danish_cpr", "not a valid date");
  r.mutable_recipient()->mutable_person()->set_danish_cpr("070761-4285");
  ExpectOnly(r, "recipient.person.danish_cpr", "must be 10 digits");
}

TEST(RecipientTest, PersonWithoutId) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_recipient()->mutable_person()->Clear();
  ExpectOnly(r, "recipient.person");
}

TEST(RecipientTest, NorwegianOrgNumber) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_recipient()->mutable_organisation()->set_norwegian_org_number("964338531");
  ExpectValid(r);
  r.mutable_recipient()->mutable_organisation()->set_norwegian_org_number("964338532");
  ExpectOnly(r, "recipient.organisation.norwegian_org_number", "check digit is wrong");
}

TEST(RecipientTest, DanishCvr) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_recipient()->mutable_organisation()->set_danish_cvr("25052943");
  ExpectValid(r);
  r.mutable_recipient()->mutable_organisation()->set_danish_cvr("25052944");
  ExpectOnly(r, "recipient.organisation.danish_cvr", "check digit is wrong");
}

TEST(RecipientTest, OrganisationWithoutId) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_recipient()->mutable_organisation()->Clear();
  ExpectOnly(r, "recipient.organisation");
}

// ---- title ----

TEST(TitleTest, MustNotBeEmpty) {
  v1::SendLetterRequest r = ValidRequest();
  r.set_title("");
  ExpectOnly(r, "title", "must not be empty");
}

TEST(TitleTest, LengthCountsCodePointsNotBytes) {
  v1::SendLetterRequest r = ValidRequest();
  std::string title;
  for (int i = 0; i < 1000; ++i) title += "\xc3\xb8";  // ø: 2 bytes, 1 character
  r.set_title(title);
  ExpectValid(r);
  r.set_title(title + "a");
  ExpectOnly(r, "title", "at most 1000 characters");
}

TEST(TitleTest, NoInvisibleFormattingOrSlashLookalikes) {
  v1::SendLetterRequest r = ValidRequest();
  r.set_title("Vedtak \u202eetatsforslag");
  ExpectOnly(r, "title", "invisible formatting");
  r.set_title("Vedtak 2026\u2215123");
  ExpectOnly(r, "title", "look like a slash");
  r.set_title("Vedtak 2026/123 \u2013 byggesak");  // an en dash is ordinary text
  ExpectValid(r);
}

TEST(TitleTest, LimitIsConfigurable) {
  v1::SendLetterRequest r = ValidRequest();
  LetterLimits limits;
  limits.max_title_chars = 5;
  r.set_title("\xf0\x9f\x93\xa8 Brev");  // 📨 + " Brev": 6 characters
  ExpectOnly(r, "title", "at most 5 characters", limits);
  r.set_title("Brev!");
  ExpectValid(r, limits);
}

TEST(TitleTest, NordicAndOtherScriptsAreFine) {
  v1::SendLetterRequest r = ValidRequest();
  r.set_title("Søknad om skjenkebevilling – Ærøskøbing, Åre 📨 Čas");
  ExpectValid(r);
}

TEST(TitleTest, MustBeValidUtf8) {
  for (std::string_view bad : {
           std::string_view("\xff"),
           std::string_view("abc\xc3"),           // truncated sequence
           std::string_view("\xc0\xaf"),          // overlong '/'
           std::string_view("\xe0\x80\xaf"),      // overlong '/'
           std::string_view("\xed\xa0\x80"),      // UTF-16 surrogate
           std::string_view("\xf4\x90\x80\x80"),  // above U+10FFFF
           std::string_view("\x80"),              // lone continuation byte
       }) {
    v1::SendLetterRequest r = ValidRequest();
    r.set_title(std::string(bad));
    ExpectOnly(r, "title", "valid UTF-8");
  }
}

TEST(TitleTest, NoControlCharacters) {
  for (std::string_view bad : {std::string_view("a\nb"), std::string_view("a\tb"),
                               std::string_view("a\rb"), std::string_view("a\x7f"),
                               std::string_view("a\xc2\x85"),  // U+0085 NEXT LINE
                               std::string_view("a\0b", 3)}) {
    v1::SendLetterRequest r = ValidRequest();
    r.set_title(std::string(bad));
    ExpectOnly(r, "title", "control characters");
  }
}

// ---- documents ----

TEST(DocumentsTest, AtLeastOne) {
  v1::SendLetterRequest r = ValidRequest();
  r.clear_documents();
  ExpectOnly(r, "documents", "at least 1");
}

TEST(DocumentsTest, AtMostMaxDocuments) {
  LetterLimits limits;
  limits.max_documents = 3;
  v1::SendLetterRequest r = ValidRequest();
  v1::Document* d = r.add_documents();
  d->set_filename("3.txt");
  d->set_media_type("text/plain");
  d->set_content("3");
  ExpectValid(r, limits);
  d = r.add_documents();
  d->set_filename("4.txt");
  d->set_media_type("text/plain");
  d->set_content("4");
  ExpectOnly(r, "documents", "at most 3 documents (has 4)", limits);
}

TEST(DocumentsTest, DefaultLimitIsOneHundred) {
  v1::SendLetterRequest r = ValidRequest();
  r.clear_documents();
  for (int i = 0; i < 100; ++i) {
    v1::Document* d = r.add_documents();
    d->set_filename(std::to_string(i) + ".txt");
    d->set_media_type("text/plain");
    d->set_content("x");
  }
  ExpectValid(r);
  v1::Document* d = r.add_documents();
  d->set_filename("100.txt");
  d->set_media_type("text/plain");
  d->set_content("x");
  ExpectOnly(r, "documents", "at most 100");
}

TEST(DocumentsTest, TooManyDocumentsAreRefusedWithoutInspectingEach) {
  v1::SendLetterRequest r = ValidRequest();
  r.clear_documents();
  // Empty documents with empty names would each be a violation or three.
  for (int i = 0; i < 100'000; ++i) r.add_documents();
  EXPECT_THAT(Violations(ValidateSendLetter(r, LetterLimits{}, kNow)),
              ElementsAre(std::pair<std::string, std::string>(
                  "documents", "must have at most 100 documents (has 100000)")));
}

TEST(DocumentsTest, TotalSizeLimit) {
  LetterLimits limits;
  limits.max_total_bytes = kPdf.size() + 19;  // the two documents of ValidRequest()
  v1::SendLetterRequest r = ValidRequest();
  ASSERT_EQ(r.documents(1).content().size(), 19u);
  ExpectValid(r, limits);
  r.mutable_documents(1)->mutable_content()->push_back('!');
  const std::string total = std::to_string(kPdf.size() + 20);
  const std::string limit = std::to_string(limits.max_total_bytes);
  ExpectOnly(r, "documents", total + " bytes exceeds the limit of " + limit + " bytes", limits);
}

TEST(FilenameTest, MustNotBeEmpty) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_documents(1)->set_filename("");
  ExpectOnly(r, "documents[1].filename", "must not be empty");
}

TEST(FilenameTest, AtMost255Bytes) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_documents(1)->set_filename(std::string(251, 'a') + ".txt");
  ExpectValid(r);
  r.mutable_documents(1)->set_filename(std::string(252, 'a') + ".txt");
  ExpectOnly(r, "documents[1].filename", "at most 255 bytes");
  // Bytes, not characters: 128 two-byte characters are 256 bytes.
  std::string nordic;
  for (int i = 0; i < 128; ++i) nordic += "\xc3\xa5";  // å
  r.mutable_documents(1)->set_filename(nordic);
  ExpectOnly(r, "documents[1].filename", "at most 255 bytes");
  nordic.resize(254);
  r.mutable_documents(1)->set_filename(nordic);
  ExpectValid(r);
}

TEST(FilenameTest, NoForbiddenCharacters) {
  for (char c : std::string_view("/\\:*?\"<>|")) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_documents(0)->set_filename(std::string("ved") + c + "tak.pdf");
    ExpectOnly(r, "documents[0].filename", "must not contain any of");
  }
}

TEST(FilenameTest, NoControlCharacters) {
  for (std::string_view bad :
       {std::string_view("a\nb.pdf"), std::string_view("a\x1f.pdf"), std::string_view("a\x7f"),
        std::string_view("a\0.pdf", 6), std::string_view("a\xc2\x9b.pdf")}) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_documents(0)->set_filename(std::string(bad));
    ExpectOnly(r, "documents[0].filename", "control characters");
  }
}

TEST(FilenameTest, ByteLengthIsCheckedBeforeAnythingElse) {
  v1::SendLetterRequest r = ValidRequest();
  // Invalid UTF-8 and a duplicate name, but too long first: one violation, nothing folded.
  r.mutable_documents(0)->set_filename(std::string(1 << 20, '\xff'));
  r.mutable_documents(1)->set_filename(std::string(1 << 20, '\xff'));
  EXPECT_THAT(Fields(ValidateSendLetter(r, LetterLimits{}, kNow)),
              ElementsAre("documents[0].filename", "documents[1].filename"));
}

TEST(FilenameTest, NoInvisibleFormattingOrSlashLookalikes) {
  for (std::string_view bad : {
           "fdp\u202e.exe",       // right-to-left override
           "a\u200bb.pdf",        // zero-width space
           "a\u2066b\u2069.pdf",  // isolate
           "a\u2028b.pdf",        // line separator
           "a\ufeffb.pdf",        // zero-width no-break space
       }) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_documents(0)->set_filename(std::string(bad));
    ExpectOnly(r, "documents[0].filename", "invisible formatting");
  }
  for (std::string_view bad : {"..\u2215etc\u2215passwd", "a\uff0fb.pdf"}) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_documents(0)->set_filename(std::string(bad));
    ExpectOnly(r, "documents[0].filename", "look like a slash");
  }
}

TEST(FilenameTest, MustBeValidUtf8) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_documents(0)->set_filename("vedtak\xff.pdf");
  ExpectOnly(r, "documents[0].filename", "valid UTF-8");
}

TEST(FilenameTest, NotDotOrDotDot) {
  for (std::string_view bad : {".", ".."}) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_documents(0)->set_filename(std::string(bad));
    ExpectOnly(r, "documents[0].filename", "must not be");
  }
  for (std::string_view good : {"...", ".profile", "a.", "..a", "Søknad – Ærø.pdf"}) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_documents(0)->set_filename(std::string(good));
    ExpectValid(r);
  }
}

TEST(FilenameTest, UniqueIgnoringCaseAndTheDuplicateIsNamed) {
  v1::SendLetterRequest r = ValidRequest();
  v1::Document* d = r.add_documents();
  d->set_filename("VEDTAK.PDF");
  d->set_media_type("application/pdf");
  d->set_content(std::string(kPdf));
  ExpectOnly(r, "documents[2].filename", "documents[0].filename");

  d->set_filename("vedtak (2).pdf");
  ExpectValid(r);
}

TEST(FilenameTest, UniqueIgnoringCaseOfNordicLetters) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_documents(0)->set_filename("\xc3\x86\xc3\x98\xc3\x85.pdf");  // ÆØÅ.pdf
  r.mutable_documents(1)->set_filename("\xc3\xa6\xc3\xb8\xc3\xa5.pdf");  // æøå.pdf
  ExpectOnly(r, "documents[1].filename", "unique");
}

TEST(FilenameTest, EveryDuplicateIsNamed) {
  v1::SendLetterRequest r = ValidRequest();
  for (int i = 0; i < 2; ++i) {
    v1::Document* d = r.add_documents();
    d->set_filename("Vedlegg.txt");
    d->set_media_type("text/plain");
    d->set_content("x");
  }
  EXPECT_THAT(Fields(Validate(r)), ElementsAre("documents[2].filename", "documents[3].filename"));
}

TEST(MediaTypeTest, Valid) {
  for (std::string_view good :
       {"text/plain", "image/png", "image/svg+xml", "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/x-www-form-urlencoded", "video/mp4", "audio/3gpp"}) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_documents(1)->set_media_type(std::string(good));
    ExpectValid(r);
  }
}

TEST(MediaTypeTest, MustNotBeEmpty) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_documents(1)->set_media_type("");
  ExpectOnly(r, "documents[1].media_type", "must not be empty");
}

TEST(MediaTypeTest, MustBeLowerCaseTypeSlashSubtype) {
  for (std::string_view bad : {"text", "text/", "/plain", "Text/Plain", "text/plain; charset=utf-8",
                               "text/plain/x", " text/plain", "text/plain ", "text//plain",
                               "text/.plain", "-text/plain", "tekst/æ", "text/pla_in"}) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_documents(1)->set_media_type(std::string(bad));
    ExpectOnly(r, "documents[1].media_type", "type/subtype");
  }
}

TEST(ContentTest, MustNotBeEmpty) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_documents(1)->clear_content();
  ExpectOnly(r, "documents[1].content", "must not be empty");
  r = ValidRequest();
  r.mutable_documents(0)->clear_content();
  ExpectOnly(r, "documents[0].content", "must not be empty");
}

TEST(ContentTest, PdfMustStartWithPdfHeader) {
  for (std::string_view bad :
       {"PDF-1.7", "%PDF", " %PDF-1.7", "%pdf-1.7", "\xef\xbb\xbf%PDF-1.7"}) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_documents(0)->set_content(std::string(bad));
    ExpectOnly(r, "documents[0].content", "%PDF-");
  }
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_documents(0)->set_content("%PDF-");
  ExpectValid(r);
}

TEST(ContentTest, OtherTypesAreNotInspected) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_documents(1)->set_content(std::string("\0\xff\xfe binary", 10));
  ExpectValid(r);
}

// ---- postal address ----

TEST(PostalAddressTest, OptionalAndValid) {
  v1::SendLetterRequest r = ValidRequest();
  ExpectValid(r);
  *r.mutable_postal_address() = ValidAddress();
  ExpectValid(r);
}

TEST(PostalAddressTest, EmptyAddressNamesEveryRequiredField) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_postal_address();
  EXPECT_THAT(Fields(Validate(r)),
              ElementsAre("postal_address.name", "postal_address.address_lines",
                          "postal_address.postal_code", "postal_address.city",
                          "postal_address.country_code"));
}

TEST(PostalAddressTest, Name) {
  v1::SendLetterRequest r = ValidRequest();
  *r.mutable_postal_address() = ValidAddress();
  r.mutable_postal_address()->set_name(std::string(200, 'n'));
  ExpectValid(r);
  r.mutable_postal_address()->set_name(std::string(201, 'n'));
  ExpectOnly(r, "postal_address.name", "at most 200");
  r.mutable_postal_address()->set_name("");
  ExpectOnly(r, "postal_address.name", "must not be empty");
  r.mutable_postal_address()->set_name("Kari\nNordmann");
  ExpectOnly(r, "postal_address.name", "control characters");
}

TEST(PostalAddressTest, AddressLineCount) {
  v1::SendLetterRequest r = ValidRequest();
  *r.mutable_postal_address() = ValidAddress();
  for (int i = 2; i <= 4; ++i) r.mutable_postal_address()->add_address_lines("Line");
  ExpectValid(r);
  r.mutable_postal_address()->add_address_lines("Line 5");
  ExpectOnly(r, "postal_address.address_lines", "1 to 4 lines (has 5)");
  r.mutable_postal_address()->clear_address_lines();
  ExpectOnly(r, "postal_address.address_lines", "1 to 4 lines (has 0)");
}

TEST(PostalAddressTest, AddressLineLength) {
  v1::SendLetterRequest r = ValidRequest();
  *r.mutable_postal_address() = ValidAddress();
  r.mutable_postal_address()->add_address_lines(std::string(200, 'x'));
  ExpectValid(r);
  r.mutable_postal_address()->add_address_lines("");
  ExpectOnly(r, "postal_address.address_lines[2]", "must not be empty");
  r.mutable_postal_address()->set_address_lines(2, std::string(201, 'x'));
  ExpectOnly(r, "postal_address.address_lines[2]", "at most 200");
  r.mutable_postal_address()->set_address_lines(0, "c/o\tHansen");
  EXPECT_THAT(Fields(Validate(r)),
              ElementsAre("postal_address.address_lines[0]", "postal_address.address_lines[2]"));
}

TEST(PostalAddressTest, City) {
  v1::SendLetterRequest r = ValidRequest();
  *r.mutable_postal_address() = ValidAddress();
  r.mutable_postal_address()->set_city(std::string(100, 'c'));
  ExpectValid(r);
  r.mutable_postal_address()->set_city(std::string(101, 'c'));
  ExpectOnly(r, "postal_address.city", "at most 100");
  r.mutable_postal_address()->set_city("");
  ExpectOnly(r, "postal_address.city", "must not be empty");
}

TEST(PostalAddressTest, CountryCode) {
  for (std::string_view good : {"NO", "DK", "SE", "FI", "IS", "DE"}) {
    v1::SendLetterRequest r = ValidRequest();
    *r.mutable_postal_address() = ValidAddress();
    r.mutable_postal_address()->set_country_code(std::string(good));
    if (good == "DK") r.mutable_postal_address()->set_postal_code("8000");
    if (good == "SE") r.mutable_postal_address()->set_postal_code("11122");
    ExpectValid(r);
  }
  for (std::string_view bad : {"", "no", "No", "N", "NOR", "N1", " NO", "\xc3\x86\xc3\x98"}) {
    v1::SendLetterRequest r = ValidRequest();
    *r.mutable_postal_address() = ValidAddress();
    r.mutable_postal_address()->set_country_code(std::string(bad));
    // "0155" also passes the generic postal code rule used when the country is unknown.
    ExpectOnly(r, "postal_address.country_code", "two upper-case letters");
  }
}

struct PostalCodeCase {
  std::string_view country;
  std::string_view code;
  bool valid;
};

TEST(PostalAddressTest, PostalCodeByCountry) {
  const PostalCodeCase cases[] = {
      {"NO", "0155", true},
      {"NO", "9990", true},
      {"NO", "155", false},
      {"NO", "01550", false},
      {"NO", "O155", false},
      {"NO", "", false},
      {"NO", " 0155", false},
      {"DK", "8000", true},
      {"DK", "DK-8000", false},
      {"DK", "80000", false},
      {"SE", "11122", true},
      {"SE", "111 22", true},
      {"SE", "1112", false},
      {"SE", "111-22", false},
      {"SE", "11 122", false},
      {"SE", "111  22", false},
      {"SE", "111222", false},
      {"GB", "SW1A 1AA", true},
      {"FI", "00100", true},
      {"US", "12345-6789", true},
      {"DE", "1234567890123456", true},
      {"DE", "12345678901234567", false},
      {"DE", "", false},
      {"DE", "1\n2", false},
  };
  for (const PostalCodeCase& c : cases) {
    v1::SendLetterRequest r = ValidRequest();
    *r.mutable_postal_address() = ValidAddress();
    r.mutable_postal_address()->set_country_code(std::string(c.country));
    r.mutable_postal_address()->set_postal_code(std::string(c.code));
    absl::Status s = Validate(r);
    if (c.valid) {
      EXPECT_TRUE(s.ok()) << c.country << " " << c.code << ": " << s;
    } else {
      EXPECT_THAT(Fields(s), ElementsAre("postal_address.postal_code"))
          << c.country << " " << c.code << ": " << s;
    }
  }
}

// ---- options ----

TEST(OptionsTest, KnownChannelPolicies) {
  for (v1::ChannelPolicy p :
       {v1::CHANNEL_POLICY_UNSPECIFIED, v1::CHANNEL_POLICY_AUTO, v1::CHANNEL_POLICY_DIGITAL_ONLY}) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_options()->set_channel_policy(p);
    ExpectValid(r);
  }
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_options()->set_channel_policy(static_cast<v1::ChannelPolicy>(42));
  ExpectOnly(r, "options.channel_policy", "unknown value 42");
}

TEST(OptionsTest, KnownSecurityLevels) {
  for (v1::SecurityLevel l :
       {v1::SECURITY_LEVEL_UNSPECIFIED, v1::SECURITY_LEVEL_SUBSTANTIAL, v1::SECURITY_LEVEL_HIGH}) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_options()->set_security_level(l);
    ExpectValid(r);
  }
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_options()->set_security_level(static_cast<v1::SecurityLevel>(3));
  ExpectOnly(r, "options.security_level", "unknown value 3");
  r.mutable_options()->set_security_level(static_cast<v1::SecurityLevel>(-1));
  ExpectOnly(r, "options.security_level", "unknown value -1");
}

TEST(OptionsTest, PrintFlagsNeedNothing) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_options()->set_print_colour(true);
  r.mutable_options()->set_print_duplex(true);
  ExpectValid(r);
}

void SetPrintIfUnreadAfter(v1::SendLetterRequest& r, int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Duration* d = r.mutable_options()->mutable_print_if_unread_after();
  d->set_seconds(seconds);
  d->set_nanos(nanos);
}

TEST(PrintIfUnreadAfterTest, RangeOneHourToNinetyDays) {
  constexpr int64_t kHour = 3600;
  constexpr int64_t kNinetyDays = 90 * 24 * kHour;
  for (auto [seconds, nanos] :
       {std::pair<int64_t, int32_t>{kHour, 0}, {kHour, 1}, {7 * 24 * kHour, 0}, {kNinetyDays, 0}}) {
    v1::SendLetterRequest r = ValidRequest();
    SetPrintIfUnreadAfter(r, seconds, nanos);
    ExpectValid(r);
  }
  for (auto [seconds, nanos] : {std::pair<int64_t, int32_t>{0, 0},
                                {kHour - 1, 999'999'999},
                                {kNinetyDays, 1},
                                {kNinetyDays + 1, 0},
                                {-kHour, 0},
                                {315'576'000'000, 0}}) {
    v1::SendLetterRequest r = ValidRequest();
    SetPrintIfUnreadAfter(r, seconds, nanos);
    ExpectOnly(r, "options.print_if_unread_after", "between 1 hour and 90 days");
  }
}

TEST(PrintIfUnreadAfterTest, MalformedDuration) {
  for (auto [seconds, nanos] : {std::pair<int64_t, int32_t>{7200, -1},
                                {-7200, 1},
                                {7200, 1'000'000'000},
                                {7200, -1'000'000'000}}) {
    v1::SendLetterRequest r = ValidRequest();
    SetPrintIfUnreadAfter(r, seconds, nanos);
    ExpectOnly(r, "options.print_if_unread_after", "not a valid duration");
  }
}

TEST(PrintIfUnreadAfterTest, AllowedOnlyWithAuto) {
  for (v1::ChannelPolicy p : {v1::CHANNEL_POLICY_UNSPECIFIED, v1::CHANNEL_POLICY_AUTO}) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_options()->set_channel_policy(p);
    SetPrintIfUnreadAfter(r, 24 * 3600);
    ExpectValid(r);
  }
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_DIGITAL_ONLY);
  SetPrintIfUnreadAfter(r, 24 * 3600);
  ExpectOnly(r, "options.print_if_unread_after", "not allowed with");

  r = ValidRequest();
  r.mutable_documents(1)->set_media_type("application/pdf");
  r.mutable_documents(1)->set_content(std::string(kPdf));
  r.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_PRINT_ONLY);
  SetPrintIfUnreadAfter(r, 24 * 3600);
  ExpectOnly(r, "options.print_if_unread_after", "CHANNEL_POLICY_PRINT_ONLY");
}

TEST(PrintOnlyTest, EveryDocumentMustBePdf) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_PRINT_ONLY);
  ExpectOnly(r, "documents[1].media_type", "only PDF documents can be printed");

  r.mutable_documents(1)->set_media_type("application/pdf");
  r.mutable_documents(1)->set_content(std::string(kPdf));
  ExpectValid(r);
}

TEST(PrintOnlyTest, OtherPoliciesTakeAnyType) {
  for (v1::ChannelPolicy p :
       {v1::CHANNEL_POLICY_UNSPECIFIED, v1::CHANNEL_POLICY_AUTO, v1::CHANNEL_POLICY_DIGITAL_ONLY}) {
    v1::SendLetterRequest r = ValidRequest();
    r.mutable_options()->set_channel_policy(p);
    ASSERT_EQ(r.documents(1).media_type(), "text/plain");
    ExpectValid(r);
  }
}

// ---- reply_to ----

TEST(ReplyToTest, Optional) {
  v1::SendLetterRequest r = ValidRequest();
  ASSERT_FALSE(r.has_reply_to());
  ExpectValid(r);
}

TEST(ReplyToTest, NorwegianOrgNumber) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_reply_to()->set_norwegian_org_number("958935420");
  ExpectValid(r);
  r.mutable_reply_to()->set_norwegian_org_number("95893542");
  ExpectOnly(r, "reply_to.norwegian_org_number", "must be 9 digits");
}

TEST(ReplyToTest, DanishCvr) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_reply_to()->set_danish_cvr("29189846");
  ExpectValid(r);
  r.mutable_reply_to()->set_danish_cvr("29189864");
  ExpectOnly(r, "reply_to.danish_cvr", "check digit is wrong");
}

TEST(ReplyToTest, PresentButEmpty) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_reply_to();
  ExpectOnly(r, "reply_to", "organisation number");
}

// ---- external_reference ----

TEST(ExternalReferenceTest, ZeroToOneHundredCharacters) {
  v1::SendLetterRequest r = ValidRequest();
  r.clear_external_reference();
  ExpectValid(r);
  std::string ref;
  for (int i = 0; i < 100; ++i) ref += "\xc3\xa6";  // æ
  r.set_external_reference(ref);
  ExpectValid(r);
  r.set_external_reference(ref + "x");
  ExpectOnly(r, "external_reference", "at most 100 characters");
}

TEST(ExternalReferenceTest, ValidTextOnly) {
  v1::SendLetterRequest r = ValidRequest();
  r.set_external_reference("2026/1\n23");
  ExpectOnly(r, "external_reference", "control characters");
  r.set_external_reference("2026/\xfe");
  ExpectOnly(r, "external_reference", "valid UTF-8");
}

// ---- idempotency_key ----

TEST(IdempotencyKeyTest, OptionalPrintableAsciiUpTo128) {
  v1::SendLetterRequest r = ValidRequest();
  r.clear_idempotency_key();
  ExpectValid(r);
  r.set_idempotency_key(std::string(128, 'k'));
  ExpectValid(r);
  r.set_idempotency_key("!~{}[]()#%&'\"`^_=@");
  ExpectValid(r);
  r.set_idempotency_key(std::string(129, 'k'));
  ExpectOnly(r, "idempotency_key", "at most 128");
}

TEST(IdempotencyKeyTest, RejectsSpacesControlAndNonAscii) {
  for (std::string_view bad : {std::string_view("a b"), std::string_view(" a"),
                               std::string_view("a\tb"), std::string_view("a\x7f"),
                               std::string_view("n\xc3\xb8kkel"), std::string_view("a\0b", 3)}) {
    v1::SendLetterRequest r = ValidRequest();
    r.set_idempotency_key(std::string(bad));
    ExpectOnly(r, "idempotency_key", "printable ASCII");
  }
}

// ---- everything at once ----

TEST(SendLetterValidationTest, ReportsEveryViolationAtOnce) {
  LetterLimits limits;
  limits.max_documents = 4;
  limits.max_total_bytes = 64;

  v1::SendLetterRequest r;
  r.mutable_recipient()->mutable_person()->set_norwegian_national_id("15076500566");
  v1::PostalAddress* a = r.mutable_postal_address();
  a->set_name("");
  a->add_address_lines("Storgata 1");
  a->add_address_lines(std::string(201, 'x'));
  a->set_postal_code("12");
  a->set_city("Oslo");
  a->set_country_code("NO");
  r.set_title("");
  v1::Document* d0 = r.add_documents();
  d0->set_filename("a/b.pdf");
  d0->set_media_type("application/pdf");
  d0->set_content("not a pdf");
  v1::Document* d1 = r.add_documents();
  d1->set_filename("notes.txt");
  d1->set_media_type("Text/Plain");
  d1->set_content("");
  v1::Document* d2 = r.add_documents();
  d2->set_filename("NOTES.TXT");
  d2->set_media_type("text/plain");
  d2->set_content(std::string(100, 'x'));
  v1::Document* d3 = r.add_documents();
  d3->set_filename("..");
  d3->set_media_type("application/pdf");
  d3->set_content("%PDF-1.4");
  r.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_PRINT_ONLY);
  r.mutable_options()->mutable_print_if_unread_after()->set_seconds(3600);
  r.mutable_options()->set_security_level(static_cast<v1::SecurityLevel>(9));
  r.mutable_reply_to()->set_danish_cvr("12345678");
  r.set_external_reference(std::string(101, 'r'));
  r.set_idempotency_key("has space");

  absl::Status s = ValidateSendLetter(r, limits, kNow);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Fields(s),
              ElementsAre("recipient.person.norwegian_national_id",  //
                          "postal_address.name",                     //
                          "postal_address.address_lines[1]",         //
                          "postal_address.postal_code",              //
                          "title",                                   //
                          "documents[0].filename",                   // '/'
                          "documents[0].content",                    // no %PDF-
                          "documents[1].media_type",                 // upper case
                          "documents[1].media_type",                 // not PDF, PRINT_ONLY
                          "documents[1].content",                    // empty
                          "documents[2].filename",                   // duplicate of [1]
                          "documents[2].media_type",                 // not PDF, PRINT_ONLY
                          "documents[3].filename",                   // ".."
                          "documents",                               // 117 > 64 bytes
                          "options.print_if_unread_after",           // with PRINT_ONLY
                          "options.security_level",                  // 9
                          "reply_to.danish_cvr",                     // checksum
                          "external_reference",                      // 101 characters
                          "idempotency_key"));                       // space
  // The message lists them too, for logs and clients that ignore the details, as many as fit
  // in 1 KiB, and counts the rest (common::FieldViolations::ToStatus).
  EXPECT_THAT(s.message(), HasSubstr("title: must not be empty"));
  EXPECT_THAT(s.message(), HasSubstr("more (19 in all; the details list 19)"));
}

TEST(SendLetterValidationTest, DescriptionsNeverEchoInvalidUtf8) {
  v1::SendLetterRequest r = ValidRequest();
  r.set_title("\xff\xfe");
  r.mutable_documents(0)->set_filename("\xff.pdf");
  r.set_external_reference("\xc3");
  absl::Status s = Validate(r);
  std::optional<google::rpc::BadRequest> bad_request = common::GetBadRequest(s);
  ASSERT_TRUE(bad_request.has_value());
  EXPECT_EQ(bad_request->field_violations_size(), 3);
  // The BadRequest must survive a round trip through the wire format.
  google::rpc::BadRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(bad_request->SerializeAsString()));
  EXPECT_EQ(parsed.field_violations_size(), 3);
}

TEST(SendLetterValidationTest, ValidRequestHasNoViolations) {
  EXPECT_THAT(Violations(Validate(ValidRequest())), IsEmpty());
}

TEST(SendLetterValidationTest, DeliverAfterIsAValidTimeAtMost366DaysAheadWithAnyPolicy) {
  v1::SendLetterRequest r = ValidRequest();
  auto* at = r.mutable_options()->mutable_deliver_after();
  at->set_seconds(absl::ToUnixSeconds(kNow + absl::Hours(366 * 24)));
  ExpectValid(r);
  at->set_seconds(absl::ToUnixSeconds(kNow - absl::Hours(24)));  // past: at once
  ExpectValid(r);
  v1::SendLetterRequest print_only = r;
  print_only.mutable_documents()->DeleteSubrange(1, 1);  // the text attachment cannot be printed
  print_only.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_PRINT_ONLY);
  ExpectValid(print_only);
  at->set_seconds(absl::ToUnixSeconds(kNow + absl::Hours(366 * 24) + absl::Seconds(1)));
  ExpectOnly(r, "options.deliver_after", "366 days");
  at->set_seconds(absl::ToUnixSeconds(kNow));
  at->set_nanos(-1);
  ExpectOnly(r, "options.deliver_after", "not a valid timestamp");
}

TEST(SendLetterValidationTest, TheShortestPrintIfUnreadAfterIsConfigurable) {
  v1::SendLetterRequest r = ValidRequest();
  r.mutable_options()->mutable_print_if_unread_after()->set_seconds(30);
  ExpectOnly(r, "options.print_if_unread_after", "between 1 hour and 90 days");
  LetterLimits demo;
  demo.min_print_if_unread_after = absl::Seconds(10);
  ExpectValid(r, demo);
  r.mutable_options()->mutable_print_if_unread_after()->set_seconds(5);
  ExpectOnly(r, "options.print_if_unread_after", "between 10 seconds and 90 days", demo);
}

std::vector<std::string> ProblemsOf(const std::vector<internal::v1::Printability>& checked) {
  std::vector<std::string> problems;
  for (const auto& p : checked) problems.push_back(p.printable() ? "" : p.problem());
  return problems;
}

TEST(LetterPrintabilityTest, PrintOnlyRefusesADocumentPrintCannotTakeNamingItAndThePage) {
  v1::SendLetterRequest r = ValidRequest();
  r.clear_documents();
  for (const auto& pages : std::vector<std::vector<testutil::PdfPage>>{
           {testutil::kA4Page},
           {testutil::kA4Page, testutil::kA4Page, {.width = 612, .height = 792}},
           {{.width = 842, .height = 595}}}) {
    v1::Document* d = r.add_documents();
    d->set_filename(absl::StrCat("d", r.documents_size(), ".pdf"));
    d->set_media_type("application/pdf");
    d->set_content(testutil::MakePdf(pages));
  }
  r.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_PRINT_ONLY);
  ASSERT_TRUE(Validate(r).ok());  // well-formed: only print could not take it

  absl::StatusOr<std::vector<internal::v1::Printability>> checked =
      CheckLetterPrintability(r, LetterLimits{});
  EXPECT_EQ(checked.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Fields(checked.status()),
              ElementsAre("documents[1].content", "documents[2].content"));
  EXPECT_THAT(checked.status().message(),
              HasSubstr("documents[1].content: cannot be printed: page 3"));
  EXPECT_THAT(checked.status().message(),
              HasSubstr("documents[2].content: cannot be printed: page 1 is landscape"));

  // AUTO: accepted, each document's verdict kept for print.
  r.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_AUTO);
  checked = CheckLetterPrintability(r, LetterLimits{});
  ASSERT_TRUE(checked.ok()) << checked.status();
  ASSERT_EQ(checked->size(), 3u);
  EXPECT_TRUE((*checked)[0].printable());
  EXPECT_EQ((*checked)[0].page_count(), 1u);
  EXPECT_THAT((*checked)[1].problem(), HasSubstr("page 3"));
  EXPECT_EQ((*checked)[1].page_count(), 3u);
  EXPECT_THAT((*checked)[2].problem(), HasSubstr("landscape"));

  // DIGITAL_ONLY never goes to print: nothing is checked.
  r.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_DIGITAL_ONLY);
  checked = CheckLetterPrintability(r, LetterLimits{});
  ASSERT_TRUE(checked.ok());
  EXPECT_THAT(*checked, IsEmpty());
}

TEST(LetterPrintabilityTest, UnderAutoANonPdfIsKeptAsNotPrintableAndLimitsComeFromTheConfig) {
  v1::SendLetterRequest r = ValidRequest();  // a PDF that is not one, and a text file
  r.mutable_documents(0)->set_content(
      testutil::MakePdf({testutil::kA4Page, testutil::kA4Page, testutil::kA4Page}));
  LetterLimits limits;
  limits.printability.max_pages = 2;
  auto checked = CheckLetterPrintability(r, limits);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_THAT(ProblemsOf(*checked),
              ElementsAre(HasSubstr("more than 2 pages"), "is text/plain, not application/pdf"));
}

}  // namespace
}  // namespace utpost::ledger
