// What operators and tools rely on besides LetterService: gRPC health checking, server
// reflection (so grpcurl works), and the explicit insecure loopback mode.
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <thread>

#include "common/ids.h"
#include "tests/testutil/raw_http2.h"
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

// One unary call of `method` with `request` as its raw bytes: the status and the response's.
std::pair<grpc::Status, std::string> RawCall(const std::shared_ptr<grpc::Channel>& channel,
                                             const std::string& method,
                                             const std::string& request) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::ByteBuffer request_buffer = FromString(request), response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request_buffer, &response,
                 [&](grpc::Status s) {
                   std::lock_guard lock(mu);
                   status = std::move(s);
                   done = true;
                   cv.notify_one();
                 });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done; });
  return {status, status.ok() ? ToString(response) : ""};
}

// grpc.health.v1.Health/Check of `service` ("" for the whole server).
std::pair<grpc::Status, std::string> HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                                                 const std::string& service) {
  // HealthCheckRequest{service}: field 1, length-delimited.
  std::string request;
  if (!service.empty()) request = std::string("\x0a", 1) + char(service.size()) + service;
  return RawCall(channel, "/grpc.health.v1.Health/Check", request);
}

// HealthCheckResponse{status: SERVING (1)} and {status: NOT_SERVING (2)}.
const std::string kServing("\x08\x01", 2);
const std::string kNotServing("\x08\x02", 2);

TEST(ServerFeaturesTest, HealthCheckReportsServing) {
  auto stack = TestStack::Start();
  ASSERT_NE(stack, nullptr);
  for (const std::string service : {"", "utpost.v1.LetterService"}) {
    auto [status, response] = HealthCheck(Channel(*stack), service);
    ASSERT_TRUE(status.ok()) << service << ": " << status.error_message();
    EXPECT_EQ(response, kServing) << service;
  }
}

// A kubelet cannot present a client certificate: health.listen serves the health service in
// plaintext, and nothing else. On a drain it says NOT_SERVING at once, while calls in flight
// still get drain_timeout to finish.
TEST(ServerFeaturesTest, TheHealthPortAnswersProbesInPlaintextAndNothingElse) {
  auto stack = TestStack::Start({}, [](app::Config& c) {
    c.insecure = true;  // so that a raw HTTP/2 call can be left in flight below
    c.health.listen = "127.0.0.1:0";
  });
  ASSERT_NE(stack, nullptr);
  ASSERT_GT(stack->app().health_port(), 0);
  auto plain = grpc::CreateChannel(absl::StrCat("127.0.0.1:", stack->app().health_port()),
                                   grpc::InsecureChannelCredentials());
  for (const std::string service : {"", "utpost.v1.LetterService", "utpost.v1.FormService"}) {
    auto [status, response] = HealthCheck(plain, service);
    ASSERT_TRUE(status.ok()) << service << ": " << status.error_message();
    EXPECT_EQ(response, kServing) << service;
  }
  EXPECT_EQ(HealthCheck(plain, "no.such.Service").first.error_code(), grpc::StatusCode::NOT_FOUND);
  // The services themselves are not there.
  EXPECT_EQ(RawCall(plain, "/utpost.v1.LetterService/GetLetter", "").first.error_code(),
            grpc::StatusCode::UNIMPLEMENTED);

  // A SendLetter whose message never arrives in full: in flight until the drain ends.
  auto connection = RawHttp2Connection::Connect(stack->app().port());
  ASSERT_TRUE(connection.ok()) << connection.status();
  const uint32_t stream = (*connection)->NextStreamId();
  ASSERT_TRUE((*connection)
                  ->SendRequestHeaders(stream, "/utpost.v1.LetterService/SendLetter",
                                       {{"utpost-organisation", "958935420"}})
                  .ok());
  ASSERT_TRUE((*connection)
                  ->SendData(stream, std::string("\0\0\0\0\x64", 5) + "partial", false,
                             absl::Now() + absl::Seconds(5))
                  .ok());
  std::thread drain([&] { stack->app().Stop(absl::Seconds(3)); });
  // Draining: the probe hears NOT_SERVING while the server still waits for the call.
  std::string seen;
  const absl::Time give_up = absl::Now() + absl::Seconds(2);
  while (absl::Now() < give_up && seen != kNotServing) {
    seen = HealthCheck(plain, "").second;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(seen, kNotServing);
  drain.join();
  // After the drain the port is closed.
  EXPECT_FALSE(HealthCheck(plain, "").first.ok());
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
