#include "common/field_violations.h"

#include <optional>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/rpc/status.pb.h"
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

// True if `text` is well-formed UTF-8 (no cut characters).
bool IsUtf8(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    const size_t n = b < 0x80           ? 1
                     : (b >> 5) == 0x6  ? 2
                     : (b >> 4) == 0xe  ? 3
                     : (b >> 3) == 0x1e ? 4
                                        : 0;
    if (n == 0 || i + n > text.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// The google.rpc.Status that goes on the wire (services/common/grpc_status.cc builds it so).
google::rpc::Status WireDetails(const absl::Status& status) {
  google::rpc::Status details;
  details.set_code(static_cast<int>(status.code()));
  details.set_message(std::string(status.message()));
  details.add_details()->PackFrom(*GetBadRequest(status));
  return details;
}

TEST(FieldViolationsCapTest, ThousandLongViolationsFitTheByteBudgets) {
  std::string description;
  while (description.size() < 2000) description += "må være gyldig UTF-8 – ";
  FieldViolations violations;
  for (int i = 0; i < 1000; ++i) {
    violations.Add("documents[" + std::to_string(i) + "].filename", description);
  }
  EXPECT_EQ(violations.size(), 1000u);
  const absl::Status status = violations.ToStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);

  EXPECT_LE(GrpcMessageWireSize(status.message()), kMaxStatusMessageBytes);
  EXPECT_TRUE(IsUtf8(status.message()));
  const google::rpc::Status details = WireDetails(status);
  EXPECT_LE(details.ByteSizeLong(), kMaxStatusDetailsBytes);

  auto bad = GetBadRequest(status);
  ASSERT_TRUE(bad.has_value());
  ASSERT_GE(bad->field_violations_size(), 10);
  for (int i = 0; i < bad->field_violations_size(); ++i) {
    const auto& v = bad->field_violations(i);
    EXPECT_EQ(v.field(), "documents[" + std::to_string(i) + "].filename");
    EXPECT_LE(v.description().size(), kMaxViolationDescriptionBytes);
    EXPECT_TRUE(absl::EndsWith(v.description(), "\u2026")) << v.description();
    EXPECT_TRUE(IsUtf8(v.description())) << v.description();
  }
  // The message names the first violation and counts what it does not list.
  EXPECT_TRUE(absl::StartsWith(status.message(), "documents[0].filename: må være"));
  EXPECT_NE(status.message().find(
                absl::StrCat("(1000 in all; the details list ", bad->field_violations_size(), ")")),
            absl::string_view::npos)
      << status.message();
}

TEST(FieldViolationsCapTest, OrdinaryRequestsReportEveryViolation) {
  FieldViolations violations;
  for (int i = 0; i < 30; ++i) {
    violations.Add("documents[" + std::to_string(i) + "].media_type", "must not be empty");
  }
  const absl::Status status = violations.ToStatus();
  auto bad = GetBadRequest(status);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->field_violations_size(), 30);
  EXPECT_LE(WireDetails(status).ByteSizeLong(), kMaxStatusDetailsBytes);
  // The message is shorter than the details: it counts the rest.
  EXPECT_NE(status.message().find("more (30 in all; the details list 30)"), absl::string_view::npos)
      << status.message();
}

TEST(FieldViolationsCapTest, FewViolationsAreListedWithoutACount) {
  FieldViolations violations;
  violations.Add("title", "must not be empty");
  violations.Add("documents", "must have at least 1 document");
  EXPECT_EQ(violations.ToStatus().message(),
            "title: must not be empty; documents: must have at least 1 document");
}

TEST(FieldViolationsCapTest, MillionsAreCountedNotKept) {
  FieldViolations violations;
  for (int i = 0; i < 2'000'000; ++i) violations.Add("documents", "must not be empty");
  EXPECT_EQ(violations.size(), 2'000'000u);
  const absl::Status status = violations.ToStatus();
  EXPECT_NE(status.message().find("(2000000 in all;"), absl::string_view::npos);
  EXPECT_LE(WireDetails(status).ByteSizeLong(), kMaxStatusDetailsBytes);
}

TEST(TruncateUtf8Test, CutsAtACharacterBoundaryWithAnEllipsis) {
  EXPECT_EQ(TruncateUtf8("short", 10), "short");
  EXPECT_EQ(TruncateUtf8("abcdefgh", 6), "abc\u2026");
  // "æ" is two bytes: a cut inside it moves before it.
  EXPECT_EQ(TruncateUtf8("æææææ", 5), "æ\u2026");
  EXPECT_EQ(TruncateUtf8("æææææ", 6), "æ\u2026");
  EXPECT_EQ(TruncateUtf8("æææææ", 7), "ææ\u2026");
  EXPECT_LE(TruncateUtf8("æææææ", 6).size(), 6u);
}

TEST(GrpcMessageTest, WireSizeCountsPercentEncoding) {
  EXPECT_EQ(GrpcMessageWireSize("abc"), 3u);
  EXPECT_EQ(GrpcMessageWireSize("50%"), 5u);
  EXPECT_EQ(GrpcMessageWireSize("æ"), 6u);
  EXPECT_EQ(GrpcMessageWireSize("a\nb"), 5u);
  const std::string long_message(5000, 'x');
  EXPECT_EQ(TruncateGrpcMessage(long_message).size(), kMaxStatusMessageBytes - 9 + 3);
  const std::string invalid(2000, '\xc3');  // not UTF-8: each byte is 3 on the wire
  EXPECT_LE(GrpcMessageWireSize(TruncateGrpcMessage(invalid)), kMaxStatusMessageBytes);
  std::string nordic;
  while (nordic.size() < 3000) nordic += "ø";
  const std::string cut = TruncateGrpcMessage(nordic);
  EXPECT_LE(GrpcMessageWireSize(cut), kMaxStatusMessageBytes);
  EXPECT_TRUE(IsUtf8(cut));
  EXPECT_EQ(TruncateGrpcMessage("ok"), "ok");
}

}  // namespace
}  // namespace utpost::common
