#include "common/wire_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/field_violations.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::common {
namespace {

using ::testing::HasSubstr;

// Hand-made wire bytes, for what a protobuf library will not write.
std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string Tag(int field, int wire_type) { return Varint((field << 3) | wire_type); }
std::string Bytes(int field, std::string_view payload) {
  return Tag(field, 2) + Varint(payload.size()) + std::string(payload);
}

// SendLetterRequest field numbers.
constexpr int kTitle = 3;
constexpr int kDocuments = 4;
// Document field numbers.
constexpr int kFilename = 1;

const google::protobuf::Descriptor& SendLetter() { return *v1::SendLetterRequest::descriptor(); }

std::string FieldOf(const absl::Status& status) {
  auto bad = GetBadRequest(status);
  return bad && bad->field_violations_size() > 0 ? bad->field_violations(0).field() : "";
}

// Whatever CheckWire accepts, protobuf parses.
void ExpectAgreesWithProtobuf(const std::string& bytes) {
  v1::SendLetterRequest parsed;
  if (CheckWire(bytes, SendLetter(), WireLimits{}).ok()) {
    EXPECT_TRUE(parsed.ParseFromString(bytes));
  }
}

TEST(WireCheckTest, AcceptsWhatProtobufWrites) {
  v1::SendLetterRequest r;
  r.mutable_recipient()->mutable_person()->set_norwegian_national_id("15076500565");
  r.set_title("Vedtak om barnehageplass \xc3\xa6\xc3\xb8\xc3\xa5");
  for (int i = 0; i < 3; ++i) {
    auto* d = r.add_documents();
    d->set_filename("vedtak" + std::to_string(i) + ".pdf");
    d->set_media_type("application/pdf");
    d->set_content(std::string(1000, '\xff'));  // bytes, not text: never checked as UTF-8
  }
  r.mutable_options()->mutable_print_if_unread_after()->set_seconds(7200);
  v1::ListLettersRequest list;
  list.add_statuses(v1::LETTER_STATUS_ACCEPTED);
  list.add_statuses(v1::LETTER_STATUS_READ);
  EXPECT_TRUE(CheckWire(r.SerializeAsString(), SendLetter(), WireLimits{}).ok());
  EXPECT_TRUE(
      CheckWire(list.SerializeAsString(), *v1::ListLettersRequest::descriptor(), WireLimits{})
          .ok());
  EXPECT_TRUE(CheckWire("", SendLetter(), WireLimits{}).ok());
}

TEST(WireCheckTest, NamesAStringThatIsNotUtf8) {
  const absl::Status title = CheckWire(Bytes(kTitle, "V\xff\xfe"), SendLetter(), WireLimits{});
  EXPECT_EQ(title.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldOf(title), "title");
  EXPECT_THAT(title.message(), HasSubstr("valid UTF-8"));

  const std::string good_document = Bytes(kFilename, "a.pdf");
  for (std::string_view bad : {
           std::string_view("\xc0\xaf"),          // overlong '/'
           std::string_view("\xed\xa0\x80"),      // a surrogate
           std::string_view("\xf4\x90\x80\x80"),  // above U+10FFFF
           std::string_view("ok\xe2\x82"),        // cut short
       }) {
    const std::string bytes =
        Bytes(kDocuments, good_document) + Bytes(kDocuments, Bytes(kFilename, bad));
    const absl::Status s = CheckWire(bytes, SendLetter(), WireLimits{});
    EXPECT_EQ(FieldOf(s), "documents[1].filename") << s;
    ExpectAgreesWithProtobuf(bytes);
  }
}

TEST(WireCheckTest, UndecodableBytesAreInvalidArgumentNeverAnotherCode) {
  for (std::string_view bad : {
           std::string_view("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),  // varint too long
           std::string_view("\x1a\x05"
                            "ab"),                                // length past end
           std::string_view("\x00\x01", 2),                       // field 0
           std::string_view("\x1f"),                              // wire type 7
           std::string_view("\x0c"),                              // group end alone
           std::string_view("\x0b\x10\x01"),                      // group never ends
           std::string_view("\xbd\x2e\x29\xff\xff\xff\xff\xff"),  // tag cut short at the end
           std::string_view("\xd8\xc7\xc7\xc7\xc7\xc7\x7f\x31"),  // tag of 7 bytes
           std::string_view("\x1a\x80\x80\x80\x80\x80\x00"),      // length of 6 bytes
       }) {
    const absl::Status s = CheckWire(bad, SendLetter(), WireLimits{});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    v1::SendLetterRequest parsed;
    EXPECT_FALSE(parsed.ParseFromString(std::string(bad)));
  }
}

TEST(WireCheckTest, DeeplyNestedUnknownGroupsAreRefused) {
  std::string bytes;
  for (int i = 0; i < 10'000; ++i) bytes += Tag(99, 3);
  for (int i = 0; i < 10'000; ++i) bytes += Tag(99, 4);
  const absl::Status s = CheckWire(bytes, SendLetter(), WireLimits{});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("nested more than 16 levels"));
}

TEST(WireCheckTest, CountsRepeatedFieldsBeforeAnythingIsBuilt) {
  // A million empty documents: 2 bytes each on the wire, ~100 bytes each once parsed.
  std::string bytes;
  for (int i = 0; i < 1'000'000; ++i) bytes += Bytes(kDocuments, "");
  WireLimits limits;
  limits.repeated[SendLetter().FindFieldByName("documents")] = {100, "documents"};
  const absl::Status s = CheckWire(bytes, SendLetter(), limits);
  EXPECT_EQ(FieldOf(s), "documents");
  EXPECT_THAT(s.message(), HasSubstr("at most 100 documents"));
}

TEST(WireCheckTest, PackedElementsCountOneByOne) {
  const auto& list = *v1::ListLettersRequest::descriptor();
  const int statuses = list.FindFieldByName("statuses")->number();
  WireLimits limits;
  limits.repeated[list.FindFieldByName("statuses")] = {16, "statuses"};
  EXPECT_TRUE(CheckWire(Bytes(statuses, std::string(16, '\0')), list, limits).ok());
  const absl::Status packed = CheckWire(Bytes(statuses, std::string(17, '\0')), list, limits);
  EXPECT_EQ(FieldOf(packed), "statuses");
  // The same values unpacked, one tag each, count the same way.
  std::string unpacked;
  for (int i = 0; i < 17; ++i) unpacked += Tag(statuses, 0) + Varint(0);
  EXPECT_EQ(FieldOf(CheckWire(unpacked, list, limits)), "statuses");
}

TEST(WireCheckTest, OtherRepeatedFieldsHaveADefaultLimit) {
  // 2000 address lines inside postal_address (field 2, address_lines = 2).
  std::string address;
  for (int i = 0; i < 2000; ++i) address += Bytes(2, "");
  const absl::Status s = CheckWire(Bytes(2, address), SendLetter(), WireLimits{});
  EXPECT_EQ(FieldOf(s), "postal_address.address_lines");
}

TEST(WireCheckTest, UnknownFieldsAreKeptWithinALimit) {
  std::string some, many;
  for (int i = 0; i < 10; ++i) some += Tag(1000 + i, 0) + Varint(i);
  for (int i = 0; i < 1001; ++i) many += Tag(1000, 0) + Varint(i);
  EXPECT_TRUE(CheckWire(some, SendLetter(), WireLimits{}).ok());
  const absl::Status s = CheckWire(many, SendLetter(), WireLimits{});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("fields this server does not know"));
}

TEST(WireCheckTest, AKnownFieldWithAnotherWireTypeIsUnknownAsInProtobuf) {
  // title (a string) sent as a varint: protobuf keeps it as an unknown field.
  const std::string bytes = Tag(kTitle, 0) + Varint(5);
  EXPECT_TRUE(CheckWire(bytes, SendLetter(), WireLimits{}).ok());
  ExpectAgreesWithProtobuf(bytes);
}

}  // namespace
}  // namespace utpost::common
