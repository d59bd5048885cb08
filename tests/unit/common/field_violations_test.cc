#include "common/field_violations.h"

#include <optional>
#include <string>

#include "absl/strings/cord.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace utpost::common {
namespace {

TEST(FieldViolationsTest, EmptyIsOk) {
  FieldViolations v;
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.size(), 0u);
  EXPECT_TRUE(v.ToStatus().ok());
  // Even when asked for another code: nothing is wrong.
  EXPECT_TRUE(v.ToStatus(absl::StatusCode::kAlreadyExists).ok());
}

TEST(FieldViolationsTest, OneViolation) {
  FieldViolations v;
  v.Add("title", "must not be empty");
  EXPECT_FALSE(v.empty());
  EXPECT_EQ(v.size(), 1u);

  absl::Status status = v.ToStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "title: must not be empty");

  std::optional<google::rpc::BadRequest> bad_request = GetBadRequest(status);
  ASSERT_TRUE(bad_request.has_value());
  ASSERT_EQ(bad_request->field_violations_size(), 1);
  EXPECT_EQ(bad_request->field_violations(0).field(), "title");
  EXPECT_EQ(bad_request->field_violations(0).description(), "must not be empty");
}

TEST(FieldViolationsTest, EveryViolationInOrder) {
  FieldViolations v;
  v.Add("title", "must not be empty");
  v.Add("documents[0].filename", "must not be empty");
  v.Add("documents[1].media_type", "must be type/subtype");
  // The same field may be named twice when two rules fail.
  v.Add("documents[1].media_type", "must be application/pdf");
  EXPECT_EQ(v.size(), 4u);

  absl::Status status = v.ToStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "title: must not be empty; documents[0].filename: must not be empty; "
            "documents[1].media_type: must be type/subtype; "
            "documents[1].media_type: must be application/pdf");

  std::optional<google::rpc::BadRequest> bad_request = GetBadRequest(status);
  ASSERT_TRUE(bad_request.has_value());
  ASSERT_EQ(bad_request->field_violations_size(), 4);
  EXPECT_EQ(bad_request->field_violations(0).field(), "title");
  EXPECT_EQ(bad_request->field_violations(1).field(), "documents[0].filename");
  EXPECT_EQ(bad_request->field_violations(2).field(), "documents[1].media_type");
  EXPECT_EQ(bad_request->field_violations(2).description(), "must be type/subtype");
  EXPECT_EQ(bad_request->field_violations(3).field(), "documents[1].media_type");
  EXPECT_EQ(bad_request->field_violations(3).description(), "must be application/pdf");
}

TEST(FieldViolationsTest, OtherCode) {
  FieldViolations v;
  v.Add("idempotency_key", "was used before for a different request");
  absl::Status status = v.ToStatus(absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  std::optional<google::rpc::BadRequest> bad_request = GetBadRequest(status);
  ASSERT_TRUE(bad_request.has_value());
  ASSERT_EQ(bad_request->field_violations_size(), 1);
  EXPECT_EQ(bad_request->field_violations(0).field(), "idempotency_key");
}

TEST(FieldViolationsTest, ToStatusDoesNotConsume) {
  FieldViolations v;
  v.Add("title", "must not be empty");
  EXPECT_EQ(v.ToStatus(), v.ToStatus());
  v.Add("documents", "must have at least 1 document");
  EXPECT_EQ(GetBadRequest(v.ToStatus())->field_violations_size(), 2);
}

TEST(FieldViolationsTest, PayloadUnderTheDocumentedTypeUrl) {
  FieldViolations v;
  v.Add("title", "must not be empty");
  absl::Status status = v.ToStatus();
  EXPECT_EQ(kBadRequestTypeUrl, "type.googleapis.com/google.rpc.BadRequest");
  // absl::Status::GetPayload returns absl::optional, which Debian's Abseil does not alias to
  // std::optional.
  auto payload = status.GetPayload("type.googleapis.com/google.rpc.BadRequest");
  ASSERT_TRUE(payload.has_value());
  google::rpc::BadRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(std::string(*payload)));
  EXPECT_EQ(parsed.field_violations(0).field(), "title");
}

TEST(FieldErrorTest, NamesOneField) {
  absl::Status status =
      FieldError(absl::StatusCode::kNotFound, "letter_id", "no such letter for this sender");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "letter_id: no such letter for this sender");
  std::optional<google::rpc::BadRequest> bad_request = GetBadRequest(status);
  ASSERT_TRUE(bad_request.has_value());
  ASSERT_EQ(bad_request->field_violations_size(), 1);
  EXPECT_EQ(bad_request->field_violations(0).field(), "letter_id");
  EXPECT_EQ(bad_request->field_violations(0).description(), "no such letter for this sender");
}

TEST(GetBadRequestTest, NoneWithoutPayload) {
  EXPECT_FALSE(GetBadRequest(absl::OkStatus()).has_value());
  EXPECT_FALSE(GetBadRequest(absl::InvalidArgumentError("bad")).has_value());
  absl::Status other = absl::InvalidArgumentError("bad");
  other.SetPayload("type.googleapis.com/google.rpc.ErrorInfo", absl::Cord("x"));
  EXPECT_FALSE(GetBadRequest(other).has_value());
}

TEST(GetBadRequestTest, NoneForGarbagePayload) {
  absl::Status status = absl::InvalidArgumentError("bad");
  // A truncated length-delimited field: not a parseable message.
  status.SetPayload("type.googleapis.com/google.rpc.BadRequest", absl::Cord("\x0a\x7f"));
  EXPECT_FALSE(GetBadRequest(status).has_value());
}

}  // namespace
}  // namespace utpost::common

namespace utpost::common {
namespace {

TEST(FieldViolationsCapTest, ReportsTheFirstTwentyAndCountsTheRest) {
  FieldViolations violations;
  for (int i = 0; i < 100; ++i) {
    violations.Add("documents[" + std::to_string(i) + "].filename", "is empty");
  }
  const absl::Status status = violations.ToStatus();
  auto bad = GetBadRequest(status);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->field_violations_size(), 20);
  EXPECT_EQ(bad->field_violations(19).field(), "documents[19].filename");
  EXPECT_NE(std::string(status.message()).find("and 80 more"), std::string::npos);
  EXPECT_LT(bad->ByteSizeLong(), 2048u);
}

}  // namespace
}  // namespace utpost::common
