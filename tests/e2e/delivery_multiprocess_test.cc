// The whole way of a letter with every component in its own process: ledger, registry,
// router, courier, print and mailbox-sim each run as `utpost --target=...` and talk over
// mutual TLS on loopback. 1 000 letters flow while the simulator fails a share of deliveries
// (transiently) and its recipients read only half of their letters; the courier, the
// simulator (the provider) and then the ledger are killed with -9 and started again mid-run.
// At the end every letter has exactly one final outcome, and no mailbox or print batch holds
// a letter twice.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/e2e/processes.h"
#include "tests/testutil/pdfs.h"
#include "utpost/sim/v1/mailbox_sim.grpc.pb.h"

namespace utpost::testutil {
namespace {

namespace fs = std::filesystem;

// How a letter to each seeded recipient ends (README, "Dev registry").
struct Case {
  const char* recipient;
  v1::SecurityLevel level;
  bool print_if_unread;  // the letter asks to be printed if unread after 2 s
};
const Case kCases[] = {
    {"15076500565", v1::SECURITY_LEVEL_UNSPECIFIED, false},  // mailbox
    {"15076500565", v1::SECURITY_LEVEL_UNSPECIFIED, true},   // mailbox, printed if unread
    {"02028234530", v1::SECURITY_LEVEL_UNSPECIFIED, false},  // reserved: print
    {"17059121030", v1::SECURITY_LEVEL_UNSPECIFIED, false},  // no mailbox: print
    {"921837003", v1::SECURITY_LEVEL_UNSPECIFIED, false},    // organisation inbox
};

// A final outcome: nothing more will happen to the letter.
bool IsFinal(const v1::GetLetterResponse& got) {
  switch (got.letter().status()) {
    case v1::LETTER_STATUS_READ:
    case v1::LETTER_STATUS_PRINTED:
    case v1::LETTER_STATUS_FAILED:
    case v1::LETTER_STATUS_CANCELLED:
      return true;
    case v1::LETTER_STATUS_DELIVERED_DIGITALLY:
      // Delivered, and no print deadline that could still send it to paper.
      return !got.letter().options().has_print_if_unread_after();
    default:
      return false;
  }
}

TEST(DeliveryMultiProcessTest, EveryLetterEndsOnceThroughCourierProviderAndLedgerKillNine) {
  TempDir root;
  const fs::path data = root.path() / "data";
  const std::map<std::string, int> ports = {{"ledger", FreePort()}, {"registry", FreePort()},
                                            {"router", FreePort()}, {"courier", FreePort()},
                                            {"print", FreePort()},  {"mailbox-sim", FreePort()}};
  // Short leases and backoffs, so that what a killed process held comes back within the test;
  // a quick simulator that fails one delivery in five and whose recipients read half.
  const fs::path yaml = root.path() / "utpost.yaml";
  std::ofstream(yaml)
      << "ledger:\n  min_print_if_unread_after: 1s\n"
      << "router:\n  lease_for: 3s\n  rpc_timeout: 1s\n  poll_interval: 50ms\n"
      << "  backoff_min: 200ms\n"
      << "courier:\n  lease_for: 3s\n  rpc_timeout: 1s\n  poll_interval: 50ms\n"
      << "  backoff_min: 100ms\n  backoff_max: 1s\n  retry_deadline: 60s\n"
      << "  provider_timeout: 1s\n  receipt_poll_interval: 200ms\n"
      << "print:\n  lease_for: 10s\n  rpc_timeout: 2s\n  poll_interval: 50ms\n  batch_window: 1s\n"
      << "  batch_max_letters: 100\n  status_poll_interval: 200ms\n"
      << "mailbox_sim:\n  fail_share: 0.2\n  read_share: 0.5\n  read_delay: 500ms\n"
      << "  print_delay: 500ms\n";
  auto args = [&](const std::string& target) {
    std::vector<std::string> a = {absl::StrCat("--target=", target),
                                  "--data-dir",
                                  data.string(),
                                  "--listen",
                                  absl::StrCat("127.0.0.1:", ports.at(target)),
                                  "--log-level",
                                  "warn",
                                  "-c",
                                  yaml.string()};
    for (const auto& [name, port] : ports) {
      if (name == target) continue;
      a.push_back("--component-address");
      a.push_back(absl::StrCat(name, "=127.0.0.1:", port));
    }
    return a;
  };
  std::map<std::string, std::unique_ptr<Process>> processes;
  // The ledger first: it makes the dev PKI and the key that the others share.
  for (const char* name : {"ledger", "registry", "mailbox-sim", "router", "courier", "print"}) {
    auto process =
        std::make_unique<Process>(name, args(name), root.path() / (name + std::string(".log")));
    ASSERT_NO_FATAL_FAILURE(process->Start());
    ASSERT_TRUE(WaitServing(data, ports.at(name)))
        << Log(root.path() / (name + std::string(".log")));
    processes[name] = std::move(process);
  }

  constexpr int kLetters = 1000;
  constexpr int kSenders = 8;
  std::mutex mu;
  std::map<std::string, const Case*> sent;  // letter id -> its case
  std::atomic<int> acked{0};
  std::vector<std::thread> senders;
  const std::string a4 = MakePdf({kA4Page});
  for (int t = 0; t < kSenders; ++t) {
    senders.emplace_back([&, t] {
      const client::ConnectionOptions options = OsloAt(data, ports.at("ledger"));
      auto channel = client::Connect(options);
      ASSERT_TRUE(channel.ok());
      client::LetterClient letters(*channel, options, absl::Seconds(30));
      for (int i = t; i < kLetters; i += kSenders) {
        const Case& c = kCases[i % std::size(kCases)];
        v1::SendLetterRequest request = ValidLetter(absl::StrCat("delivery-", i), 2048);
        // A real A4 page, so that the letters that go to paper can be printed.
        request.mutable_documents(0)->set_content(a4);
        auto recipient = client::RecipientFromIdentifier(c.recipient);
        ASSERT_TRUE(recipient.ok());
        *request.mutable_recipient() = *recipient;
        request.mutable_options()->set_security_level(c.level);
        if (c.print_if_unread) {
          request.mutable_options()->mutable_print_if_unread_after()->set_seconds(2);
        }
        auto* address = request.mutable_postal_address();
        address->set_name("Kari Nordmann");
        address->add_address_lines("Storgata 1");
        address->set_postal_code("0155");
        address->set_city("Oslo");
        address->set_country_code("NO");
        request.set_idempotency_key(absl::StrCat("delivery-", i));
        // The ledger is killed mid-run: retry with the same idempotency key until it answers.
        absl::StatusOr<v1::SendLetterResponse> response;
        const absl::Time give_up = absl::Now() + absl::Seconds(60);
        do {
          response = letters.Send(request);
          if (!response.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        } while (!response.ok() && absl::Now() < give_up);
        ASSERT_TRUE(response.ok()) << response.status();
        std::lock_guard lock(mu);
        sent[response->letter_id()] = &c;
        ++acked;
      }
    });
  }
  // Mid-run: kill the courier, then the provider, then the ledger, without warning, and start
  // each again. The provider may have stored a letter it never answered for: the courier's
  // retry must find it there (a replay), not store it twice.
  auto kill_and_restart = [&](const char* name) {
    const int status = processes.at(name)->Kill(SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << name;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_NO_FATAL_FAILURE(processes.at(name)->Start());
  };
  while (acked < kLetters / 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_NO_FATAL_FAILURE(kill_and_restart("courier"));
  while (acked < kLetters / 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_NO_FATAL_FAILURE(kill_and_restart("mailbox-sim"));
  while (acked < 2 * kLetters / 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_NO_FATAL_FAILURE(kill_and_restart("ledger"));
  for (auto& sender : senders) sender.join();
  ASSERT_EQ(sent.size(), static_cast<size_t>(kLetters));

  const client::ConnectionOptions options = OsloAt(data, ports.at("ledger"));
  auto channel = client::Connect(options);
  ASSERT_TRUE(channel.ok());
  client::LetterClient letters(*channel, options, absl::Seconds(30));
  std::set<std::string> pending;
  for (const auto& entry : sent) pending.insert(entry.first);
  std::map<std::string, v1::GetLetterResponse> done =
      AwaitLetters(letters, pending, IsFinal, absl::Seconds(120), absl::Milliseconds(250));
  std::map<std::string, int> stuck;  // status of the letters without a final outcome
  for (const std::string& id : pending) {
    auto got = letters.Get(id);
    if (got.ok()) ++stuck[v1::LetterStatus_Name(got->letter().status())];
  }
  std::string stuck_text;
  for (const auto& [status, count] : stuck) absl::StrAppend(&stuck_text, status, "=", count, " ");
  ASSERT_TRUE(pending.empty()) << pending.size()
                               << " letters without a final outcome: " << stuck_text << "\n"
                               << Log(root.path() / "courier.log")
                               << Log(root.path() / "print.log");

  // Time for a duplicate to show; then each history has each step at most once, and the
  // outcome its recipient's case calls for.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  int delivered = 0, printed = 0;
  std::map<std::string, int> outcomes;
  for (const auto& [id, first] : done) {
    auto got = letters.Get(id);
    ASSERT_TRUE(got.ok()) << got.status();
    // Only a read receipt may still come for a delivered letter.
    if (!(first.letter().status() == v1::LETTER_STATUS_DELIVERED_DIGITALLY &&
          got->letter().status() == v1::LETTER_STATUS_READ)) {
      EXPECT_EQ(got->letter().status(), first.letter().status()) << id << " moved after its end";
    }
    std::map<v1::LetterStatus, int> steps;
    for (const v1::LetterEvent& event : got->events()) ++steps[event.status()];
    for (const auto& [status, count] : steps) {
      EXPECT_EQ(count, 1) << id << " " << v1::LetterStatus_Name(status) << " " << count << " times";
    }
    const Case& c = *sent[id];
    const v1::LetterStatus status = got->letter().status();
    ++outcomes[v1::LetterStatus_Name(status)];
    if (steps.count(v1::LETTER_STATUS_DELIVERED_DIGITALLY)) ++delivered;
    if (status == v1::LETTER_STATUS_PRINTED) ++printed;
    if (std::string(c.recipient) == "02028234530" || std::string(c.recipient) == "17059121030") {
      EXPECT_EQ(status, v1::LETTER_STATUS_PRINTED) << id << " " << c.recipient;
    } else if (!c.print_if_unread) {
      EXPECT_TRUE(status == v1::LETTER_STATUS_DELIVERED_DIGITALLY ||
                  status == v1::LETTER_STATUS_READ)
          << id << " " << c.recipient << " " << v1::LetterStatus_Name(status);
    } else {
      EXPECT_TRUE(status == v1::LETTER_STATUS_READ || status == v1::LETTER_STATUS_PRINTED)
          << id << " " << v1::LetterStatus_Name(status);
    }
  }
  // Some of each way happened, so the run proved something.
  EXPECT_GT(outcomes["LETTER_STATUS_READ"], 0);
  EXPECT_GT(outcomes["LETTER_STATUS_PRINTED"], 0);
  EXPECT_GT(outcomes["LETTER_STATUS_DELIVERED_DIGITALLY"], 0);

  // The simulator's own store: every delivered letter once, every printed letter in one batch.
  auto sim_channel = client::Connect(OsloAt(data, ports.at("mailbox-sim")));
  ASSERT_TRUE(sim_channel.ok());
  auto sim = sim::v1::MailboxSimControlService::NewStub(*sim_channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  sim::v1::GetStatusResponse status;
  ASSERT_TRUE(sim->GetStatus(&context, sim::v1::GetStatusRequest(), &status).ok());
  uint64_t in_mailboxes = 0, in_batches = 0, injected = 0;
  for (const sim::v1::ProviderStatus& provider : status.providers()) {
    EXPECT_EQ(provider.duplicates(), 0u) << provider.provider_id();
    in_mailboxes += provider.letters();
    in_batches += provider.batch_letters();
    injected += provider.injected_failures();
  }
  EXPECT_EQ(in_mailboxes, static_cast<uint64_t>(delivered));
  EXPECT_EQ(in_batches, static_cast<uint64_t>(printed));
  EXPECT_GT(injected, 0u) << "the simulator failed no delivery";
  for (const auto& [name, process] : processes) EXPECT_TRUE(process->Running()) << name;
}

}  // namespace
}  // namespace utpost::testutil
