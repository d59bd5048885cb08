// Who may call what, through the real App over mutual TLS: organisations call public
// services only, components internal services only, and nothing a network peer sends makes
// its call look like an in-process call of a component.
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include "common/call_headers.h"
#include "crypto/dev_pki.h"
#include "tests/testutil/test_stack.h"
#include "utpost/internal/v1/tasks.grpc.pb.h"
#include "utpost/v1/letters.grpc.pb.h"

namespace utpost::testutil {
namespace {

class ComponentIdentityTest : public testing::Test {
 protected:
  void SetUp() override {
    stack_ = TestStack::Start();
    ASSERT_NE(stack_, nullptr);
  }

  // Connection settings of component `name`, with its dev certificate.
  client::ConnectionOptions AsComponent(std::string_view name) const {
    client::ConnectionOptions options = stack_->Connection(kOslo);
    const std::filesystem::path dir = crypto::DevComponentDir(stack_->data_dir() / "pki", name);
    options.ca = dir / "ca.pem";
    options.cert = dir / "client.pem";
    options.key = dir / "client.key";
    return options;
  }

  std::unique_ptr<TestStack> stack_;
};

TEST_F(ComponentIdentityTest, AComponentCertificateIsRefusedOnLetterService) {
  for (const char* component : {"ledger", "router", "registry"}) {
    client::ConnectionOptions options = AsComponent(component);
    ASSERT_TRUE(std::filesystem::exists(options.cert))
        << "dev PKI made no certificate for " << component;
    auto channel = client::Connect(options);
    ASSERT_TRUE(channel.ok()) << channel.status();
    client::LetterClient letters(*channel, options, absl::Seconds(30));
    auto sent = letters.Send(ValidLetter("from a component"));
    EXPECT_EQ(sent.status().code(), absl::StatusCode::kPermissionDenied) << sent.status();
    EXPECT_NE(sent.status().message().find("for organisations"), absl::string_view::npos);
    v1::ListLettersRequest list;
    EXPECT_EQ(letters.List(list).status().code(), absl::StatusCode::kPermissionDenied);
  }
  // The organisation's own certificate still works.
  EXPECT_TRUE(stack_->Client(kOslo).Send(ValidLetter("from Oslo")).ok());
}

TEST_F(ComponentIdentityTest, AnOrganisationCertificateIsRefusedOnTaskService) {
  client::ConnectionOptions options = stack_->Connection(kOslo);
  auto channel = client::Connect(options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  auto tasks = internal::v1::TaskService::NewStub(*channel);
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  internal::v1::LeaseTasksRequest request;
  request.set_kind(internal::v1::TASK_KIND_ROUTE);
  request.set_max_tasks(10);
  request.mutable_lease_for()->set_seconds(30);
  internal::v1::LeaseTasksResponse response;
  grpc::Status status = tasks->LeaseTasks(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_EQ(response.tasks_size(), 0);
}

TEST_F(ComponentIdentityTest, AForgedInProcessTokenFromTheNetworkIsUnauthenticated) {
  client::ConnectionOptions options = stack_->Connection(kOslo);
  auto channel = client::Connect(options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  auto letters = v1::LetterService::NewStub(*channel);
  for (const std::string& token : {std::string(64, '0'), std::string(), std::string("x")}) {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.AddMetadata(common::kInProcessTokenHeader, token);
    context.AddMetadata(common::kComponentHeader, "router");
    v1::GetLetterRequest request;
    request.set_letter_id("01JD0000000000000000000000");
    v1::GetLetterResponse response;
    grpc::Status status = letters->GetLetter(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  }
  // A component header without a token is ignored under mutual TLS: the certificate speaks.
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.AddMetadata(common::kComponentHeader, "router");
  v1::GetLetterRequest request;
  request.set_letter_id("01JD0000000000000000000000");
  v1::GetLetterResponse response;
  EXPECT_EQ(letters->GetLetter(&context, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(ComponentCaTest, AComponentCertificateFromAnotherCaIsNotAComponent) {
  // The server trusts its dev CA for TLS (organisations and components alike), but takes
  // components only from a CA of their own, here an unrelated one: the dev router's
  // certificate passes TLS and is still refused as a component.
  TempDir other;
  ASSERT_TRUE(crypto::EnsureDevPki(other.path() / "pki", {}).ok());
  auto stack = TestStack::Start(
      {}, [&](app::Config& c) { c.tls.component_ca = other.path() / "pki" / "ca.pem"; },
      kLedgerOnly);
  ASSERT_NE(stack, nullptr);
  client::ConnectionOptions options = stack->Connection(kOslo);
  const std::filesystem::path dir = crypto::DevComponentDir(stack->data_dir() / "pki", "router");
  options.cert = dir / "client.pem";
  options.key = dir / "client.key";
  auto channel = client::Connect(options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  auto tasks = internal::v1::TaskService::NewStub(*channel);
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  internal::v1::LeaseTasksRequest request;
  request.set_kind(internal::v1::TASK_KIND_ROUTE);
  request.set_max_tasks(10);
  request.mutable_lease_for()->set_seconds(30);
  internal::v1::LeaseTasksResponse response;
  grpc::Status status = tasks->LeaseTasks(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_NE(status.error_message().find("component CA"), std::string::npos)
      << status.error_message();
  // Organisations are unaffected.
  EXPECT_TRUE(stack->Client(kOslo).Send(ValidLetter("org")).ok());
}

}  // namespace
}  // namespace utpost::testutil
