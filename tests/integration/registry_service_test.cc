// The registry through the real App over mutual TLS: who may call which service, lookups,
// upserts and client-streamed imports with bad rows and duplicates, the dev seed, and no
// personal data in clear anywhere in the registry's directory.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "clients/cpp/registry_client.h"
#include "common/field_violations.h"
#include "common/grpc_status.h"
#include "crypto/dev_pki.h"
#include "services/registry/dev_seed.h"
#include "services/registry/registry_module.h"
#include "tests/testutil/test_stack.h"
#include "utpost/internal/v1/registry_lookup.grpc.pb.h"

namespace utpost::testutil {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::RegistryKey PersonKey(const std::string& id) {
  v1::RegistryKey k;
  k.mutable_person()->set_norwegian_national_id(id);
  return k;
}

v1::RegistryEntry Person(const std::string& id, const std::string& name = "",
                         const std::string& provider = "") {
  v1::RegistryEntry e;
  e.mutable_person()->mutable_id()->set_norwegian_national_id(id);
  if (!provider.empty()) {
    e.mutable_person()->mutable_mailbox()->set_provider_id(provider);
    e.mutable_person()->mutable_mailbox()->set_address(name + "@" + provider);
  }
  if (!name.empty()) {
    auto* a = e.mutable_person()->mutable_postal_address();
    a->set_name(name);
    a->add_address_lines(name + "veien 1");
    a->set_postal_code("0155");
    a->set_city("Oslo");
    a->set_country_code("NO");
  }
  return e;
}

class RegistryServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Only Oslo administers the registry; Bergen is an ordinary organisation.
    stack_ = TestStack::Start({}, [](app::Config& c) { c.registry.administrators = {kOslo}; });
    ASSERT_NE(stack_, nullptr);
  }

  client::RegistryClient Client(std::string_view org = kOslo) {
    client::ConnectionOptions options = stack_->Connection(org);
    auto channel = client::Connect(options);
    EXPECT_TRUE(channel.ok());
    return client::RegistryClient(*channel, options);
  }

  registry::RegistryModule& module() {
    return *static_cast<registry::RegistryModule*>(
        stack_->app().FindModule(registry::kRegistryComponent));
  }

  std::unique_ptr<TestStack> stack_;
};

TEST_F(RegistryServiceTest, TheDevSeedIsThereAndLookupsResolveTheProvider) {
  v1::LookupRequest request;
  *request.add_keys() = PersonKey(registry::dev_seed::kPersonWithMailbox);
  *request.add_keys() = PersonKey(registry::dev_seed::kPersonReserved);
  request.add_keys()->mutable_organisation()->set_norwegian_org_number(
      registry::dev_seed::kOrgWithInbox);
  auto response = Client().Lookup(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->results_size(), 3);
  EXPECT_EQ(response->results(0).provider().provider_id(), "dev");
  EXPECT_TRUE(response->results(1).entry().person().reserved());
  EXPECT_EQ(response->results(2).entry().organisation().inbox().provider_id(), "dev");
}

TEST_F(RegistryServiceTest, AnOrganisationThatIsNotAnAdministratorIsRefused) {
  client::RegistryClient bergen = Client(kBergen);
  v1::LookupRequest request;
  *request.add_keys() = PersonKey("15076500565");
  EXPECT_EQ(bergen.Lookup(request).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(bergen.Upsert(Person("17059121030")).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(bergen.Delete(PersonKey("15076500565")).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto stream = bergen.StartImport();
  v1::ImportRequest import;
  v1::ImportRow* row = import.add_rows();
  row->set_line(1);
  *row->mutable_entry() = Person("17059121030");
  (void)stream->Write(import);
  EXPECT_EQ(stream->Finish().status().code(), absl::StatusCode::kPermissionDenied);
  // Nothing changed.
  auto entry = Client().Lookup(request);
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->results(0).entry().person().mailbox().provider_id(), "dev");
}

TEST_F(RegistryServiceTest, AnOrganisationIsRefusedOnTheInternalLookupService) {
  auto channel = client::Connect(stack_->Connection(kOslo));
  ASSERT_TRUE(channel.ok());
  auto stub = internal::v1::RegistryLookupService::NewStub(*channel);
  grpc::ClientContext context;
  internal::v1::LookupRequest request;
  *request.add_keys() = PersonKey("15076500565");
  internal::v1::LookupResponse response;
  EXPECT_EQ(stub->Lookup(&context, request, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(RegistryServiceTest, ImportStreamsReportBadRowsAndTheLastDuplicateWins) {
  auto stream = Client().StartImport();
  v1::ImportRequest first;
  auto add = [](v1::ImportRequest& r, uint64_t line, v1::RegistryEntry e) {
    v1::ImportRow* row = r.add_rows();
    row->set_line(line);
    *row->mutable_entry() = std::move(e);
  };
  add(first, 1, Person("17059121030", "First"));
  add(first, 2, Person("17059121031", "Bad"));  // check digit
  add(first, 3, Person("09116441796", "", "nowhere"));
  ASSERT_TRUE(stream->Write(first));
  v1::ImportRequest second;
  add(second, 4, Person("17059121030", "Second"));  // the same person again: wins
  ASSERT_TRUE(stream->Write(second));
  auto response = stream->Finish();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->imported(), 2u);
  EXPECT_EQ(response->replaced(), 2u) << "the seed had 17059121030, and line 4 replaced line 1";
  EXPECT_EQ(response->error_count(), 2u);
  ASSERT_EQ(response->errors_size(), 2);
  EXPECT_EQ(response->errors(0).line(), 2u);
  EXPECT_EQ(response->errors(0).field(), "person.id.norwegian_national_id");
  EXPECT_EQ(response->errors(1).line(), 3u);
  EXPECT_EQ(response->errors(1).field(), "person.mailbox.provider_id");

  v1::LookupRequest request;
  *request.add_keys() = PersonKey("17059121030");
  *request.add_keys() = PersonKey("09116441796");
  auto got = Client().Lookup(request);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->results(0).entry().person().postal_address().name(), "Second");
  EXPECT_EQ(got->results(1).entry().person().mailbox().provider_id(), "dev-substantial")
      << "a bad row leaves the entry as it was";
}

TEST_F(RegistryServiceTest, AnImportMessageOfMoreThanAThousandRowsEndsTheStream) {
  auto stream = Client().StartImport();
  v1::ImportRequest big;
  for (int i = 0; i < 1001; ++i) {
    v1::ImportRow* row = big.add_rows();
    row->set_line(i + 1);
    *row->mutable_entry() = Person("17059121030");
  }
  (void)stream->Write(big);
  auto response = stream->Finish();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  auto bad = common::GetBadRequest(response.status());
  ASSERT_TRUE(bad.has_value()) << response.status();
  EXPECT_EQ(bad->field_violations(0).field(), "rows");
}

TEST_F(RegistryServiceTest, UpsertOfAMailboxAtAnUnknownProviderIsAFailedPrecondition) {
  auto up = Client().Upsert(Person("17059121030", "X", "nowhere"));
  EXPECT_EQ(up.status().code(), absl::StatusCode::kFailedPrecondition);
  auto bad = common::GetBadRequest(up.status());
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->field_violations(0).field(), "entry.person.mailbox.provider_id");
}

TEST_F(RegistryServiceTest, NoPersonalDataIsInClearInTheRegistryDirectory) {
  ASSERT_TRUE(Client().Upsert(Person("17059121030", "Qzxyvbnmsen", "dev")).ok());
  auto stream = Client().StartImport();
  v1::ImportRequest import;
  v1::ImportRow* row = import.add_rows();
  row->set_line(1);
  *row->mutable_entry() = Person("09116441796", "Wlkjhgfdottir");
  ASSERT_TRUE(stream->Write(import));
  ASSERT_TRUE(stream->Finish().ok());
  const std::filesystem::path dir = stack_->data_dir() / "registry";
  const std::vector<std::string> needles = {"17059121030",       "09116441796",     "15076500565",
                                            "02028234530",       "921837003",       "Qzxyvbnmsen",
                                            "Wlkjhgfdottir",     "Kari Nordmann",   "Storgata",
                                            "kari.nordmann@dev", "Qzxyvbnmsenveien"};
  ASSERT_TRUE(module().store->FlushAndCompact().ok());
  stack_->Stop();
  for (const std::string& needle : needles) {
    EXPECT_THAT(FilesContaining(dir, needle), IsEmpty()) << needle;
  }
  EXPECT_THAT(FilesContaining(dir, "persons"), ::testing::Not(IsEmpty()))
      << "the scan reads the files";
}

// Components' lookups have a pool of their own: with every registry worker busy and its queue
// full (a large import, or administrators at their limit), the router still gets answers.
TEST(RegistryLookupPoolTest, LookupsAreAnsweredWhileTheAdministrativePoolIsFull) {
  auto stack = TestStack::Start({}, [](app::Config& c) {
    c.registry.worker_threads = 1;
    c.registry.max_queued_requests = 1;
  });
  ASSERT_NE(stack, nullptr);
  auto& module = *static_cast<registry::RegistryModule*>(
      stack->app().FindModule(registry::kRegistryComponent));
  // Occupy the one worker and the one queue slot until the lookups are done.
  absl::Notification release;
  absl::BlockingCounter started(1);
  ASSERT_TRUE(module.executor->TrySubmit([&] {
    started.DecrementCount();
    release.WaitForNotification();
  }));
  started.Wait();
  ASSERT_TRUE(module.executor->TrySubmit([&] { release.WaitForNotification(); }));
  ASSERT_FALSE(module.executor->TrySubmit([] {})) << "the administrative pool is not full";

  client::ConnectionOptions options = stack->Connection(kOslo);
  const std::filesystem::path dir = crypto::DevComponentDir(stack->data_dir() / "pki", "router");
  options.ca = dir / "ca.pem";
  options.cert = dir / "client.pem";
  options.key = dir / "client.key";
  auto channel = client::Connect(options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  auto stub = internal::v1::RegistryLookupService::NewStub(*channel);
  for (int i = 0; i < 20; ++i) {
    internal::v1::LookupRequest request;
    *request.add_keys() = PersonKey(registry::dev_seed::kPersonWithMailbox);
    internal::v1::LookupResponse response;
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status status = stub->Lookup(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    ASSERT_EQ(response.results_size(), 1);
    EXPECT_TRUE(response.results(0).has_entry());
  }
  release.Notify();
}

}  // namespace
}  // namespace utpost::testutil
