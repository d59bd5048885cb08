// Delivery end to end: the real App with the ledger, the seeded dev registry, the router and
// the courier (RocksDB in a temp dir, the dev PKI, mutual TLS on loopback), and a mailbox
// provider outside utpost: a test double of MailboxProviderService behind TLS with the dev
// server certificate, which demands a client certificate. The courier reaches it as a
// "host:port" endpoint, presenting its component certificate; what arrives is opened with
// `openssl cms -decrypt` and the provider's key; a read receipt makes the letter READ.
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "clients/cpp/registry_client.h"
#include "crypto/dev_provider_cert.h"
#include "tests/testutil/test_stack.h"
#include "tests/unit/services/courier/fakes.h"

namespace utpost::testutil {
namespace {

using courier::FakeProvider;

// The seeded person with a mailbox at provider "dev".
constexpr char kWithMailbox[] = "15076500565";

v1::GetLetterResponse AwaitStatus(client::LetterClient& client, const std::string& letter_id,
                                  v1::LetterStatus status) {
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  v1::GetLetterResponse last;
  while (absl::Now() < give_up) {
    absl::StatusOr<v1::GetLetterResponse> got = client.Get(letter_id);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok()) return last;
    last = *got;
    if (last.letter().status() == status) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << letter_id << " is " << v1::LetterStatus_Name(last.letter().status())
                << ", never " << v1::LetterStatus_Name(status);
  return last;
}

TEST(CourierDeliveryTest, DeliversOverTlsAsCmsAndRecordsTheReadReceipt) {
  auto stack = TestStack::Start(
      {},
      [](app::Config& c) {
        c.courier.poll_interval = absl::Milliseconds(20);
        c.courier.receipt_poll_interval = absl::Milliseconds(50);
        c.courier.receipt_providers = {"dev"};
        c.courier.provider_ca = "pki/ca.pem";
        c.router.poll_interval = absl::Milliseconds(20);
      },
      "ledger,registry,router,courier");
  ASSERT_NE(stack, nullptr);
  const std::filesystem::path pki = stack->data_dir() / "pki";

  // The provider: TLS with the dev server certificate; only clients with a certificate from
  // the dev CA get in.
  FakeProvider provider;
  grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  tls.pem_root_certs = ReadAll(pki / "ca.pem");
  tls.pem_key_cert_pairs.push_back({ReadAll(pki / "server.key"), ReadAll(pki / "server.pem")});
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &port);
  builder.RegisterService(&provider);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  // Point the registry's provider "dev" at it.
  client::ConnectionOptions options = stack->Connection(kOslo);
  auto channel = client::Connect(options);
  ASSERT_TRUE(channel.ok());
  client::RegistryClient registry(*channel, options);
  v1::LookupRequest lookup;
  lookup.add_keys()->set_provider_id("dev");
  auto found = registry.Lookup(lookup);
  ASSERT_TRUE(found.ok()) << found.status();
  v1::RegistryEntry entry = found->results(0).entry();
  ASSERT_TRUE(entry.has_provider());
  entry.mutable_provider()->set_endpoint(absl::StrCat("127.0.0.1:", port));
  entry.mutable_provider()->clear_update_time();
  ASSERT_TRUE(registry.Upsert(entry).ok());

  client::LetterClient letters = stack->Client();
  v1::SendLetterRequest request = ValidLetter("courier-delivery", 300 << 10);
  request.mutable_recipient()->mutable_person()->set_norwegian_national_id(kWithMailbox);
  auto sent = letters.Send(request);
  ASSERT_TRUE(sent.ok()) << sent.status();
  const std::string letter_id = sent->letter_id();

  v1::GetLetterResponse delivered =
      AwaitStatus(letters, letter_id, v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  EXPECT_EQ(delivered.events(delivered.events_size() - 1).reason(),
            v1::STATUS_REASON_PROVIDER_CONFIRMED);

  auto mailbox = provider.mailbox();
  ASSERT_EQ(mailbox.count(letter_id), 1u);
  const FakeProvider::Delivered& d = mailbox.at(letter_id);
  EXPECT_EQ(d.provider_id, "dev");
  EXPECT_EQ(d.header.sender(), kOslo);
  ASSERT_EQ(d.envelopes.size(), 1u);
  const std::filesystem::path in = stack->data_dir() / "envelope.der";
  const std::filesystem::path out = stack->data_dir() / "document.pdf";
  std::ofstream(in, std::ios::binary) << d.envelopes[0];
  const std::filesystem::path key = crypto::DevProviderDir(pki / "providers", "dev") / "key.pem";
  const std::string command =
      absl::StrCat("openssl cms -decrypt -inform DER -inkey '", key.string(), "' -in '",
                   in.string(), "' -out '", out.string(), "' 2>&1");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  EXPECT_EQ(ReadAll(out), request.documents(0).content());

  provider.AddReceipt("receipt-1", letter_id);
  v1::GetLetterResponse read = AwaitStatus(letters, letter_id, v1::LETTER_STATUS_READ);
  EXPECT_EQ(read.events(read.events_size() - 1).reason(), v1::STATUS_REASON_RECIPIENT_OPENED);
  for (int i = 0; i < 500 && provider.acknowledged().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(provider.acknowledged(), std::vector<std::string>{"receipt-1"});

  stack->Stop();
  server->Shutdown();
}

}  // namespace
}  // namespace utpost::testutil
