// The router module in a process: it asks the ModuleContext for its channels by component
// name at Start, routes over them, and stops before the server does.
#include "services/router/router_module.h"

#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/utpost/config.h"
#include "tests/unit/services/router/fake_components.h"

namespace utpost::router {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A ModuleContext whose channels reach the test doubles, and that records who asked for what.
class FakeContext final : public service::ModuleContext {
 public:
  explicit FakeContext(app::Config config) : config_(std::move(config)), clock_(kStart) {}

  const app::Config& config() const override { return config_; }
  const common::Clock& clock() const override { return clock_; }
  prometheus::Registry& metrics() override { return metrics_; }
  const service::Authenticator& authenticator() const override { return *authenticator_; }
  void AddService(grpc::Service*, std::string full_name) override {
    services_.push_back(std::move(full_name));
  }
  bool RunsHere(std::string_view) const override { return false; }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelTo(std::string_view to,
                                                           std::string_view from) override {
    requests_.push_back(absl::StrCat(common::Av(from), "->", common::Av(to)));
    auto it = addresses_.find(std::string(to));
    if (it == addresses_.end()) {
      return absl::FailedPreconditionError(absl::StrCat("no address for ", common::Av(to)));
    }
    return grpc::CreateChannel(it->second, grpc::InsecureChannelCredentials());
  }

  std::map<std::string, std::string> addresses_;
  std::vector<std::string> requests_;
  std::vector<std::string> services_;

 private:
  app::Config config_;
  common::FakeClock clock_;
  prometheus::Registry metrics_;
  std::unique_ptr<service::Authenticator> authenticator_ =
      service::NewInsecureHeaderAuthenticator("token");
};

app::Config RouterConfigForTest() {
  app::Config config;
  config.router.workers = 2;
  config.router.poll_interval = absl::Milliseconds(20);
  return config;
}

template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 2000 && !done(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

TEST(RouterModuleTest, RoutesOverTheChannelsItsContextGivesAndStops) {
  FakeContext context(RouterConfigForTest());
  FakeLedger ledger(*dynamic_cast<const common::FakeClock*>(&context.clock()));
  FakeRegistry registry;
  Served ledger_server = Serve(&ledger);
  Served registry_server = Serve(&registry);
  context.addresses_ = {{"ledger", ledger_server.address}, {"registry", registry_server.address}};
  const auto person = Person("15076500565");
  registry.Put(person, WithMailbox(person));
  ledger.Add("t", Letter(person));

  auto module = NewRouterModule(context);
  ASSERT_TRUE(module.ok()) << module.status();
  EXPECT_TRUE(context.services_.empty());  // the router serves nothing
  EXPECT_TRUE(context.requests_.empty());  // no channel before Start
  ASSERT_TRUE((*module)->Start().ok());
  EXPECT_THAT(context.requests_, ElementsAre("router->ledger", "router->registry"));
  ASSERT_TRUE(Eventually([&] { return ledger.done() == 1; }));
  (*module)->Stop();
  auto* router_module = dynamic_cast<RouterModule*>(module->get());
  ASSERT_NE(router_module, nullptr);
  EXPECT_EQ(router_module->stats().routed, 1u);
  EXPECT_EQ(ledger.Get("t").completion->transition().channel(), v1::CHANNEL_DIGITAL_MAILBOX);
  // The worker name tells replicas apart.
  ASSERT_FALSE(ledger.leases().empty());
  EXPECT_THAT(ledger.leases()[0].worker(), ::testing::StartsWith("router@"));
  module->reset();
  ledger_server.server->Shutdown();
  registry_server.server->Shutdown();
}

TEST(RouterModuleTest, StartFailsWithoutAnAddressForTheRegistry) {
  FakeContext context(RouterConfigForTest());
  context.addresses_ = {{"ledger", "127.0.0.1:1"}};
  auto module = NewRouterModule(context);
  ASSERT_TRUE(module.ok());
  absl::Status s = (*module)->Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("registry"));
  (*module)->Stop();  // nothing started; nothing to stop
}

TEST(RouterModuleTest, InitRefusesAConfigOutOfRange) {
  app::Config config = RouterConfigForTest();
  config.router.batch_size = 0;
  FakeContext context(config);
  auto module = NewRouterModule(context);
  EXPECT_EQ(module.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(module.status().message()), HasSubstr("router.batch_size"));
}

}  // namespace
}  // namespace utpost::router
