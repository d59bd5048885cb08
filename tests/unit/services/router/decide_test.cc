#include "services/router/decide.h"

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace utpost::router {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using internal::v1::TaskKind;
using internal::v1::TaskLetter;

// Each scenario runs once for a Norwegian and once for a Danish recipient.
enum class Country { kNorway, kDenmark };

// The seeded dev registry's Norwegian identifiers, and Danish ones for the same cases.
struct Ids {
  std::string digital;          // mailbox at a provider supporting HIGH
  std::string reserved;         // reserved, mailbox, postal address
  std::string no_mailbox;       // no mailbox, postal address
  std::string substantial;      // mailbox at a SUBSTANTIAL-only provider
  std::string org_inbox;        // organisation with an inbox
  std::string org_none;         // organisation without one
  std::string not_in_registry;  // a person with no entry
};

Ids IdsFor(Country c) {
  if (c == Country::kNorway) {
    return {"15076500565", "02028234530", "17059121030", "09116441796",
            "921837003",   "921837011",   "01017012345"};
  }
  return {"0707614285", "3112801234", "1503921111", "2002856789",
          "10013607",   "10022266",   "0101700000"};
}

v1::PersonId Person(Country c, const std::string& id) {
  v1::PersonId p;
  if (c == Country::kNorway) {
    p.set_norwegian_national_id(id);
  } else {
    p.set_danish_cpr(id);
  }
  return p;
}

v1::OrganisationId Org(Country c, const std::string& id) {
  v1::OrganisationId o;
  if (c == Country::kNorway) {
    o.set_norwegian_org_number(id);
  } else {
    o.set_danish_cvr(id);
  }
  return o;
}

v1::PostalAddress LetterAddress() {
  v1::PostalAddress a;
  a.set_name("Kari Nordmann");
  a.add_address_lines("Storgata 1");
  a.set_postal_code("0155");
  a.set_city("OSLO");
  a.set_country_code("NO");
  return a;
}

v1::PostalAddress RegistryAddress() {
  v1::PostalAddress a;
  a.set_name("Jens Hansen");
  a.add_address_lines("Vestergade 22");
  a.set_postal_code("8000");
  a.set_city("AARHUS");
  a.set_country_code("DK");
  return a;
}

v1::Provider Provider(const std::string& id, v1::SecurityLevel max_level) {
  v1::Provider p;
  p.set_provider_id(id);
  p.set_name("Provider " + id);
  p.set_endpoint("https://" + id + ".example");
  p.set_encryption_certificate_pem("-----BEGIN CERTIFICATE-----\n...");
  p.set_max_security_level(max_level);
  return p;
}

constexpr char kMailboxAddress[] = "kari.nordmann#4X2B";
constexpr char kInboxAddress[] = "inbox-0042@eformidling";

// A person's entry and, when `provider` is set, the provider its mailbox names.
v1::LookupResult PersonResult(const v1::PersonId& id, std::optional<std::string> mailbox_at,
                              std::optional<v1::Provider> provider, bool reserved,
                              bool with_address) {
  v1::LookupResult r;
  v1::PersonEntry* e = r.mutable_entry()->mutable_person();
  *e->mutable_id() = id;
  if (mailbox_at) {
    e->mutable_mailbox()->set_provider_id(*mailbox_at);
    e->mutable_mailbox()->set_address(kMailboxAddress);
  }
  e->set_reserved(reserved);
  if (with_address) *e->mutable_postal_address() = RegistryAddress();
  if (provider) *r.mutable_provider() = *provider;
  return r;
}

v1::LookupResult OrgResult(const v1::OrganisationId& id, std::optional<std::string> inbox_at,
                           std::optional<v1::Provider> provider, bool with_address) {
  v1::LookupResult r;
  v1::OrganisationEntry* e = r.mutable_entry()->mutable_organisation();
  *e->mutable_id() = id;
  if (inbox_at) {
    e->mutable_inbox()->set_provider_id(*inbox_at);
    e->mutable_inbox()->set_address(kInboxAddress);
  }
  if (with_address) *e->mutable_postal_address() = RegistryAddress();
  if (provider) *r.mutable_provider() = *provider;
  return r;
}

const v1::Provider kHighProvider = Provider("dev", v1::SECURITY_LEVEL_HIGH);
const v1::Provider kSubstantialProvider =
    Provider("substantial-only", v1::SECURITY_LEVEL_SUBSTANTIAL);
const v1::Provider kUnspecifiedProvider = Provider("unspecified", v1::SECURITY_LEVEL_UNSPECIFIED);

struct Expected {
  v1::LetterStatus status;
  v1::Channel channel;
  v1::StatusReason reason;
  std::optional<TaskKind> next;
  AddressSource address;
  std::vector<std::string> detail_has;
};

struct Case {
  std::string name;
  TaskLetter letter;
  // nullopt: no answer at all (the caller passes nullptr).
  std::optional<v1::LookupResult> lookup;
  Expected want;
};

TaskLetter ToPerson(Country c, const std::string& id, v1::ChannelPolicy policy,
                    v1::SecurityLevel level, bool with_address) {
  TaskLetter l;
  l.set_letter_id("01JABCDEFGHJKMNPQRSTVWXYZ0");
  l.set_sender("NO958935420");
  l.set_status(v1::LETTER_STATUS_ACCEPTED);
  *l.mutable_recipient()->mutable_person() = Person(c, id);
  if (with_address) *l.mutable_postal_address() = LetterAddress();
  l.mutable_options()->set_channel_policy(policy);
  l.mutable_options()->set_security_level(level);
  l.set_document_count(1);
  return l;
}

TaskLetter ToOrg(Country c, const std::string& id, v1::ChannelPolicy policy,
                 v1::SecurityLevel level, bool with_address) {
  TaskLetter l = ToPerson(c, "x", policy, level, with_address);
  *l.mutable_recipient()->mutable_organisation() = Org(c, id);
  return l;
}

constexpr auto kAuto = v1::CHANNEL_POLICY_UNSPECIFIED;
constexpr auto kAutoSet = v1::CHANNEL_POLICY_AUTO;
constexpr auto kDigitalOnly = v1::CHANNEL_POLICY_DIGITAL_ONLY;
constexpr auto kPrintOnly = v1::CHANNEL_POLICY_PRINT_ONLY;
constexpr auto kLevelDefault = v1::SECURITY_LEVEL_UNSPECIFIED;
constexpr auto kSubstantial = v1::SECURITY_LEVEL_SUBSTANTIAL;
constexpr auto kHigh = v1::SECURITY_LEVEL_HIGH;

Expected Digital(std::vector<std::string> detail = {}) {
  return {v1::LETTER_STATUS_ROUTED,
          v1::CHANNEL_DIGITAL_MAILBOX,
          v1::STATUS_REASON_HAS_DIGITAL_MAILBOX,
          internal::v1::TASK_KIND_DELIVER_DIGITAL,
          AddressSource::kNone,
          std::move(detail)};
}
Expected Inbox(std::vector<std::string> detail = {}) {
  return {v1::LETTER_STATUS_ROUTED,
          v1::CHANNEL_ORGANISATION_INBOX,
          v1::STATUS_REASON_HAS_ORGANISATION_INBOX,
          internal::v1::TASK_KIND_DELIVER_ORGANISATION_INBOX,
          AddressSource::kNone,
          std::move(detail)};
}
Expected Print(v1::StatusReason reason, AddressSource from, std::vector<std::string> detail = {}) {
  detail.push_back(from == AddressSource::kLetter ? "postal address from the letter"
                                                  : "postal address from the registry");
  return {v1::LETTER_STATUS_ROUTED, v1::CHANNEL_PRINT, reason, internal::v1::TASK_KIND_PRINT, from,
          std::move(detail)};
}
Expected Fail(v1::StatusReason reason, std::vector<std::string> detail = {}) {
  return {v1::LETTER_STATUS_FAILED, v1::CHANNEL_UNSPECIFIED, reason, std::nullopt,
          AddressSource::kNone,     std::move(detail)};
}

constexpr auto kLetter = AddressSource::kLetter;
constexpr auto kRegistry = AddressSource::kRegistry;

std::vector<Case> CasesFor(Country c) {
  const Ids ids = IdsFor(c);
  const std::string tag = c == Country::kNorway ? "NO_" : "DK_";
  auto digital = PersonResult(Person(c, ids.digital), "dev", kHighProvider, false, true);
  auto reserved = PersonResult(Person(c, ids.reserved), "dev", kHighProvider, true, true);
  auto reserved_no_address =
      PersonResult(Person(c, ids.reserved), "dev", kHighProvider, true, false);
  auto no_mailbox =
      PersonResult(Person(c, ids.no_mailbox), std::nullopt, std::nullopt, false, true);
  auto no_mailbox_no_address =
      PersonResult(Person(c, ids.no_mailbox), std::nullopt, std::nullopt, false, false);
  auto substantial = PersonResult(Person(c, ids.substantial), "substantial-only",
                                  kSubstantialProvider, false, true);
  auto unspecified_level =
      PersonResult(Person(c, ids.substantial), "unspecified", kUnspecifiedProvider, false, true);
  auto unknown_provider =
      PersonResult(Person(c, ids.digital), "gone-provider", std::nullopt, false, true);
  v1::LookupResult no_entry;
  auto empty_address =
      PersonResult(Person(c, ids.no_mailbox), std::nullopt, std::nullopt, false, false);
  empty_address.mutable_entry()->mutable_person()->mutable_postal_address();  // present, empty

  auto inbox = OrgResult(Org(c, ids.org_inbox), "substantial-only", kSubstantialProvider, true);
  auto org_none = OrgResult(Org(c, ids.org_none), std::nullopt, std::nullopt, true);
  auto org_none_no_address = OrgResult(Org(c, ids.org_none), std::nullopt, std::nullopt, false);
  auto inbox_unknown = OrgResult(Org(c, ids.org_inbox), "gone-provider", std::nullopt, true);

  std::vector<Case> cases = {
      // A person with a mailbox.
      {"digital_default_level", ToPerson(c, ids.digital, kAuto, kLevelDefault, false), digital,
       Digital({"digital mailbox at provider 'dev'", "SUBSTANTIAL (the default)"})},
      {"digital_auto_high", ToPerson(c, ids.digital, kAutoSet, kHigh, true), digital,
       Digital({"security level HIGH"})},
      {"digital_only_delivered", ToPerson(c, ids.digital, kDigitalOnly, kSubstantial, false),
       digital, Digital()},
      {"substantial_provider_default_level",
       ToPerson(c, ids.substantial, kAuto, kLevelDefault, false), substantial,
       Digital({"provider 'substantial-only'"})},
      // Security level above the provider's.
      {"substantial_provider_high_letter", ToPerson(c, ids.substantial, kAuto, kHigh, false),
       substantial,
       Print(v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED, kRegistry,
             {"requires security level HIGH", "'substantial-only' supports up to SUBSTANTIAL"})},
      {"unspecified_provider_level_counts_as_substantial",
       ToPerson(c, ids.substantial, kAuto, kHigh, true), unspecified_level,
       Print(v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED, kLetter,
             {"supports up to SUBSTANTIAL (unspecified)"})},
      {"unknown_required_level_is_never_met",
       ToPerson(c, ids.digital, kAuto, static_cast<v1::SecurityLevel>(7), false), digital,
       Print(v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED, kRegistry, {"unknown level 7"})},
      {"substantial_provider_high_letter_digital_only",
       ToPerson(c, ids.substantial, kDigitalOnly, kHigh, true), substantial,
       Fail(v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED,
            {"supports up to SUBSTANTIAL", "digital delivery only"})},
      // Reserved: a reservation wins over a mailbox.
      {"reserved", ToPerson(c, ids.reserved, kAuto, kLevelDefault, false), reserved,
       Print(v1::STATUS_REASON_RECIPIENT_RESERVED, kRegistry, {"reserved against digital mail"})},
      {"reserved_digital_only", ToPerson(c, ids.reserved, kDigitalOnly, kLevelDefault, true),
       reserved, Fail(v1::STATUS_REASON_RECIPIENT_RESERVED, {"digital delivery only"})},
      {"reserved_without_any_address", ToPerson(c, ids.reserved, kAuto, kLevelDefault, false),
       reserved_no_address,
       Fail(v1::STATUS_REASON_NO_CHANNEL,
            {"reserved against digital mail", "no postal address", "manual handling"})},
      // No mailbox.
      {"no_mailbox", ToPerson(c, ids.no_mailbox, kAuto, kLevelDefault, false), no_mailbox,
       Print(v1::STATUS_REASON_NO_MAILBOX, kRegistry, {"has no digital mailbox"})},
      {"no_mailbox_letter_address_wins", ToPerson(c, ids.no_mailbox, kAuto, kLevelDefault, true),
       no_mailbox, Print(v1::STATUS_REASON_NO_MAILBOX, kLetter)},
      {"no_mailbox_letter_address_only", ToPerson(c, ids.no_mailbox, kAuto, kLevelDefault, true),
       no_mailbox_no_address, Print(v1::STATUS_REASON_NO_MAILBOX, kLetter)},
      {"no_mailbox_digital_only", ToPerson(c, ids.no_mailbox, kDigitalOnly, kHigh, true),
       no_mailbox, Fail(v1::STATUS_REASON_NO_MAILBOX, {"has no digital mailbox"})},
      {"no_mailbox_without_any_address", ToPerson(c, ids.no_mailbox, kAuto, kLevelDefault, false),
       no_mailbox_no_address,
       Fail(v1::STATUS_REASON_NO_CHANNEL, {"no postal address", "manual handling"})},
      {"empty_registry_address_is_no_address",
       ToPerson(c, ids.no_mailbox, kAuto, kLevelDefault, false), empty_address,
       Fail(v1::STATUS_REASON_NO_CHANNEL, {"manual handling"})},
      {"mailbox_at_unknown_provider", ToPerson(c, ids.digital, kAuto, kLevelDefault, false),
       unknown_provider,
       Print(v1::STATUS_REASON_NO_MAILBOX, kRegistry,
             {"provider 'gone-provider', which is not in the registry", "counted as no mailbox"})},
      {"mailbox_at_unknown_provider_digital_only",
       ToPerson(c, ids.digital, kDigitalOnly, kLevelDefault, false), unknown_provider,
       Fail(v1::STATUS_REASON_NO_MAILBOX, {"not in the registry"})},
      // No registry entry, or no answer at all.
      {"no_entry_letter_address", ToPerson(c, ids.not_in_registry, kAuto, kLevelDefault, true),
       no_entry, Print(v1::STATUS_REASON_NO_MAILBOX, kLetter, {"no registry entry"})},
      {"no_answer_letter_address", ToPerson(c, ids.not_in_registry, kAuto, kLevelDefault, true),
       std::nullopt, Print(v1::STATUS_REASON_NO_MAILBOX, kLetter, {"no registry entry"})},
      {"no_entry_no_address", ToPerson(c, ids.not_in_registry, kAuto, kLevelDefault, false),
       no_entry, Fail(v1::STATUS_REASON_NO_CHANNEL, {"no registry entry", "manual handling"})},
      {"no_entry_digital_only", ToPerson(c, ids.not_in_registry, kDigitalOnly, kLevelDefault, true),
       no_entry,
       Fail(v1::STATUS_REASON_NO_MAILBOX, {"no registry entry", "digital delivery only"})},
      // Print only, whatever the registry says.
      {"print_only_with_mailbox", ToPerson(c, ids.digital, kPrintOnly, kLevelDefault, false),
       digital,
       Print(v1::STATUS_REASON_SENDER_REQUESTED_PRINT, kRegistry, {"asked for print only"})},
      {"print_only_letter_address_wins", ToPerson(c, ids.digital, kPrintOnly, kHigh, true), digital,
       Print(v1::STATUS_REASON_SENDER_REQUESTED_PRINT, kLetter)},
      {"print_only_no_answer_letter_address",
       ToPerson(c, ids.not_in_registry, kPrintOnly, kLevelDefault, true), std::nullopt,
       Print(v1::STATUS_REASON_SENDER_REQUESTED_PRINT, kLetter)},
      {"print_only_without_any_address",
       ToPerson(c, ids.no_mailbox, kPrintOnly, kLevelDefault, false), no_mailbox_no_address,
       Fail(v1::STATUS_REASON_NO_CHANNEL, {"asked for print only", "manual handling"})},
      // Organisations.
      {"org_inbox", ToOrg(c, ids.org_inbox, kAuto, kLevelDefault, false), inbox,
       Inbox({"organisation inbox at provider 'substantial-only'"})},
      {"org_inbox_digital_only", ToOrg(c, ids.org_inbox, kDigitalOnly, kLevelDefault, false), inbox,
       Inbox()},
      // The security level is a person's mailbox rule; an organisation's inbox takes the letter.
      {"org_inbox_high_letter", ToOrg(c, ids.org_inbox, kAuto, kHigh, true), inbox, Inbox()},
      {"org_no_inbox", ToOrg(c, ids.org_none, kAuto, kLevelDefault, false), org_none,
       Print(v1::STATUS_REASON_NO_MAILBOX, kRegistry, {"organisation has no inbox"})},
      {"org_no_inbox_letter_address_wins", ToOrg(c, ids.org_none, kAuto, kLevelDefault, true),
       org_none, Print(v1::STATUS_REASON_NO_MAILBOX, kLetter)},
      {"org_no_inbox_digital_only", ToOrg(c, ids.org_none, kDigitalOnly, kLevelDefault, true),
       org_none, Fail(v1::STATUS_REASON_NO_MAILBOX, {"organisation has no inbox"})},
      {"org_no_inbox_without_any_address", ToOrg(c, ids.org_none, kAuto, kLevelDefault, false),
       org_none_no_address, Fail(v1::STATUS_REASON_NO_CHANNEL, {"manual handling"})},
      {"org_inbox_at_unknown_provider", ToOrg(c, ids.org_inbox, kAuto, kLevelDefault, false),
       inbox_unknown,
       Print(v1::STATUS_REASON_NO_MAILBOX, kRegistry,
             {"provider 'gone-provider', which is not in the registry", "counted as no inbox"})},
      {"org_no_entry", ToOrg(c, ids.org_none, kAuto, kLevelDefault, true), no_entry,
       Print(v1::STATUS_REASON_NO_MAILBOX, kLetter, {"organisation has no registry entry"})},
      {"org_no_entry_no_address", ToOrg(c, ids.org_none, kAuto, kLevelDefault, false), std::nullopt,
       Fail(v1::STATUS_REASON_NO_CHANNEL, {"manual handling"})},
      {"org_print_only", ToOrg(c, ids.org_inbox, kPrintOnly, kLevelDefault, false), inbox,
       Print(v1::STATUS_REASON_SENDER_REQUESTED_PRINT, kRegistry)},
  };
  for (auto& kase : cases) kase.name = tag + kase.name;
  return cases;
}

std::vector<Case> AllCases() {
  std::vector<Case> all = CasesFor(Country::kNorway);
  for (auto& kase : CasesFor(Country::kDenmark)) all.push_back(std::move(kase));
  TaskLetter nobody = ToPerson(Country::kNorway, "x", kAuto, kLevelDefault, true);
  nobody.clear_recipient();
  all.push_back({"no_recipient", nobody, std::nullopt,
                 Fail(v1::STATUS_REASON_NO_CHANNEL, {"names no recipient", "manual handling"})});
  return all;
}

class DecideTest : public ::testing::TestWithParam<Case> {};

TEST_P(DecideTest, ChannelReasonNextTaskAndDetail) {
  const Case& c = GetParam();
  Decision d = Decide(c.letter, c.lookup ? &*c.lookup : nullptr);
  EXPECT_EQ(d.status, c.want.status) << v1::LetterStatus_Name(d.status);
  EXPECT_EQ(d.channel, c.want.channel) << v1::Channel_Name(d.channel);
  EXPECT_EQ(d.reason, c.want.reason) << v1::StatusReason_Name(d.reason);
  EXPECT_EQ(d.next_task, c.want.next);
  EXPECT_EQ(d.address_source, c.want.address);
  for (const auto& part : c.want.detail_has) EXPECT_THAT(d.detail, HasSubstr(part));
  EXPECT_FALSE(d.detail.empty());
  EXPECT_LE(d.detail.size(), 1000u);
}

// The detail is stored and shown to the sender: no identifier, mailbox address or postal
// address may appear in it, whichever rule applied.
TEST_P(DecideTest, DetailHoldsNoPersonalData) {
  const Case& c = GetParam();
  Decision d = Decide(c.letter, c.lookup ? &*c.lookup : nullptr);
  std::vector<std::string> personal = {kMailboxAddress, kInboxAddress};
  for (const auto& a : {LetterAddress(), RegistryAddress()}) {
    personal.push_back(a.name());
    personal.push_back(a.address_lines(0));
    personal.push_back(a.postal_code());
    personal.push_back(a.city());
  }
  const v1::Recipient& r = c.letter.recipient();
  for (const std::string& id :
       {r.person().norwegian_national_id(), r.person().danish_cpr(),
        r.organisation().norwegian_org_number(), r.organisation().danish_cvr()}) {
    if (id.size() > 1) personal.push_back(id);
  }
  for (const auto& p : personal) EXPECT_THAT(d.detail, Not(HasSubstr(p))) << d.detail;
}

INSTANTIATE_TEST_SUITE_P(Rules, DecideTest, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

// Every reason the router may give appears in the table above, for both countries.
TEST(DecideTableTest, CoversEveryRoutingReason) {
  for (const char* tag : {"NO_", "DK_"}) {
    std::set<std::pair<v1::LetterStatus, v1::StatusReason>> seen;
    for (const Case& c : AllCases()) {
      if (c.name.rfind(tag, 0) != 0) continue;
      Decision d = Decide(c.letter, c.lookup ? &*c.lookup : nullptr);
      seen.insert({d.status, d.reason});
    }
    for (auto reason :
         {v1::STATUS_REASON_SENDER_REQUESTED_PRINT, v1::STATUS_REASON_HAS_ORGANISATION_INBOX,
          v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, v1::STATUS_REASON_RECIPIENT_RESERVED,
          v1::STATUS_REASON_NO_MAILBOX, v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED}) {
      EXPECT_TRUE(seen.count({v1::LETTER_STATUS_ROUTED, reason})) << tag << reason;
    }
    for (auto reason :
         {v1::STATUS_REASON_RECIPIENT_RESERVED, v1::STATUS_REASON_NO_MAILBOX,
          v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED, v1::STATUS_REASON_NO_CHANNEL}) {
      EXPECT_TRUE(seen.count({v1::LETTER_STATUS_FAILED, reason})) << tag << reason;
    }
  }
}

TEST(RegistryKeyForTest, NamesThePersonOrOrganisation) {
  v1::Recipient person;
  *person.mutable_person() = Person(Country::kDenmark, "0707614285");
  auto key = RegistryKeyFor(person);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->person().danish_cpr(), "0707614285");

  v1::Recipient org;
  *org.mutable_organisation() = Org(Country::kNorway, "921837003");
  key = RegistryKeyFor(org);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->organisation().norwegian_org_number(), "921837003");

  EXPECT_FALSE(RegistryKeyFor(v1::Recipient()).has_value());
}

TEST(RecipientDedupKeyTest, EqualExactlyForTheSameEntry) {
  auto person = [](Country c, const std::string& id) {
    v1::Recipient r;
    *r.mutable_person() = Person(c, id);
    return r;
  };
  auto org = [](Country c, const std::string& id) {
    v1::Recipient r;
    *r.mutable_organisation() = Org(c, id);
    return r;
  };
  EXPECT_EQ(RecipientDedupKey(person(Country::kNorway, "15076500565")),
            RecipientDedupKey(person(Country::kNorway, "15076500565")));
  const std::vector<std::string> distinct = {
      RecipientDedupKey(person(Country::kNorway, "15076500565")),
      RecipientDedupKey(person(Country::kNorway, "17059121030")),
      RecipientDedupKey(person(Country::kDenmark, "921837003")),
      RecipientDedupKey(org(Country::kNorway, "921837003")),
      RecipientDedupKey(org(Country::kDenmark, "921837003")),
  };
  EXPECT_EQ(std::set<std::string>(distinct.begin(), distinct.end()).size(), distinct.size());
  EXPECT_EQ(RecipientDedupKey(v1::Recipient()), "");
}

TEST(LookupAnswersRecipientTest, AcceptsOnlyAnAnswerAboutTheRecipient) {
  v1::Recipient person;
  *person.mutable_person() = Person(Country::kNorway, "15076500565");
  v1::Recipient org;
  *org.mutable_organisation() = Org(Country::kNorway, "921837003");

  EXPECT_TRUE(LookupAnswersRecipient(person, v1::LookupResult()));
  EXPECT_TRUE(LookupAnswersRecipient(
      person, PersonResult(person.person(), "dev", kHighProvider, false, true)));
  EXPECT_TRUE(LookupAnswersRecipient(
      person, PersonResult(person.person(), "gone", std::nullopt, false, true)));
  EXPECT_TRUE(
      LookupAnswersRecipient(org, OrgResult(org.organisation(), "dev", kHighProvider, true)));

  // Another person, the same digits as a Danish number, another kind of entry.
  EXPECT_FALSE(
      LookupAnswersRecipient(person, PersonResult(Person(Country::kNorway, "17059121030"),
                                                  std::nullopt, std::nullopt, false, true)));
  EXPECT_FALSE(
      LookupAnswersRecipient(person, PersonResult(Person(Country::kDenmark, "15076500565"),
                                                  std::nullopt, std::nullopt, false, true)));
  EXPECT_FALSE(LookupAnswersRecipient(
      person, OrgResult(org.organisation(), std::nullopt, std::nullopt, true)));
  EXPECT_FALSE(LookupAnswersRecipient(
      org, PersonResult(person.person(), std::nullopt, std::nullopt, false, true)));
  v1::LookupResult provider_entry;
  *provider_entry.mutable_entry()->mutable_provider() = kHighProvider;
  EXPECT_FALSE(LookupAnswersRecipient(person, provider_entry));
  // A provider other than the one the mailbox names, or a provider without an entry.
  EXPECT_FALSE(LookupAnswersRecipient(
      person, PersonResult(person.person(), "dev", kSubstantialProvider, false, true)));
  EXPECT_FALSE(LookupAnswersRecipient(
      person, PersonResult(person.person(), std::nullopt, kHighProvider, false, true)));
  v1::LookupResult provider_only;
  *provider_only.mutable_provider() = kHighProvider;
  EXPECT_FALSE(LookupAnswersRecipient(person, provider_only));
}

}  // namespace
}  // namespace utpost::router
