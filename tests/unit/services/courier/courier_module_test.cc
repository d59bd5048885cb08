// The courier module in a process: it asks the ModuleContext for the ledger's and the
// registry's channels at Start, reaches a provider whose endpoint names a component through
// the context too, counts its deliveries in the process's metrics, and stops.
#include "services/courier/courier_module.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/strings.h"
#include "crypto/dev_provider_cert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/utpost/config.h"
#include "tests/testutil/files.h"
#include "tests/unit/services/courier/fakes.h"

namespace utpost::courier {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

class FakeContext final : public service::ModuleContext {
 public:
  explicit FakeContext(app::Config config) : config_(std::move(config)), clock_(kStart) {}

  const app::Config& config() const override { return config_; }
  const common::Clock& clock() const override { return clock_; }
  prometheus::Registry& metrics() override { return metrics_; }
  const service::Authenticator& authenticator() const override { return *authenticator_; }
  void AddService(grpc::Service*, std::string) override {}
  bool RunsHere(std::string_view) const override { return false; }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelTo(std::string_view to,
                                                           std::string_view from) override {
    std::lock_guard lock(mu_);
    requests_.push_back(absl::StrCat(common::Av(from), "->", common::Av(to)));
    auto it = addresses_.find(std::string(to));
    if (it == addresses_.end()) {
      return absl::FailedPreconditionError(absl::StrCat("no address for ", common::Av(to)));
    }
    return grpc::CreateChannel(it->second, grpc::InsecureChannelCredentials());
  }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

  common::FakeClock& fake_clock() { return clock_; }
  std::map<std::string, std::string> addresses_;

 private:
  app::Config config_;
  common::FakeClock clock_;
  prometheus::Registry metrics_;
  std::unique_ptr<service::Authenticator> authenticator_ =
      service::NewInsecureHeaderAuthenticator("token");
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
};

template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 2000 && !done(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

TEST(CourierModuleTest, DeliversThroughAProviderThatIsAComponentAndCountsIt) {
  app::Config config;
  config.insecure = true;  // no certificate files in this test
  config.courier.poll_interval = absl::Milliseconds(20);
  config.courier.receipt_providers = {};
  FakeContext context(config);
  FakeLedger ledger(context.fake_clock());
  FakeRegistry registry;
  FakeProvider provider;
  Served ledger_server = Serve(&ledger);
  Served registry_server = Serve(&registry);
  Served provider_server = Serve(&provider);
  context.addresses_ = {{"ledger", ledger_server.address},
                        {"registry", registry_server.address},
                        {"mailbox-sim", provider_server.address}};
  testutil::TempDir dir("courier-module");
  absl::StatusOr<std::string> cert =
      crypto::EnsureDevProviderCertificate(dir.path(), "dev", "utpost dev mailbox");
  ASSERT_TRUE(cert.ok()) << cert.status();
  v1::Provider dev = MakeProvider("dev", "mailbox-sim");
  dev.set_encryption_certificate_pem(*cert);
  registry.Put(Person("15076500565"), WithMailbox(Person("15076500565"), dev));
  ledger.Add("t1", internal::v1::TASK_KIND_DELIVER_DIGITAL, Letter(Person("15076500565")), {"doc"});

  absl::StatusOr<std::unique_ptr<service::Module>> module = NewCourierModule(context);
  ASSERT_TRUE(module.ok()) << module.status();
  ASSERT_TRUE((*module)->Start().ok());
  EXPECT_TRUE(Eventually([&] { return ledger.Get("t1").done; }));
  (*module)->Stop();
  EXPECT_EQ(ledger.Get("t1").letter_status, v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  EXPECT_EQ(provider.mailbox().size(), 1u);
  EXPECT_THAT(context.requests(), Contains("courier->ledger"));
  EXPECT_THAT(context.requests(), Contains("courier->registry"));
  EXPECT_THAT(context.requests(), Contains("courier->mailbox-sim"));
  EXPECT_EQ(static_cast<CourierModule&>(**module).stats().delivered, 1u);

  prometheus::TextSerializer text;
  const std::string exposed = text.Serialize(context.metrics().Collect());
  EXPECT_THAT(
      exposed,
      HasSubstr("utpost_courier_deliveries_total{outcome=\"delivered\",provider=\"dev\"} 1"));
  EXPECT_THAT(exposed,
              HasSubstr("utpost_courier_delivery_duration_seconds_count{provider=\"dev\"} 1"));
  for (Served* s : {&ledger_server, &registry_server, &provider_server}) s->server->Shutdown();
}

// The envelopes the courier makes (CmsEnvelopes) are opened by `openssl cms -decrypt` with the
// provider's key; a document larger than a chunk crosses several ReadDocuments and Deliver
// messages on the way.
TEST(CourierCmsTest, TheProviderOpensEveryDocumentWithOpenssl) {
  testutil::TempDir dir("courier-cms");
  absl::StatusOr<std::string> cert =
      crypto::EnsureDevProviderCertificate(dir.path(), "dev", "utpost dev mailbox");
  ASSERT_TRUE(cert.ok()) << cert.status();
  const std::filesystem::path key = crypto::DevProviderDir(dir.path(), "dev") / "key.pem";

  common::FakeClock clock(kStart);
  FakeLedger ledger(clock);
  FakeRegistry registry;
  FakeProvider provider;
  Served ledger_server = Serve(&ledger);
  Served registry_server = Serve(&registry);
  Served provider_server = Serve(&provider);
  v1::Provider dev = MakeProvider("dev", provider_server.address);
  dev.set_encryption_certificate_pem(*cert);
  registry.Put(Person("15076500565"), WithMailbox(Person("15076500565"), dev));
  std::string large;
  for (int i = 0; large.size() < (700 << 10); ++i) large += absl::StrCat("line ", i, "\n");
  const std::vector<std::string> documents = {"%PDF-1.4 small document", large};
  internal::v1::TaskLetter letter = Letter(Person("15076500565"));
  ledger.Add("t1", internal::v1::TASK_KIND_DELIVER_DIGITAL, letter, documents);

  CourierConfig config;
  config.receipt_providers = {};
  Courier courier(
      config, grpc::CreateChannel(ledger_server.address, grpc::InsecureChannelCredentials()),
      grpc::CreateChannel(registry_server.address, grpc::InsecureChannelCredentials()),
      [](std::string_view endpoint) -> absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> {
        return grpc::CreateChannel(std::string(endpoint), grpc::InsecureChannelCredentials());
      },
      CmsEnvelopes(), clock, nullptr);
  ASSERT_TRUE(courier.LeaseOnce().ok());
  courier.AwaitIdle();
  courier.Stop();
  ASSERT_EQ(ledger.Get("t1").letter_status, v1::LETTER_STATUS_DELIVERED_DIGITALLY);

  auto mailbox = provider.mailbox();
  ASSERT_EQ(mailbox.count(letter.letter_id()), 1u);
  const FakeProvider::Delivered& d = mailbox.at(letter.letter_id());
  ASSERT_EQ(d.envelopes.size(), documents.size());
  EXPECT_GT(d.documents[1].envelope_size(), kMaxEnvelopeChunk);
  for (size_t i = 0; i < documents.size(); ++i) {
    // Nothing of the content is readable in the envelope.
    EXPECT_EQ(d.envelopes[i].find(documents[i].substr(0, 20)), std::string::npos);
    const std::filesystem::path in = dir.path() / absl::StrCat("envelope", i, ".der");
    const std::filesystem::path out = dir.path() / absl::StrCat("document", i);
    std::ofstream(in, std::ios::binary) << d.envelopes[i];
    const std::string command =
        absl::StrCat("openssl cms -decrypt -inform DER -inkey '", key.string(), "' -in '",
                     in.string(), "' -out '", out.string(), "' 2>&1");
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    EXPECT_EQ(testutil::ReadAll(out), documents[i]) << "document " << i;
  }
  for (Served* s : {&ledger_server, &registry_server, &provider_server}) s->server->Shutdown();
}

TEST(CourierModuleTest, ABadConfigIsRefusedBeforeStart) {
  app::Config config;
  config.courier.workers = 0;
  FakeContext context(config);
  EXPECT_EQ(NewCourierModule(context).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CourierModuleTest, StartFailsWhenTheLedgerCannotBeReached) {
  app::Config config;
  config.insecure = true;
  FakeContext context(config);
  auto module = NewCourierModule(context);
  ASSERT_TRUE(module.ok());
  EXPECT_EQ((*module)->Start().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace utpost::courier
