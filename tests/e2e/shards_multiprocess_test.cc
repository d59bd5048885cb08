// Two ledger shards, each its own process and data directory: Oslo's letters on one, Bergen's
// (the default shard) on the other; registry, router, courier, print and mailbox-sim in
// processes of their own that lease from both. Letters of both municipalities reach the
// mailbox, the organisation inbox and print. A caller at the wrong shard gets
// FAILED_PRECONDITION with a google.rpc.ErrorInfo naming the right one, which the C++ client
// and utpostctl follow.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/shards.h"
#include "tests/e2e/processes.h"
#include "tests/testutil/pdfs.h"
#include "tests/testutil/shell.h"

namespace utpost::testutil {
namespace {

namespace fs = std::filesystem;

client::ConnectionOptions As(const fs::path& data_dir, std::string_view org, int port) {
  client::ConnectionOptions options = OsloAt(data_dir, port);
  const fs::path dir = crypto::DevClientDir(data_dir / "pki", org);
  options.ca = dir / "ca.pem";
  options.cert = dir / "client.pem";
  options.key = dir / "client.key";
  return options;
}

bool Ended(const v1::GetLetterResponse& got) {
  const v1::Letter& l = got.letter();
  return l.status() == v1::LETTER_STATUS_READ || l.status() == v1::LETTER_STATUS_PRINTED ||
         (l.status() == v1::LETTER_STATUS_DELIVERED_DIGITALLY &&
          l.channel() == v1::CHANNEL_ORGANISATION_INBOX);
}

TEST(ShardsMultiProcessTest, TwoShardsDeliverAndAWrongShardIsRedirected) {
  TempDir root;
  const fs::path data_a = root.path() / "shard-a";
  const fs::path data_b = root.path() / "shard-b";
  const int port_a = FreePort();
  const int port_b = FreePort();
  const std::map<std::string, int> ports = {{"registry", FreePort()},
                                            {"router", FreePort()},
                                            {"courier", FreePort()},
                                            {"print", FreePort()},
                                            {"mailbox-sim", FreePort()}};
  const fs::path yaml = root.path() / "utpost.yaml";
  std::ofstream(yaml) << "shards:\n"
                      << "  - name: shard-a\n    address: 127.0.0.1:" << port_a << "\n"
                      << "    organisations: [NO958935420]\n"
                      << "  - name: shard-b\n    address: 127.0.0.1:" << port_b << "\n"
                      << "    default: true\n"
                      << "router:\n  poll_interval: 50ms\n"
                      << "courier:\n  poll_interval: 50ms\n  receipt_poll_interval: 200ms\n"
                      << "print:\n  poll_interval: 50ms\n  batch_window: 1s\n"
                      << "  status_poll_interval: 200ms\n"
                      << "mailbox_sim:\n  read_delay: 300ms\n  print_delay: 300ms\n";
  auto args = [&](const std::string& target, const fs::path& data, int port) {
    std::vector<std::string> a = {absl::StrCat("--target=", target),
                                  "--data-dir",
                                  data.string(),
                                  "--listen",
                                  absl::StrCat("127.0.0.1:", port),
                                  "--log-level",
                                  "warn",
                                  "-c",
                                  yaml.string()};
    for (const auto& [name, p] : ports) {
      if (name == target) continue;
      a.push_back("--component-address");
      a.push_back(absl::StrCat(name, "=127.0.0.1:", p));
    }
    return a;
  };
  std::vector<std::unique_ptr<Process>> processes;
  auto start = [&](const std::string& name, std::vector<std::string> a, const fs::path& data,
                   int port) {
    const fs::path log = root.path() / (name + ".log");
    auto process = std::make_unique<Process>(name, std::move(a), log);
    process->Start();
    ASSERT_TRUE(WaitServing(data, port)) << Log(log);
    processes.push_back(std::move(process));
  };
  // Shard a makes the dev PKI and the key-encryption key; shard b shares them.
  std::vector<std::string> a_args = args("ledger", data_a, port_a);
  a_args.push_back("--shard=shard-a");
  ASSERT_NO_FATAL_FAILURE(start("ledger-a", a_args, data_a, port_a));
  for (const char* shared : {"pki", "pki-ca", "keys"}) {
    fs::create_directories(data_b / shared);
    fs::copy(data_a / shared, data_b / shared, fs::copy_options::recursive);
  }
  std::vector<std::string> b_args = args("ledger", data_b, port_b);
  b_args.push_back("--shard=shard-b");
  ASSERT_NO_FATAL_FAILURE(start("ledger-b", b_args, data_b, port_b));
  for (const char* name : {"registry", "mailbox-sim", "router", "courier", "print"}) {
    ASSERT_NO_FATAL_FAILURE(
        start(name, args(name, data_a, ports.at(name)), data_a, ports.at(name)));
  }

  // Each municipality at its own shard: a mailbox, print (reserved), an organisation inbox.
  std::map<std::string, std::set<std::string>> ids;  // org -> letters
  for (const auto& [org, port] :
       {std::pair{std::string(kOslo), port_a}, std::pair{std::string(kBergen), port_b}}) {
    const client::ConnectionOptions options = As(data_a, org, port);
    client::LetterClient letters(*client::Connect(options), options, absl::Seconds(30));
    for (const char* to : {"15076500565", "02028234530", "921837003"}) {
      auto sent = letters.Send(AddressedLetterTo(to, absl::StrCat(org, "-", to)));
      ASSERT_TRUE(sent.ok()) << org << " " << to << ": " << sent.status();
      ids[org].insert(sent->letter_id());
    }
  }
  for (auto& [org, letters_of_org] : ids) {
    const client::ConnectionOptions options = As(data_a, org, org == kOslo ? port_a : port_b);
    client::LetterClient letters(*client::Connect(options), options, absl::Seconds(30));
    std::set<std::string> waiting = letters_of_org;
    AwaitLetters(letters, waiting, Ended, absl::Seconds(60));
    EXPECT_TRUE(waiting.empty()) << org << ": " << waiting.size() << " letters did not arrive\n"
                                 << Log(root.path() / "courier.log")
                                 << Log(root.path() / "print.log");
  }

  // Oslo at Bergen's shard: the redirect, as a raw call sees it...
  const client::ConnectionOptions oslo_at_b = As(data_a, kOslo, port_b);
  auto channel = client::Connect(oslo_at_b);
  ASSERT_TRUE(channel.ok());
  auto stub = v1::LetterService::NewStub(*channel);
  grpc::ClientContext context;
  v1::ListLettersRequest list;
  v1::ListLettersResponse listed;
  const absl::Status refused = common::FromGrpcStatus(stub->ListLetters(&context, list, &listed));
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_EQ(common::WrongShardAddress(refused), absl::StrCat("127.0.0.1:", port_a)) << refused;
  // ...and the client follows it: Oslo's own letters, from shard a.
  client::LetterClient following(*channel, oslo_at_b, absl::Seconds(30));
  auto followed = following.List(list);
  ASSERT_TRUE(followed.ok()) << followed.status();
  EXPECT_EQ(followed->letters_size(), 3);
  auto sent_via_b = following.Send(AddressedLetterTo("15076500565", "oslo-via-b"));
  ASSERT_TRUE(sent_via_b.ok()) << sent_via_b.status();
  const client::ConnectionOptions oslo_at_a = As(data_a, kOslo, port_a);
  client::LetterClient at_a(*client::Connect(oslo_at_a), oslo_at_a);
  EXPECT_TRUE(at_a.Get(sent_via_b->letter_id()).ok());

  // utpostctl too: Bergen's config file of shard b's directory names shard b; Oslo's names it
  // as well, and is sent on to shard a.
  const ShellResult ctl = Shell(
      absl::StrCat(UTPOSTCTL_BINARY, " --config ", (data_b / "utpostctl.yaml").string(), " list"));
  EXPECT_EQ(ctl.exit_code, 0) << ctl.out;
  EXPECT_NE(ctl.out.find(sent_via_b->letter_id()), std::string::npos) << ctl.out;
}

}  // namespace
}  // namespace utpost::testutil
