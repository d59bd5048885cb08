// Route preview without a server: the plan's de-duplicated lookups, the decisions (the
// router's own), the totals, the reasons and the cost, and a registry answer that does not
// fit.
#include "services/router/preview.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "services/router/decide.h"

namespace utpost::router {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::PreviewRecipient Person(const std::string& id, bool has_address = false) {
  v1::PreviewRecipient r;
  r.mutable_recipient()->mutable_person()->set_norwegian_national_id(id);
  r.set_has_postal_address(has_address);
  return r;
}

v1::PreviewRecipient Org(const std::string& id) {
  v1::PreviewRecipient r;
  r.mutable_recipient()->mutable_organisation()->set_norwegian_org_number(id);
  return r;
}

v1::PostalAddress Address() {
  v1::PostalAddress a;
  a.set_name("Kari Nordmann");
  a.add_address_lines("Storgata 1");
  a.set_postal_code("0155");
  a.set_city("OSLO");
  a.set_country_code("NO");
  return a;
}

v1::Provider Provider(const std::string& id, v1::SecurityLevel level) {
  v1::Provider p;
  p.set_provider_id(id);
  p.set_max_security_level(level);
  return p;
}

// A person with a mailbox at `provider` (and a postal address).
v1::LookupResult WithMailbox(const std::string& id, const v1::Provider& provider,
                             bool reserved = false) {
  v1::LookupResult r;
  v1::PersonEntry& e = *r.mutable_entry()->mutable_person();
  e.mutable_id()->set_norwegian_national_id(id);
  e.mutable_mailbox()->set_provider_id(provider.provider_id());
  e.mutable_mailbox()->set_address("kari");
  e.set_reserved(reserved);
  *e.mutable_postal_address() = Address();
  *r.mutable_provider() = provider;
  return r;
}

v1::LookupResult WithoutMailbox(const std::string& id, bool address) {
  v1::LookupResult r;
  v1::PersonEntry& e = *r.mutable_entry()->mutable_person();
  e.mutable_id()->set_norwegian_national_id(id);
  if (address) *e.mutable_postal_address() = Address();
  return r;
}

v1::LookupResult WithInbox(const std::string& org, const v1::Provider& provider) {
  v1::LookupResult r;
  v1::OrganisationEntry& e = *r.mutable_entry()->mutable_organisation();
  e.mutable_id()->set_norwegian_org_number(org);
  e.mutable_inbox()->set_provider_id(provider.provider_id());
  e.mutable_inbox()->set_address("post");
  *r.mutable_provider() = provider;
  return r;
}

v1::PriceTable Prices() {
  v1::PriceTable p;
  auto money = [](v1::Money& m, int64_t minor) {
    m.set_currency_code("NOK");
    m.set_minor_units(minor);
  };
  money(*p.mutable_print_per_letter(), 1100);
  money(*p.mutable_postage_per_letter(), 3000);
  money(*p.mutable_digital_per_letter(), 90);
  p.set_source("test prices");
  return p;
}

TEST(PreviewTest, PlanLooksEachRecipientUpOnce) {
  v1::PreviewRoutesRequest request;
  *request.add_recipients() = Person("15076500565");
  *request.add_recipients() = Org("921837003");
  *request.add_recipients() = Person("15076500565", /*has_address=*/true);
  request.add_recipients();  // names nobody
  const PreviewPlan plan = PlanPreview(request);
  ASSERT_EQ(plan.keys.size(), 2u);
  EXPECT_EQ(plan.keys[0].person().norwegian_national_id(), "15076500565");
  EXPECT_EQ(plan.keys[1].organisation().norwegian_org_number(), "921837003");
  EXPECT_THAT(plan.key_of, ElementsAre(0, 1, 0, -1));
}

TEST(PreviewTest, DecidesAsTheRouterCountsAndPrices) {
  const v1::Provider high = Provider("dev", v1::SECURITY_LEVEL_HIGH);
  v1::PreviewRoutesRequest request;
  *request.add_recipients() = Person("15076500565");        // digital
  *request.add_recipients() = Person("02028234530");        // reserved: paper
  *request.add_recipients() = Person("17059121030");        // no mailbox: paper (registry address)
  *request.add_recipients() = Org("921837003");             // inbox
  *request.add_recipients() = Person("01017012345");        // no entry, no address: failed
  *request.add_recipients() = Person("01017012345", true);  // no entry, own address: paper
  *request.add_recipients() = Person("17059121030");        // the same again: paper
  const PreviewPlan plan = PlanPreview(request);
  ASSERT_EQ(plan.keys.size(), 5u);
  std::vector<v1::LookupResult> results = {WithMailbox("15076500565", high),
                                           WithMailbox("02028234530", high, /*reserved=*/true),
                                           WithoutMailbox("17059121030", /*address=*/true),
                                           WithInbox("921837003", high), v1::LookupResult()};

  absl::StatusOr<v1::PreviewRoutesResponse> preview = PreviewFrom(request, plan, results, Prices());
  ASSERT_TRUE(preview.ok()) << preview.status();
  ASSERT_EQ(preview->routes_size(), 7);
  // Each route is exactly what Decide says for the letter the router would see.
  for (int i = 0; i < request.recipients_size(); ++i) {
    const int k = plan.key_of[static_cast<size_t>(i)];
    const Decision d = Decide(PreviewLetter(request.recipients(i), request.options()),
                              &results[static_cast<size_t>(k)]);
    EXPECT_EQ(preview->routes(i).status(), d.status) << i;
    EXPECT_EQ(preview->routes(i).channel(), d.channel) << i;
    EXPECT_EQ(preview->routes(i).reason(), d.reason) << i;
    EXPECT_EQ(preview->routes(i).detail(), d.detail) << i;
  }
  EXPECT_EQ(preview->routes(0).channel(), v1::CHANNEL_DIGITAL_MAILBOX);
  EXPECT_EQ(preview->routes(1).reason(), v1::STATUS_REASON_RECIPIENT_RESERVED);
  EXPECT_EQ(preview->routes(4).status(), v1::LETTER_STATUS_FAILED);
  EXPECT_EQ(preview->routes(4).reason(), v1::STATUS_REASON_NO_CHANNEL);
  EXPECT_THAT(preview->routes(5).detail(), HasSubstr("postal address from the letter"));

  EXPECT_EQ(preview->digital_mailbox(), 1u);
  EXPECT_EQ(preview->organisation_inbox(), 1u);
  EXPECT_EQ(preview->paper(), 4u);
  EXPECT_EQ(preview->failed(), 1u);
  ASSERT_EQ(preview->paper_by_reason_size(), 2);
  EXPECT_EQ(preview->paper_by_reason(0).reason(), v1::STATUS_REASON_NO_MAILBOX);  // largest first
  EXPECT_EQ(preview->paper_by_reason(0).letters(), 3u);
  EXPECT_EQ(preview->paper_by_reason(1).reason(), v1::STATUS_REASON_RECIPIENT_RESERVED);
  EXPECT_EQ(preview->paper_by_reason(1).letters(), 1u);
  ASSERT_EQ(preview->failed_by_reason_size(), 1);
  EXPECT_EQ(preview->failed_by_reason(0).reason(), v1::STATUS_REASON_NO_CHANNEL);
  // 4 × (11.00 + 30.00) + 2 × 0.90; avoided: 2 × (41.00 − 0.90).
  EXPECT_EQ(preview->estimated_cost().minor_units(), 4 * 4100 + 2 * 90);
  EXPECT_EQ(preview->estimated_cost().currency_code(), "NOK");
  EXPECT_EQ(preview->cost_avoided().minor_units(), 2 * (4100 - 90));
  EXPECT_EQ(preview->prices().source(), "test prices");
}

TEST(PreviewTest, TheOptionsDecideToo) {
  const v1::Provider substantial = Provider("dev-substantial", v1::SECURITY_LEVEL_SUBSTANTIAL);
  v1::PreviewRoutesRequest request;
  *request.add_recipients() = Person("09116441796");
  request.mutable_options()->set_security_level(v1::SECURITY_LEVEL_HIGH);
  const PreviewPlan plan = PlanPreview(request);
  const std::vector<v1::LookupResult> results = {WithMailbox("09116441796", substantial)};

  absl::StatusOr<v1::PreviewRoutesResponse> high = PreviewFrom(request, plan, results, Prices());
  ASSERT_TRUE(high.ok()) << high.status();
  EXPECT_EQ(high->routes(0).channel(), v1::CHANNEL_PRINT);
  EXPECT_EQ(high->routes(0).reason(), v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED);

  request.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_DIGITAL_ONLY);
  absl::StatusOr<v1::PreviewRoutesResponse> digital_only =
      PreviewFrom(request, plan, results, Prices());
  ASSERT_TRUE(digital_only.ok());
  EXPECT_EQ(digital_only->routes(0).status(), v1::LETTER_STATUS_FAILED);
  EXPECT_EQ(digital_only->failed(), 1u);
  EXPECT_EQ(digital_only->estimated_cost().minor_units(), 0);

  request.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_PRINT_ONLY);
  absl::StatusOr<v1::PreviewRoutesResponse> print_only =
      PreviewFrom(request, plan, results, Prices());
  ASSERT_TRUE(print_only.ok());
  EXPECT_EQ(print_only->routes(0).reason(), v1::STATUS_REASON_SENDER_REQUESTED_PRINT);
  EXPECT_EQ(print_only->cost_avoided().minor_units(), 0);
}

TEST(PreviewTest, AnAnswerThatDoesNotFitIsUnavailable) {
  v1::PreviewRoutesRequest request;
  *request.add_recipients() = Person("15076500565");
  const PreviewPlan plan = PlanPreview(request);
  const v1::Provider high = Provider("dev", v1::SECURITY_LEVEL_HIGH);

  absl::StatusOr<v1::PreviewRoutesResponse> too_few = PreviewFrom(request, plan, {}, Prices());
  EXPECT_EQ(too_few.status().code(), absl::StatusCode::kUnavailable);

  // An entry about someone else is never used to decide.
  absl::StatusOr<v1::PreviewRoutesResponse> other =
      PreviewFrom(request, plan, {WithMailbox("02028234530", high)}, Prices());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(other.status().message(), HasSubstr("recipients[0]"));
  EXPECT_THAT(std::string(other.status().message()), ::testing::Not(HasSubstr("02028234530")));
}

}  // namespace
}  // namespace utpost::router
