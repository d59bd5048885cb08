// LetterService.PreviewRoutes in a whole utpost process: it predicts exactly the route real
// routing then takes (the same decision code, the same registry), stores nothing, names the
// wrong field of a bad request, and says why when the server reaches no registry.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/field_violations.h"
#include "common/strings.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

using ::testing::HasSubstr;

v1::PreviewRecipient Preview(std::string_view identifier, bool has_address) {
  auto recipient = client::RecipientFromIdentifier(identifier);
  EXPECT_TRUE(recipient.ok()) << recipient.status();
  v1::PreviewRecipient r;
  *r.mutable_recipient() = *recipient;
  r.set_has_postal_address(has_address);
  return r;
}

// The event that routed (or failed) the letter, once there is one.
v1::LetterEvent AwaitRouting(client::LetterClient& client, const std::string& id) {
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    auto got = client.Get(id);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok()) break;
    for (const v1::LetterEvent& e : got->events()) {
      if (e.status() == v1::LETTER_STATUS_ROUTED || e.status() == v1::LETTER_STATUS_FAILED) {
        return e;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << id << " was not routed in time";
  return {};
}

std::string Field(const absl::Status& status) {
  auto bad = common::GetBadRequest(status);
  return bad && bad->field_violations_size() > 0 ? bad->field_violations(0).field() : "";
}

TEST(PreviewRoutesTest, PredictsTheRouteRealRoutingTakesAndStoresNothing) {
  auto stack = TestStack::Start({}, QuickDelivery);
  ASSERT_NE(stack, nullptr);
  client::LetterClient oslo = stack->Client(kOslo);
  // The seeded dev registry: a mailbox, reserved, no mailbox, a SUBSTANTIAL-only provider, an
  // organisation's inbox, one without, and a person with no entry at all.
  const std::vector<std::string> ids = {"15076500565", "02028234530", "17059121030", "09116441796",
                                        "921837003",   "921837011",   "01017012343"};
  for (v1::SecurityLevel level : {v1::SECURITY_LEVEL_SUBSTANTIAL, v1::SECURITY_LEVEL_HIGH}) {
    SCOPED_TRACE(v1::SecurityLevel_Name(level));
    v1::PreviewRoutesRequest request;
    request.mutable_options()->set_security_level(level);
    for (const std::string& id : ids) *request.add_recipients() = Preview(id, true);
    auto preview = oslo.PreviewRoutes(request);
    ASSERT_TRUE(preview.ok()) << preview.status();
    ASSERT_EQ(preview->routes_size(), static_cast<int>(ids.size()));
    EXPECT_EQ(preview->digital_mailbox() + preview->organisation_inbox() + preview->paper() +
                  preview->failed(),
              ids.size());
    EXPECT_EQ(preview->prices().print_per_letter().currency_code(), "NOK");

    // Nothing was stored by the preview: the only letters are those sent below.
    v1::ListLettersRequest list;
    list.set_page_size(100);
    auto before = oslo.List(list);
    ASSERT_TRUE(before.ok()) << before.status();

    for (size_t i = 0; i < ids.size(); ++i) {
      SCOPED_TRACE(ids[i]);
      const v1::PreviewRoute& predicted = preview->routes(static_cast<int>(i));
      auto sent = oslo.Send(AddressedLetterTo(ids[i], absl::StrCat("preview-", i), level));
      ASSERT_TRUE(sent.ok()) << sent.status();
      const v1::LetterEvent routed = AwaitRouting(oslo, sent->letter_id());
      EXPECT_EQ(predicted.status(), routed.status());
      EXPECT_EQ(predicted.channel(), routed.channel());
      EXPECT_EQ(predicted.reason(), routed.reason());
      EXPECT_EQ(predicted.detail(), routed.detail());
    }
    auto after = oslo.List(list);
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->letters_size(), before->letters_size() + static_cast<int>(ids.size()));
  }

  // Without a postal address of its own, a person the registry does not know cannot be
  // printed: the preview says the letter would fail, and why.
  v1::PreviewRoutesRequest unknown;
  *unknown.add_recipients() = Preview("01017012343", false);
  auto failed = oslo.PreviewRoutes(unknown);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->failed(), 1u);
  EXPECT_EQ(failed->routes(0).reason(), v1::STATUS_REASON_NO_CHANNEL);
  ASSERT_EQ(failed->failed_by_reason_size(), 1);
  EXPECT_EQ(failed->estimated_cost().minor_units(), 0);
}

TEST(PreviewRoutesTest, ABadRequestNamesItsField) {
  auto stack = TestStack::Start();
  ASSERT_NE(stack, nullptr);
  client::LetterClient oslo = stack->Client(kOslo);

  auto empty = oslo.PreviewRoutes(v1::PreviewRoutesRequest());
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Field(empty.status()), "recipients");

  v1::PreviewRoutesRequest bad_id;
  *bad_id.add_recipients() = Preview("15076500565", false);
  bad_id.add_recipients()->mutable_recipient()->mutable_person()->set_norwegian_national_id(
      "15076500566");
  bad_id.add_recipients();
  auto wrong = oslo.PreviewRoutes(bad_id);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  auto bad = common::GetBadRequest(wrong.status());
  ASSERT_TRUE(bad.has_value());
  ASSERT_EQ(bad->field_violations_size(), 2);
  EXPECT_EQ(bad->field_violations(0).field(),
            "recipients[1].recipient.person.norwegian_national_id");
  EXPECT_EQ(bad->field_violations(1).field(), "recipients[2].recipient");
  // The identifier is not repeated back.
  EXPECT_THAT(std::string(wrong.status().message()), ::testing::Not(HasSubstr("15076500566")));

  v1::PreviewRoutesRequest bad_option;
  *bad_option.add_recipients() = Preview("15076500565", false);
  bad_option.mutable_options()->set_channel_policy(static_cast<v1::ChannelPolicy>(99));
  EXPECT_EQ(Field(oslo.PreviewRoutes(bad_option).status()), "options.channel_policy");

  // More than 1000 recipients is refused on the wire, before one is built.
  v1::PreviewRoutesRequest too_many;
  for (int i = 0; i < 1001; ++i) *too_many.add_recipients() = Preview("15076500565", false);
  auto refused = oslo.PreviewRoutes(too_many);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("recipients"));

  // And exactly 1000 is answered.
  too_many.mutable_recipients()->RemoveLast();
  auto thousand = oslo.PreviewRoutes(too_many);
  ASSERT_TRUE(thousand.ok()) << thousand.status();
  EXPECT_EQ(thousand->digital_mailbox(), 1000u);
}

TEST(PreviewRoutesTest, WithoutARegistryItSaysWhy) {
  auto stack = TestStack::Start({}, {}, kLedgerOnly);
  ASSERT_NE(stack, nullptr);
  v1::PreviewRoutesRequest request;
  *request.add_recipients() = Preview("15076500565", false);
  auto preview = stack->Client(kOslo).PreviewRoutes(request);
  EXPECT_EQ(preview.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(preview.status().message()), HasSubstr("registry"));
}

}  // namespace
}  // namespace utpost::testutil
