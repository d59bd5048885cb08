// utpostctl preview's file reader (bare identifiers or CSV with a header) and the adding up of
// the answers of several calls.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "clients/cli/preview_cmd.h"
#include "common/field_violations.h"

namespace utpost::cli {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<std::vector<PreviewLine>> Read(const std::string& text, bool with_address = false,
                                              uint64_t max = 1000) {
  std::istringstream in(text);
  return ReadPreviewFile(in, with_address, max);
}

TEST(PreviewFileTest, BareIdentifiersOnePerLine) {
  auto lines = Read("# batch 7\n15076500565\n\n921837003\r\n070761-4285\n10013607\n");
  ASSERT_TRUE(lines.ok()) << lines.status();
  ASSERT_EQ(lines->size(), 4u);
  EXPECT_EQ((*lines)[0].line, 2u);
  EXPECT_EQ((*lines)[0].recipient.recipient().person().norwegian_national_id(), "15076500565");
  EXPECT_EQ((*lines)[1].line, 4u);
  EXPECT_EQ((*lines)[1].recipient.recipient().organisation().norwegian_org_number(), "921837003");
  EXPECT_EQ((*lines)[2].recipient.recipient().person().danish_cpr(), "0707614285");
  EXPECT_EQ((*lines)[3].recipient.recipient().organisation().danish_cvr(), "10013607");
  EXPECT_FALSE((*lines)[0].recipient.has_postal_address());
}

TEST(PreviewFileTest, CsvWithAHeaderUsesItsIdAndHasAddressColumns) {
  auto lines = Read(
      "\xEF\xBB\xBFname,Recipient,has_address,case\n"
      "\"Nordmann, Kari\",15076500565,yes,2026/1\n"
      "Ola,02028234530,,2026/2\n"
      "\"Say \"\"hi\"\"\",17059121030,1,2026/3\n");
  ASSERT_TRUE(lines.ok()) << lines.status();
  ASSERT_EQ(lines->size(), 3u);
  EXPECT_EQ((*lines)[0].identifier, "15076500565");
  EXPECT_TRUE((*lines)[0].recipient.has_postal_address());
  EXPECT_FALSE((*lines)[1].recipient.has_postal_address());
  EXPECT_TRUE((*lines)[2].recipient.has_postal_address());
  EXPECT_EQ((*lines)[2].line, 4u);

  auto all = Read("id\n15076500565\n", /*with_address=*/true);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE((*all)[0].recipient.has_postal_address());
}

TEST(PreviewFileTest, EveryBadLineIsNamed) {
  auto lines = Read("id,has_address\n15076500566,no\n15076500565,maybe\n\"921837003,no\n");
  ASSERT_EQ(lines.status().code(), absl::StatusCode::kInvalidArgument);
  auto bad = common::GetBadRequest(lines.status());
  ASSERT_TRUE(bad.has_value());
  ASSERT_EQ(bad->field_violations_size(), 3);
  EXPECT_EQ(bad->field_violations(0).field(), "line 2");  // check digits
  EXPECT_EQ(bad->field_violations(1).field(), "line 3");
  EXPECT_THAT(bad->field_violations(1).description(), HasSubstr("has_address"));
  EXPECT_EQ(bad->field_violations(2).field(), "line 4");
  EXPECT_THAT(bad->field_violations(2).description(), HasSubstr("quoted"));

  EXPECT_THAT(Read("name,city\nKari,Oslo\n").status().message(), HasSubstr("no id column"));
  EXPECT_EQ(Read("# nothing\n\n").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Read("15076500565\n15076500565\n15076500565\n", false, 2).status().message(),
              HasSubstr("more than 2 recipients"));
}

TEST(PreviewFileTest, AddPreviewSumsCallsAndKeepsReasonsLargestFirst) {
  auto part = [](uint64_t digital, uint64_t reserved, uint64_t no_mailbox) {
    v1::PreviewRoutesResponse r;
    for (uint64_t i = 0; i < digital + reserved + no_mailbox; ++i) r.add_routes();
    r.set_digital_mailbox(digital);
    r.set_paper(reserved + no_mailbox);
    if (reserved > 0) {
      auto* c = r.add_paper_by_reason();
      c->set_reason(v1::STATUS_REASON_RECIPIENT_RESERVED);
      c->set_letters(reserved);
    }
    if (no_mailbox > 0) {
      auto* c = r.add_paper_by_reason();
      c->set_reason(v1::STATUS_REASON_NO_MAILBOX);
      c->set_letters(no_mailbox);
    }
    r.mutable_estimated_cost()->set_currency_code("NOK");
    r.mutable_estimated_cost()->set_minor_units(
        static_cast<int64_t>(digital * 90 + (reserved + no_mailbox) * 4100));
    return r;
  };
  v1::PreviewRoutesResponse total;
  AddPreview(total, part(5, 3, 1));
  AddPreview(total, part(1, 0, 4));
  EXPECT_EQ(total.routes_size(), 14);
  EXPECT_EQ(total.digital_mailbox(), 6u);
  EXPECT_EQ(total.paper(), 8u);
  ASSERT_EQ(total.paper_by_reason_size(), 2);
  EXPECT_EQ(total.paper_by_reason(0).reason(), v1::STATUS_REASON_NO_MAILBOX);
  EXPECT_EQ(total.paper_by_reason(0).letters(), 5u);
  EXPECT_EQ(total.paper_by_reason(1).letters(), 3u);
  EXPECT_EQ(total.estimated_cost().minor_units(), 6 * 90 + 8 * 4100);
  EXPECT_EQ(total.estimated_cost().currency_code(), "NOK");
}

}  // namespace
}  // namespace utpost::cli
