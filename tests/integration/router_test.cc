// Routing end to end: the real App with the ledger, the seeded dev registry and the router
// (RocksDB in a temp dir, the dev PKI, mutual TLS on loopback), driven through the client
// library. Every seeded case is routed with its channel and reason; a cancelled letter never
// is; a registry that is down holds letters back until it returns, and never routes wrongly.
#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/router/router_module.h"
#include "services/utpost/modules.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The seeded dev registry (services/registry/dev_seed.h).
constexpr char kNoMailbox[] = "15076500565";
constexpr char kNoReserved[] = "02028234530";
constexpr char kNoWithoutMailbox[] = "17059121030";
constexpr char kNoSubstantialOnly[] = "09116441796";
constexpr char kNoOrgInbox[] = "921837003";
constexpr char kNoOrgWithoutInbox[] = "921837011";
constexpr char kDkMailbox[] = "0707614285";
constexpr char kDkExempt[] = "1112732116";
constexpr char kDkWithoutMailbox[] = "2309805123";
constexpr char kDkSubstantialOnly[] = "0402927011";
constexpr char kDkOrgInbox[] = "29189854";
constexpr char kDkOrgWithoutInbox[] = "29189862";
// Valid identifiers the registry has no entry for.
constexpr char kNoUnknown[] = "01017010170";
constexpr char kDkUnknown[] = "0101700000";

// Everything the router may take to route a letter once it is accepted.
constexpr absl::Duration kRoutedWithin = absl::Seconds(1);

v1::Recipient Recipient(const std::string& id) {
  v1::Recipient r;
  switch (id.size()) {
    case 11:
      r.mutable_person()->set_norwegian_national_id(id);
      break;
    case 10:
      r.mutable_person()->set_danish_cpr(id);
      break;
    case 9:
      r.mutable_organisation()->set_norwegian_org_number(id);
      break;
    default:
      r.mutable_organisation()->set_danish_cvr(id);
  }
  return r;
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

struct Case {
  std::string name;
  std::string to;
  v1::ChannelPolicy policy = v1::CHANNEL_POLICY_UNSPECIFIED;
  v1::SecurityLevel level = v1::SECURITY_LEVEL_UNSPECIFIED;
  bool letter_address = false;
  v1::LetterStatus status;
  v1::Channel channel;
  v1::StatusReason reason;
  std::string detail_has;
};

v1::SendLetterRequest RequestFor(const Case& c) {
  v1::SendLetterRequest request = ValidLetter(c.name);
  *request.mutable_recipient() = Recipient(c.to);
  request.mutable_options()->set_channel_policy(c.policy);
  request.mutable_options()->set_security_level(c.level);
  if (c.letter_address) *request.mutable_postal_address() = LetterAddress();
  request.set_external_reference(c.name.substr(0, 100));
  return request;
}

constexpr auto kRouted = v1::LETTER_STATUS_ROUTED;
constexpr auto kFailed = v1::LETTER_STATUS_FAILED;
constexpr auto kDigital = v1::CHANNEL_DIGITAL_MAILBOX;
constexpr auto kInbox = v1::CHANNEL_ORGANISATION_INBOX;
constexpr auto kPrint = v1::CHANNEL_PRINT;
constexpr auto kNone = v1::CHANNEL_UNSPECIFIED;
constexpr auto kAuto = v1::CHANNEL_POLICY_UNSPECIFIED;
constexpr auto kDigitalOnly = v1::CHANNEL_POLICY_DIGITAL_ONLY;
constexpr auto kPrintOnly = v1::CHANNEL_POLICY_PRINT_ONLY;
constexpr auto kDefaultLevel = v1::SECURITY_LEVEL_UNSPECIFIED;
constexpr auto kHigh = v1::SECURITY_LEVEL_HIGH;

// Polls GetLetter until the letter leaves ACCEPTED, for at most `limit`.
v1::GetLetterResponse AwaitDecided(client::LetterClient& client, const std::string& letter_id,
                                   absl::Duration limit = absl::Seconds(20)) {
  const absl::Time give_up = absl::Now() + limit;
  v1::GetLetterResponse last;
  while (absl::Now() < give_up) {
    absl::StatusOr<v1::GetLetterResponse> got = client.Get(letter_id);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok()) return last;
    last = *got;
    if (last.letter().status() != v1::LETTER_STATUS_ACCEPTED) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << letter_id << " still ACCEPTED after " << limit;
  return last;
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
}

// Sends every case, then checks each letter's decision and history.
void SendAndCheck(TestStack& stack, const std::vector<Case>& cases) {
  client::LetterClient client = stack.Client();
  std::vector<std::string> ids;
  for (const Case& c : cases) {
    auto sent = client.Send(RequestFor(c));
    ASSERT_TRUE(sent.ok()) << c.name << ": " << sent.status();
    ids.push_back(sent->letter_id());
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE(c.name);
    v1::GetLetterResponse got = AwaitDecided(client, ids[i]);
    EXPECT_EQ(got.letter().status(), c.status) << v1::LetterStatus_Name(got.letter().status());
    ASSERT_EQ(got.events_size(), 2);
    const v1::LetterEvent& accepted = got.events(0);
    const v1::LetterEvent& decided = got.events(1);
    EXPECT_EQ(accepted.status(), v1::LETTER_STATUS_ACCEPTED);
    EXPECT_EQ(decided.status(), c.status);
    EXPECT_EQ(decided.channel(), c.channel) << v1::Channel_Name(decided.channel());
    EXPECT_EQ(decided.reason(), c.reason) << v1::StatusReason_Name(decided.reason());
    if (c.status == kRouted) {
      EXPECT_EQ(got.letter().channel(), c.channel);
    }
    if (!c.detail_has.empty()) {
      EXPECT_THAT(decided.detail(), HasSubstr(c.detail_has));
    }
    // The detail is shown to the sender and stored: never the recipient's identifier.
    EXPECT_THAT(decided.detail(), ::testing::Not(HasSubstr(c.to)));
    EXPECT_LE(FromProto(decided.time()) - FromProto(got.letter().accepted_time()), kRoutedWithin);
  }
}

// These tests need the registry and the router in the module table; until both are there
// they are skipped, not passed.
bool RoutingBuilt() {
  return app::ResolveTargets("registry").ok() && app::ResolveTargets("router").ok();
}

#define UTPOST_SKIP_UNLESS_ROUTING_BUILT()                               \
  do {                                                                   \
    if (!RoutingBuilt()) GTEST_SKIP() << "registry or router not built"; \
  } while (0)

class RouterIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UTPOST_SKIP_UNLESS_ROUTING_BUILT();
    // Routing alone: courier and print would move routed letters on before they are checked.
    stack_ = TestStack::Start({}, {}, "ledger,registry,router");
    ASSERT_NE(stack_, nullptr);
  }
  std::unique_ptr<TestStack> stack_;
};

TEST_F(RouterIntegrationTest, EverySeededCaseIsRoutedWithinASecondWithItsChannelAndReason) {
  SendAndCheck(
      *stack_,
      {
          {"no_mailbox", kNoMailbox, kAuto, kDefaultLevel, false, kRouted, kDigital,
           v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, "provider 'dev'"},
          {"no_mailbox_high", kNoMailbox, kAuto, kHigh, false, kRouted, kDigital,
           v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, ""},
          {"no_reserved", kNoReserved, kAuto, kDefaultLevel, false, kRouted, kPrint,
           v1::STATUS_REASON_RECIPIENT_RESERVED, "postal address from the registry"},
          {"no_without_mailbox", kNoWithoutMailbox, kAuto, kDefaultLevel, false, kRouted, kPrint,
           v1::STATUS_REASON_NO_MAILBOX, "postal address from the registry"},
          {"no_substantial_default", kNoSubstantialOnly, kAuto, kDefaultLevel, false, kRouted,
           kDigital, v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, "provider 'dev-substantial'"},
          {"no_substantial_high", kNoSubstantialOnly, kAuto, kHigh, false, kRouted, kPrint,
           v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED, "supports up to SUBSTANTIAL"},
          {"no_org_inbox", kNoOrgInbox, kAuto, kDefaultLevel, false, kRouted, kInbox,
           v1::STATUS_REASON_HAS_ORGANISATION_INBOX, ""},
          {"no_org_without_inbox", kNoOrgWithoutInbox, kAuto, kDefaultLevel, false, kRouted, kPrint,
           v1::STATUS_REASON_NO_MAILBOX, "organisation has no inbox"},
          {"dk_mailbox", kDkMailbox, kAuto, kDefaultLevel, false, kRouted, kDigital,
           v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, ""},
          {"dk_exempt", kDkExempt, kAuto, kDefaultLevel, false, kRouted, kPrint,
           v1::STATUS_REASON_RECIPIENT_RESERVED, ""},
          {"dk_without_mailbox", kDkWithoutMailbox, kAuto, kDefaultLevel, false, kRouted, kPrint,
           v1::STATUS_REASON_NO_MAILBOX, ""},
          {"dk_substantial_high", kDkSubstantialOnly, kAuto, kHigh, false, kRouted, kPrint,
           v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED, ""},
          {"dk_org_inbox", kDkOrgInbox, kAuto, kDefaultLevel, false, kRouted, kInbox,
           v1::STATUS_REASON_HAS_ORGANISATION_INBOX, ""},
          {"dk_org_without_inbox", kDkOrgWithoutInbox, kAuto, kDefaultLevel, false, kRouted, kPrint,
           v1::STATUS_REASON_NO_MAILBOX, ""},
          // The letter's own address wins over the registry's.
          {"no_reserved_letter_address", kNoReserved, kAuto, kDefaultLevel, true, kRouted, kPrint,
           v1::STATUS_REASON_RECIPIENT_RESERVED, "postal address from the letter"},
          {"no_unknown_letter_address", kNoUnknown, kAuto, kDefaultLevel, true, kRouted, kPrint,
           v1::STATUS_REASON_NO_MAILBOX, "no registry entry"},
      });
}

TEST_F(RouterIntegrationTest, DigitalOnlyFailsWithTheReasonPrintWouldHaveHad) {
  SendAndCheck(*stack_,
               {
                   {"no_mailbox", kNoMailbox, kDigitalOnly, kDefaultLevel, false, kRouted, kDigital,
                    v1::STATUS_REASON_HAS_DIGITAL_MAILBOX, ""},
                   {"no_reserved", kNoReserved, kDigitalOnly, kDefaultLevel, true, kFailed, kNone,
                    v1::STATUS_REASON_RECIPIENT_RESERVED, "digital delivery only"},
                   {"no_without_mailbox", kNoWithoutMailbox, kDigitalOnly, kDefaultLevel, false,
                    kFailed, kNone, v1::STATUS_REASON_NO_MAILBOX, ""},
                   {"no_substantial_high", kNoSubstantialOnly, kDigitalOnly, kHigh, false, kFailed,
                    kNone, v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED, ""},
                   {"no_org_without_inbox", kNoOrgWithoutInbox, kDigitalOnly, kDefaultLevel, false,
                    kFailed, kNone, v1::STATUS_REASON_NO_MAILBOX, ""},
                   {"dk_exempt", kDkExempt, kDigitalOnly, kDefaultLevel, false, kFailed, kNone,
                    v1::STATUS_REASON_RECIPIENT_RESERVED, ""},
                   {"dk_org_inbox", kDkOrgInbox, kDigitalOnly, kDefaultLevel, false, kRouted,
                    kInbox, v1::STATUS_REASON_HAS_ORGANISATION_INBOX, ""},
                   {"dk_unknown", kDkUnknown, kDigitalOnly, kDefaultLevel, true, kFailed, kNone,
                    v1::STATUS_REASON_NO_MAILBOX, "no registry entry"},
               });
}

TEST_F(RouterIntegrationTest, PrintOnlyAndMissingPostalAddresses) {
  SendAndCheck(*stack_,
               {
                   {"print_only_mailbox_letter_address", kNoMailbox, kPrintOnly, kDefaultLevel,
                    true, kRouted, kPrint, v1::STATUS_REASON_SENDER_REQUESTED_PRINT,
                    "postal address from the letter"},
                   {"print_only_registry_address", kNoWithoutMailbox, kPrintOnly, kDefaultLevel,
                    false, kRouted, kPrint, v1::STATUS_REASON_SENDER_REQUESTED_PRINT,
                    "postal address from the registry"},
                   {"print_only_dk_org", kDkOrgWithoutInbox, kPrintOnly, kDefaultLevel, false,
                    kRouted, kPrint, v1::STATUS_REASON_SENDER_REQUESTED_PRINT, ""},
                   // Print is needed, and there is no address in the letter or the registry.
                   {"print_only_no_address", kNoUnknown, kPrintOnly, kDefaultLevel, false, kFailed,
                    kNone, v1::STATUS_REASON_NO_CHANNEL, "manual handling"},
                   {"no_entry_no_address", kNoUnknown, kAuto, kDefaultLevel, false, kFailed, kNone,
                    v1::STATUS_REASON_NO_CHANNEL, "manual handling"},
                   {"dk_no_entry_no_address", kDkUnknown, kAuto, kDefaultLevel, false, kFailed,
                    kNone, v1::STATUS_REASON_NO_CHANNEL, "manual handling"},
               });
}

// A port on 127.0.0.1 where nothing listens (yet).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One utpost process running `targets` on `data_dir`, as TestStack starts "all".
std::unique_ptr<app::App> StartApp(const std::filesystem::path& data_dir, std::string_view targets,
                                   const std::function<void(app::Config&)>& tweak = {}) {
  app::Config config;
  config.data_dir = data_dir;
  config.listen = "127.0.0.1:0";
  if (tweak) tweak(config);
  if (absl::Status s = app::Finalize(config); !s.ok()) {
    ADD_FAILURE() << s;
    return nullptr;
  }
  auto app = std::make_unique<app::App>(config);
  if (absl::Status s = app->Init(targets); !s.ok()) {
    ADD_FAILURE() << targets << ": " << s;
    return nullptr;
  }
  if (absl::Status s = app->Start(); !s.ok()) {
    ADD_FAILURE() << targets << ": " << s;
    return nullptr;
  }
  return app;
}

client::LetterClient ClientOf(app::App& app) {
  client::ConnectionOverrides overrides;
  overrides.config = app.ClientConfigPath(kOslo).string();
  absl::StatusOr<client::ConnectionOptions> options = client::ResolveConnection(overrides);
  EXPECT_TRUE(options.ok()) << options.status();
  options->wait_for_ready = true;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = client::Connect(*options);
  EXPECT_TRUE(channel.ok()) << channel.status();
  return client::LetterClient(*channel, *options, absl::Seconds(30));
}

TEST(RouterProcessesTest, RegistryDownHoldsLettersBackUntilItReturnsAndNeverRoutesWrongly) {
  UTPOST_SKIP_UNLESS_ROUTING_BUILT();
  TempDir dir;
  const int registry_port = FreePort();
  ASSERT_NE(registry_port, 0);
  // The ledger and the router in one process; the registry, in another, not yet started.
  auto front = StartApp(dir.path(), "ledger,router", [&](app::Config& c) {
    c.components.addresses["registry"] = absl::StrCat("127.0.0.1:", registry_port);
    c.router.backoff_min = absl::Milliseconds(200);
    c.router.backoff_max = absl::Seconds(1);
    c.router.rpc_timeout = absl::Seconds(2);
  });
  ASSERT_NE(front, nullptr);
  client::LetterClient client = ClientOf(*front);
  v1::SendLetterRequest request = ValidLetter("registry down");
  *request.mutable_recipient() = Recipient(kNoReserved);
  auto sent = client.Send(request);
  ASSERT_TRUE(sent.ok()) << sent.status();

  auto* router = dynamic_cast<router::RouterModule*>(front->FindModule("router"));
  ASSERT_NE(router, nullptr);
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (router->stats().retried < 2 && absl::Now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(router->stats().retried, 2u);  // given back with backoff, more than once
  auto held = client.Get(sent->letter_id());
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->letter().status(), v1::LETTER_STATUS_ACCEPTED);
  EXPECT_EQ(held->events_size(), 1);

  // The registry comes up where the router looks for it.
  auto registry = StartApp(dir.path(), "registry", [&](app::Config& c) {
    c.listen = absl::StrCat("127.0.0.1:", registry_port);
  });
  ASSERT_NE(registry, nullptr);
  v1::GetLetterResponse got = AwaitDecided(client, sent->letter_id());
  EXPECT_EQ(got.letter().status(), v1::LETTER_STATUS_ROUTED);
  ASSERT_EQ(got.events_size(), 2);
  EXPECT_EQ(got.events(1).channel(), v1::CHANNEL_PRINT);
  EXPECT_EQ(got.events(1).reason(), v1::STATUS_REASON_RECIPIENT_RESERVED);
  front->Stop();
  registry->Stop();
}

TEST(RouterProcessesTest, CancelledLetterIsNeverRouted) {
  UTPOST_SKIP_UNLESS_ROUTING_BUILT();
  TempDir dir;
  std::string cancelled_id;
  {
    // No router yet: the letter waits in ACCEPTED and is cancelled there.
    auto front = StartApp(dir.path(), "ledger,registry");
    ASSERT_NE(front, nullptr);
    client::LetterClient client = ClientOf(*front);
    v1::SendLetterRequest request = ValidLetter("cancelled");
    *request.mutable_recipient() = Recipient(kNoMailbox);
    auto sent = client.Send(request);
    ASSERT_TRUE(sent.ok()) << sent.status();
    cancelled_id = sent->letter_id();
    ASSERT_TRUE(client.Cancel(cancelled_id).ok());
    front->Stop();
  }
  // Now with the router: a letter sent after it is routed, so the router has been through
  // the queue, and the cancelled one is still as it was.
  auto all = StartApp(dir.path(), "all");
  ASSERT_NE(all, nullptr);
  client::LetterClient client = ClientOf(*all);
  v1::SendLetterRequest request = ValidLetter("control");
  *request.mutable_recipient() = Recipient(kNoMailbox);
  auto control = client.Send(request);
  ASSERT_TRUE(control.ok()) << control.status();
  EXPECT_EQ(AwaitDecided(client, control->letter_id()).letter().status(), v1::LETTER_STATUS_ROUTED);
  auto got = client.Get(cancelled_id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->letter().status(), v1::LETTER_STATUS_CANCELLED);
  std::vector<v1::LetterStatus> history;
  for (const auto& e : got->events()) history.push_back(e.status());
  EXPECT_THAT(history, ElementsAre(v1::LETTER_STATUS_ACCEPTED, v1::LETTER_STATUS_CANCELLED));
  all->Stop();
}

}  // namespace
}  // namespace utpost::testutil
