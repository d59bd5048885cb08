// Form type files: the example in examples/forms parses to what FormService expects, and
// mistakes are named by their key path.
#include "clients/cpp/form_type_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace utpost::client {
namespace {

using ::testing::HasSubstr;

TEST(FormTypeFileTest, TheExampleParses) {
  absl::StatusOr<v1::FormType> type =
      ReadFormTypeFile(std::filesystem::path(UTPOST_EXAMPLE_FORMS) / "barnehage.yaml", "PEM");
  ASSERT_TRUE(type.ok()) << type.status();
  EXPECT_EQ(type->form_type_id(), "barnehageplass");
  EXPECT_EQ(type->version(), 1u);
  EXPECT_TRUE(type->receipt_letter());
  ASSERT_EQ(type->allowed_portals_size(), 1);
  EXPECT_EQ(type->allowed_portals(0).norwegian_org_number(), "991825827");
  EXPECT_EQ(type->encryption_certificate_pem(), "PEM");
  ASSERT_GE(type->fields_size(), 7);
  EXPECT_EQ(type->fields(0).kind(), v1::FIELD_KIND_TEXT);
  EXPECT_EQ(type->fields(0).text().max_length(), 100u);
  EXPECT_EQ(type->fields(2).kind(), v1::FIELD_KIND_NATIONAL_ID);
  EXPECT_EQ(type->attachments().max_count(), 3u);
}

TEST(FormTypeFileTest, ValuesTakeTheTypeOfTheirField) {
  // A choice that looks like a number stays a string; a number may be written either way.
  absl::StatusOr<v1::FormType> type = ParseFormType(
      "form_type_id: t\ntitle: T\nversion: '2'\nfields:\n"
      "  - {name: c, label: C, kind: CHOICE, choice: {choices: [1, 'true']}}\n"
      "  - {name: n, label: N, kind: number, required: true, number: {min: 0.5}}\n",
      ".", "");
  ASSERT_TRUE(type.ok()) << type.status();
  EXPECT_EQ(type->version(), 2u);
  EXPECT_EQ(type->fields(0).choice().choices(0), "1");
  EXPECT_EQ(type->fields(0).choice().choices(1), "true");
  EXPECT_TRUE(type->fields(1).required());
  EXPECT_DOUBLE_EQ(type->fields(1).number().min(), 0.5);
}

TEST(FormTypeFileTest, MistakesAreNamedByTheirPath) {
  auto message = [](const char* yaml) {
    return std::string(ParseFormType(yaml, ".", "").status().message());
  };
  EXPECT_THAT(message("form_type_id: t\ncolour: blue\n"), HasSubstr("colour: unknown key"));
  EXPECT_THAT(message("fields:\n  - {name: a, kind: txt}\n"),
              HasSubstr("fields[0].kind: unknown value 'txt'"));
  EXPECT_THAT(message("fields:\n  - {name: a, required: yes}\n"),
              HasSubstr("fields[0].required: must be true or false"));
  EXPECT_THAT(message("allowed_portals: [NO123]\n"), HasSubstr("allowed_portals[0]"));
  EXPECT_THAT(message("fields: 3\n"), HasSubstr("fields: must be a list"));
  EXPECT_THAT(message("encryption_certificate: /nonexistent/cert.pem\n"),
              HasSubstr("encryption_certificate: cannot read"));
  EXPECT_THAT(message("version: -1\n"), HasSubstr("form type"));
  EXPECT_THAT(message("- a\n"), HasSubstr("is a map"));
  EXPECT_THAT(message("a: [\n"), HasSubstr("not YAML"));
}

}  // namespace
}  // namespace utpost::client
