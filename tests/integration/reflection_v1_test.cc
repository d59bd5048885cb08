// grpc.reflection.v1 through a real client stream: what grpcurl and other current tools ask.
#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "services/common/server_reflection.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

namespace rv1 = ::grpc::reflection::v1;

class ReflectionV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = TestStack::Start();
    ASSERT_NE(stack_, nullptr);
    auto channel = client::Connect(stack_->Connection());
    ASSERT_TRUE(channel.ok());
    stub_ = rv1::ServerReflection::NewStub(*channel);
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    context_.set_wait_for_ready(true);
    stream_ = stub_->ServerReflectionInfo(&context_);
  }

  rv1::ServerReflectionResponse Ask(const rv1::ServerReflectionRequest& request) {
    rv1::ServerReflectionResponse response;
    EXPECT_TRUE(stream_->Write(request));
    EXPECT_TRUE(stream_->Read(&response));
    return response;
  }

  grpc::Status Close() {
    stream_->WritesDone();
    return stream_->Finish();
  }

  std::unique_ptr<TestStack> stack_;
  std::unique_ptr<rv1::ServerReflection::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<rv1::ServerReflectionRequest, rv1::ServerReflectionResponse>>
      stream_;
};

std::vector<std::string> FileNames(const rv1::ServerReflectionResponse& response) {
  std::vector<std::string> names;
  for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    EXPECT_TRUE(file.ParseFromString(bytes));
    names.push_back(file.name());
  }
  return names;
}

TEST_F(ReflectionV1Test, ListsServicesAndServesTheLettersDescriptor) {
  rv1::ServerReflectionRequest list;
  list.set_list_services("");
  const rv1::ServerReflectionResponse listed = Ask(list);
  std::set<std::string> services;
  for (const auto& s : listed.list_services_response().service()) services.insert(s.name());
  EXPECT_TRUE(services.contains("utpost.v1.LetterService"));
  EXPECT_TRUE(services.contains("grpc.health.v1.Health"));
  EXPECT_TRUE(services.contains("grpc.reflection.v1.ServerReflection"));
  EXPECT_TRUE(services.contains("grpc.reflection.v1alpha.ServerReflection"));

  rv1::ServerReflectionRequest by_symbol;
  by_symbol.set_file_containing_symbol("utpost.v1.LetterService");
  const rv1::ServerReflectionResponse described = Ask(by_symbol);
  ASSERT_TRUE(described.has_file_descriptor_response()) << described.DebugString();
  const std::vector<std::string> names = FileNames(described);
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names[0], "utpost/v1/letters.proto");
  // Its dependencies follow, each once.
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  EXPECT_NE(std::find(names.begin(), names.end(), "google/protobuf/timestamp.proto"), names.end());
  google::protobuf::FileDescriptorProto letters;
  ASSERT_TRUE(
      letters.ParseFromString(described.file_descriptor_response().file_descriptor_proto(0)));
  ASSERT_GE(letters.service_size(), 1);
  EXPECT_EQ(letters.service(0).name(), "LetterService");

  rv1::ServerReflectionRequest by_name;
  by_name.set_file_by_filename("utpost/v1/letters.proto");
  EXPECT_EQ(FileNames(Ask(by_name)), names);

  // A method and a message resolve to the same file.
  by_symbol.set_file_containing_symbol("utpost.v1.LetterService.SendLetter");
  EXPECT_EQ(FileNames(Ask(by_symbol)).at(0), "utpost/v1/letters.proto");
  by_symbol.set_file_containing_symbol("utpost.v1.SendLetterRequest");
  EXPECT_EQ(FileNames(Ask(by_symbol)).at(0), "utpost/v1/letters.proto");
  EXPECT_TRUE(Close().ok());
}

TEST_F(ReflectionV1Test, AnswersOnlyAboutWhatTheServerOffers) {
  rv1::ServerReflectionRequest request;
  request.set_file_containing_symbol("no.such.Symbol");
  EXPECT_EQ(Ask(request).error_response().error_code(),
            static_cast<int>(grpc::StatusCode::NOT_FOUND));
  // Linked in, but used by no service: the storage schema is not told.
  request.set_file_by_filename("utpost/storage/v1/records.proto");
  EXPECT_EQ(Ask(request).error_response().error_code(),
            static_cast<int>(grpc::StatusCode::NOT_FOUND));
  request.set_all_extension_numbers_of_type("utpost.v1.SendLetterRequest");
  const rv1::ServerReflectionResponse numbers = Ask(request);
  EXPECT_EQ(numbers.all_extension_numbers_response().base_type_name(),
            "utpost.v1.SendLetterRequest");
  EXPECT_EQ(numbers.all_extension_numbers_response().extension_number_size(), 0);
  request.mutable_file_containing_extension()->set_containing_type("utpost.v1.Document");
  request.mutable_file_containing_extension()->set_extension_number(1000);
  EXPECT_EQ(Ask(request).error_response().error_code(),
            static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_TRUE(Close().ok());
}

TEST_F(ReflectionV1Test, OversizedRequestEndsTheStream) {
  rv1::ServerReflectionRequest request;
  request.set_file_by_filename(std::string(service::kMaxReflectionRequestBytes + 1, 'a'));
  EXPECT_TRUE(stream_->Write(request));
  rv1::ServerReflectionResponse response;
  EXPECT_FALSE(stream_->Read(&response));
  EXPECT_EQ(stream_->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace utpost::testutil
