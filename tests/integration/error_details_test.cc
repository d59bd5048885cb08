// Field violations must reach the client whole, however many and however long they are: the
// details travel in a trailer (grpc-status-details-bin, base64) beside grpc-message
// (percent-encoded), and gRPC clients refuse a response whose metadata exceeds 8 KiB by
// default. A request with 100 bad documents makes 400 long violations.
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "clients/cpp/utpost_client.h"
#include "common/field_violations.h"
#include "common/grpc_status.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

v1::SendLetterRequest ManyBadDocuments() {
  v1::SendLetterRequest request = ValidLetter("MANY-BAD-DOCUMENTS");
  request.clear_documents();
  request.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_PRINT_ONLY);
  for (int i = 0; i < 100; ++i) {
    v1::Document* document = request.add_documents();
    document->set_filename("letters/" + std::to_string(i) + ".pdf");  // a slash
    document->set_media_type("Not A Media Type");  // neither type/subtype nor PDF
    // empty content
  }
  return request;
}

void ExpectFieldViolations(const absl::Status& status) {
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  std::optional<google::rpc::BadRequest> bad = common::GetBadRequest(status);
  ASSERT_TRUE(bad.has_value()) << "no field violations in " << status;
  ASSERT_GE(bad->field_violations_size(), 10);
  EXPECT_EQ(bad->field_violations(0).field(), "documents[0].filename");
  EXPECT_EQ(bad->field_violations(1).field(), "documents[0].media_type");
  for (const auto& violation : bad->field_violations()) {
    EXPECT_TRUE(absl::StartsWith(violation.field(), "documents[")) << violation.field();
    EXPECT_FALSE(violation.description().empty());
  }
  // The message says that there were more than it lists.
  EXPECT_NE(status.message().find(" more"), absl::string_view::npos) << status.message();
}

// Answers every call with one status.
class FixedStatusService : public grpc::CallbackGenericService {
 public:
  explicit FixedStatusService(grpc::Status status) : status_(std::move(status)) {}
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      explicit Reactor(const grpc::Status& status) { Finish(status); }
      void OnDone() override { delete this; }
    };
    return new Reactor(status_);
  }

 private:
  grpc::Status status_;
};

// 1000 violations of about 2 KB each, with non-ASCII text (percent-encoded three times over
// in grpc-message), sent by a real server to a client with gRPC's default limits.
TEST(ErrorDetailsTest, ThousandLongViolationsArriveAsFieldViolations) {
  common::FieldViolations violations;
  std::string long_description;
  while (long_description.size() < 2000) long_description += "må være gyldig; ";
  for (int i = 0; i < 1000; ++i) {
    violations.Add("documents[" + std::to_string(i) + "].filename", long_description);
  }
  FixedStatusService service(common::ToGrpcStatus(violations.ToStatus()));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterCallbackGenericService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto stub = v1::LetterService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  context.set_wait_for_ready(true);
  v1::GetLetterResponse response;
  const grpc::Status status = stub->GetLetter(&context, v1::GetLetterRequest(), &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  const absl::Status received = common::FromGrpcStatus(status);
  std::optional<google::rpc::BadRequest> bad = common::GetBadRequest(received);
  ASSERT_TRUE(bad.has_value());
  ASSERT_GE(bad->field_violations_size(), 1);
  EXPECT_EQ(bad->field_violations(0).field(), "documents[0].filename");
  EXPECT_TRUE(absl::EndsWith(bad->field_violations(0).description(), "…"));
  EXPECT_NE(received.message().find("1000 in all"), absl::string_view::npos) << received.message();
  server->Shutdown();
}

TEST(ErrorDetailsTest, ManyLongViolationsReachAClientWithGrpcDefaultLimits) {
  auto stack = TestStack::Start();
  ASSERT_NE(stack, nullptr);
  client::ConnectionOptions options = stack->Connection();
  // A channel with gRPC's default metadata limit (8 KiB), as any other client library has.
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadAll(options.ca);
  ssl.pem_cert_chain = ReadAll(options.cert);
  ssl.pem_private_key = ReadAll(options.key);
  auto channel = grpc::CreateChannel(options.address, grpc::SslCredentials(ssl));
  auto stub = v1::LetterService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  context.set_wait_for_ready(true);
  v1::SendLetterResponse response;
  const grpc::Status status = stub->SendLetter(&context, ManyBadDocuments(), &response);
  EXPECT_NE(status.error_message().find("documents[0]"), std::string::npos)
      << status.error_code() << " " << status.error_message();
  ExpectFieldViolations(common::FromGrpcStatus(status));
}

TEST(ErrorDetailsTest, ManyLongViolationsReachTheClientLibrary) {
  auto stack = TestStack::Start();
  ASSERT_NE(stack, nullptr);
  const absl::StatusOr<v1::SendLetterResponse> sent = stack->Client().Send(ManyBadDocuments());
  ExpectFieldViolations(sent.status());
  EXPECT_FALSE(client::IsRetryable(sent.status()));
}

TEST(ErrorDetailsTest, MetadataAndMessageSizeErrorsAreNotRetried) {
  EXPECT_FALSE(client::IsRetryable(
      absl::ResourceExhaustedError("received initial metadata size exceeds limit")));
  EXPECT_FALSE(client::IsRetryable(
      absl::ResourceExhaustedError("received trailing metadata size exceeds limit")));
  EXPECT_FALSE(client::IsRetryable(
      absl::ResourceExhaustedError("Received message larger than max (4194305 vs. 4194304)")));
  EXPECT_TRUE(client::IsRetryable(absl::ResourceExhaustedError("Buffers full")));
  EXPECT_TRUE(client::IsRetryable(absl::ResourceExhaustedError("too many requests in progress")));
  EXPECT_TRUE(client::IsRetryable(absl::UnavailableError("connection refused")));
  EXPECT_FALSE(client::IsRetryable(absl::InvalidArgumentError("title: must not be empty")));
  EXPECT_FALSE(client::IsRetryable(absl::OkStatus()));
}

}  // namespace
}  // namespace utpost::testutil
