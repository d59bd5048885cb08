// utpost as separate processes: ledger, registry and router each run as their own
// `utpost --target=...` and talk over mutual TLS on loopback with their component
// certificates. 500 letters are sent; the router is killed with -9 in the middle and started
// again; every letter is routed exactly once, to the channel its recipient calls for.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/e2e/processes.h"

namespace utpost::testutil {
namespace {

namespace fs = std::filesystem;

struct Case {
  const char* recipient;  // as utpostctl takes it
  v1::SecurityLevel level;
  v1::LetterStatus status;
  v1::Channel channel;
  v1::StatusReason reason;
};

// Seeded dev registry (README, "Dev registry").
const Case kCases[] = {
    {"15076500565", v1::SECURITY_LEVEL_UNSPECIFIED, v1::LETTER_STATUS_ROUTED,
     v1::CHANNEL_DIGITAL_MAILBOX, v1::STATUS_REASON_HAS_DIGITAL_MAILBOX},
    {"02028234530", v1::SECURITY_LEVEL_UNSPECIFIED, v1::LETTER_STATUS_ROUTED, v1::CHANNEL_PRINT,
     v1::STATUS_REASON_RECIPIENT_RESERVED},
    {"17059121030", v1::SECURITY_LEVEL_UNSPECIFIED, v1::LETTER_STATUS_ROUTED, v1::CHANNEL_PRINT,
     v1::STATUS_REASON_NO_MAILBOX},
    {"09116441796", v1::SECURITY_LEVEL_HIGH, v1::LETTER_STATUS_ROUTED, v1::CHANNEL_PRINT,
     v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED},
    {"921837003", v1::SECURITY_LEVEL_UNSPECIFIED, v1::LETTER_STATUS_ROUTED,
     v1::CHANNEL_ORGANISATION_INBOX, v1::STATUS_REASON_HAS_ORGANISATION_INBOX},
    {"921837011", v1::SECURITY_LEVEL_UNSPECIFIED, v1::LETTER_STATUS_ROUTED, v1::CHANNEL_PRINT,
     v1::STATUS_REASON_NO_MAILBOX},
};

TEST(MultiProcessTest, ThreeProcessesRouteEveryLetterExactlyOnceThroughARouterKillNine) {
  TempDir root;
  const fs::path data = root.path() / "data";
  const int ledger_port = FreePort(), registry_port = FreePort(), router_port = FreePort();
  auto common_args = [&](const char* target, int port) {
    return std::vector<std::string>{
        absl::StrCat("--target=", target), "--data-dir",  data.string(), "--listen",
        absl::StrCat("127.0.0.1:", port),  "--log-level", "warn"};
  };
  // Short leases, so that the tasks the killed router held come back within the test.
  const fs::path router_yaml = root.path() / "router.yaml";
  std::ofstream(router_yaml) << "router:\n  lease_for: 3s\n  rpc_timeout: 1s\n"
                             << "  poll_interval: 50ms\n  backoff_min: 200ms\n";
  std::vector<std::string> router_args = common_args("router", router_port);
  router_args.insert(router_args.end(),
                     {"-c", router_yaml.string(), "--component-address",
                      absl::StrCat("ledger=127.0.0.1:", ledger_port), "--component-address",
                      absl::StrCat("registry=127.0.0.1:", registry_port)});

  // The ledger first: it makes the dev PKI and the key that the others share.
  Process ledger("ledger", common_args("ledger", ledger_port), root.path() / "ledger.log");
  ASSERT_NO_FATAL_FAILURE(ledger.Start());
  ASSERT_TRUE(WaitServing(data, ledger_port)) << Log(root.path() / "ledger.log");
  Process registry("registry", common_args("registry", registry_port),
                   root.path() / "registry.log");
  ASSERT_NO_FATAL_FAILURE(registry.Start());
  ASSERT_TRUE(WaitServing(data, registry_port)) << Log(root.path() / "registry.log");
  Process router("router", router_args, root.path() / "router.log");
  ASSERT_NO_FATAL_FAILURE(router.Start());
  ASSERT_TRUE(WaitServing(data, router_port)) << Log(root.path() / "router.log");

  constexpr int kLetters = 500;
  constexpr int kSenders = 8;
  std::mutex mu;
  std::map<std::string, const Case*> sent;  // letter id -> its case
  std::atomic<int> acked{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < kSenders; ++t) {
    senders.emplace_back([&, t] {
      const client::ConnectionOptions options = OsloAt(data, ledger_port);
      auto channel = client::Connect(options);
      ASSERT_TRUE(channel.ok());
      client::LetterClient letters(*channel, options, absl::Seconds(30));
      for (int i = t; i < kLetters; i += kSenders) {
        const Case& c = kCases[i % std::size(kCases)];
        v1::SendLetterRequest request = ValidLetter(absl::StrCat("multi-", i), 1024);
        auto recipient = client::RecipientFromIdentifier(c.recipient);
        ASSERT_TRUE(recipient.ok());
        *request.mutable_recipient() = *recipient;
        request.mutable_options()->set_security_level(c.level);
        // Every case has a printable destination: the letter's own address where the
        // registry has none.
        auto* address = request.mutable_postal_address();
        address->set_name("Kari Nordmann");
        address->add_address_lines("Storgata 1");
        address->set_postal_code("0155");
        address->set_city("Oslo");
        address->set_country_code("NO");
        request.set_idempotency_key(absl::StrCat("multi-", i));
        auto response = letters.Send(request);
        ASSERT_TRUE(response.ok()) << response.status();
        std::lock_guard lock(mu);
        sent[response->letter_id()] = &c;
        ++acked;
      }
    });
  }
  // Mid-run: kill the router without warning and start it again.
  while (acked < kLetters / 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int status = router.Kill(SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_NO_FATAL_FAILURE(router.Start());
  for (auto& sender : senders) sender.join();
  ASSERT_EQ(sent.size(), static_cast<size_t>(kLetters));

  // Every letter leaves ACCEPTED (the killed router's leases expire after 3 s).
  const client::ConnectionOptions options = OsloAt(data, ledger_port);
  auto channel = client::Connect(options);
  ASSERT_TRUE(channel.ok());
  client::LetterClient letters(*channel, options, absl::Seconds(30));
  std::set<std::string> pending;
  for (const auto& entry : sent) pending.insert(entry.first);
  std::map<std::string, v1::GetLetterResponse> done = AwaitLetters(
      letters, pending,
      [](const v1::GetLetterResponse& got) {
        return got.letter().status() != v1::LETTER_STATUS_ACCEPTED;
      },
      absl::Seconds(60));
  ASSERT_TRUE(pending.empty()) << pending.size() << " letters still ACCEPTED after 60 s\n"
                               << Log(root.path() / "router.log");
  // Give a duplicate completion time to show, then check each history: exactly one routing
  // event, with the channel and reason of its recipient's case.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  for (const auto& [id, first] : done) {
    auto got = letters.Get(id);
    ASSERT_TRUE(got.ok()) << got.status();
    const Case& c = *sent[id];
    int routings = 0;
    for (const v1::LetterEvent& event : got->events()) {
      if (event.status() == v1::LETTER_STATUS_ROUTED ||
          event.status() == v1::LETTER_STATUS_FAILED) {
        ++routings;
        EXPECT_EQ(event.status(), c.status) << id << " " << c.recipient;
        EXPECT_EQ(event.channel(), c.channel) << id << " " << c.recipient;
        EXPECT_EQ(event.reason(), c.reason) << id << " " << c.recipient;
      }
    }
    EXPECT_EQ(routings, 1) << id << " " << c.recipient << " was routed " << routings << " times";
    EXPECT_EQ(got->events_size(), 2) << id;
  }
  EXPECT_TRUE(ledger.Running());
  EXPECT_TRUE(registry.Running());
  EXPECT_TRUE(router.Running());
}

}  // namespace
}  // namespace utpost::testutil
