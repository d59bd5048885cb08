// What operators and tools rely on besides LetterService: gRPC health checking, server
// reflection (so grpcurl works), and the explicit insecure loopback mode.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>

#include <condition_variable>

#include "common/ids.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer FromString(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::shared_ptr<grpc::Channel> Channel(const TestStack& stack) {
  auto channel = client::Connect(stack.Connection());
  EXPECT_TRUE(channel.ok());
  return *channel;
}

TEST(ServerFeaturesTest, HealthCheckReportsServing) {
  auto stack = TestStack::Start();
  ASSERT_NE(stack, nullptr);
  grpc::GenericStub stub(Channel(*stack));
  for (const std::string service : {"", "utpost.v1.LetterService"}) {
    grpc::ClientContext context;
    // grpc.health.v1.HealthCheckRequest{service}: field 1, length-delimited.
    std::string request;
    if (!service.empty()) request = std::string("\x0a", 1) + char(service.size()) + service;
    grpc::ByteBuffer request_buffer = FromString(request), response;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer,
                   &response, [&](grpc::Status s) {
                     std::lock_guard lock(mu);
                     status = std::move(s);
                     done = true;
                     cv.notify_one();
                   });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
    ASSERT_TRUE(status.ok()) << service << ": " << status.error_message();
    // HealthCheckResponse{status: SERVING (1)}
    EXPECT_EQ(ToString(response), std::string("\x08\x01", 2)) << service;
  }
}

TEST(ServerFeaturesTest, ReflectionListsLetterService) {
  auto stack = TestStack::Start();
  ASSERT_NE(stack, nullptr);
  grpc::GenericStub stub(Channel(*stack));
  grpc::ClientContext context;
  grpc::CompletionQueue cq;
  auto next = [&] {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    return ok;
  };
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(next());
  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
  call->Write(FromString(std::string("\x3a\x00", 2)), reinterpret_cast<void*>(2));
  ASSERT_TRUE(next());
  call->WritesDone(reinterpret_cast<void*>(3));
  ASSERT_TRUE(next());
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(4));
  ASSERT_TRUE(next());
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  next();
  EXPECT_TRUE(status.ok()) << status.error_message();
  const std::string listed = ToString(response);
  EXPECT_NE(listed.find("utpost.v1.LetterService"), std::string::npos);
  EXPECT_NE(listed.find("grpc.health.v1.Health"), std::string::npos);
}

TEST(ServerFeaturesTest, InsecureModeTakesTheOrganisationFromAHeaderOnLoopbackOnly) {
  auto stack = TestStack::Start({}, [](app::Config& c) { c.insecure = true; });
  ASSERT_NE(stack, nullptr);
  client::ConnectionOptions options;
  options.address = stack->app().address();
  options.insecure = true;
  options.organisation = "964338531";
  auto channel = client::Connect(options);
  ASSERT_TRUE(channel.ok());
  client::LetterClient bergen(*channel, options);
  auto sent = bergen.Send(ValidLetter("MARKER-INSECURE"));
  ASSERT_TRUE(sent.ok()) << sent.status();
  auto record = stack->ledger().store->GetLetter(*common::DecodeLetterId(sent->letter_id()));
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ((*record)->sender(), kBergen);

  options.organisation = "964338532";  // bad check digit
  client::LetterClient forged(*client::Connect(options), options);
  EXPECT_EQ(forged.Send(ValidLetter("x")).status().code(), absl::StatusCode::kUnauthenticated);

  app::Config config;
  config.insecure = true;
  config.listen = "0.0.0.0:0";
  EXPECT_EQ(app::Finalize(config).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace utpost::testutil
