#include "services/ledger/page_token.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/escaping.h"
#include "common/field_violations.h"
#include "common/letter_id.h"

namespace utpost::ledger {
namespace {

common::LetterIdBytes Id() { return *common::DecodeLetterId("01ARZ3NDEKTSV4RRFFQ69G5FAV"); }

void ExpectRefusedPageToken(const absl::StatusOr<common::LetterIdBytes>& decoded) {
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  auto details = common::GetBadRequest(decoded.status());
  ASSERT_TRUE(details.has_value());
  ASSERT_EQ(details->field_violations_size(), 1);
  EXPECT_EQ(details->field_violations(0).field(), "page_token");
}

TEST(PageTokenTest, DecodesWhatItEncodes) {
  const std::string token = EncodePageToken(Id(), 42);
  absl::StatusOr<common::LetterIdBytes> decoded = DecodePageToken(token, 42);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, Id());
}

TEST(PageTokenTest, RefusesATokenOfOtherFilters) {
  ExpectRefusedPageToken(DecodePageToken(EncodePageToken(Id(), 42), 43));
}

TEST(PageTokenTest, RefusesWhatItDidNotIssue) {
  const std::string token = EncodePageToken(Id(), 42);
  for (const std::string& bad :
       {std::string(), std::string("not a token"), token.substr(1), token + "A"}) {
    ExpectRefusedPageToken(DecodePageToken(bad, 42));
  }
}

// Found by fuzz/page_token_fuzzer.cc: the base64 decoder skips white space, so one token had
// many spellings.
TEST(PageTokenTest, RefusesOtherSpellingsOfAToken) {
  const std::string token = EncodePageToken(Id(), 42);
  ExpectRefusedPageToken(DecodePageToken(token.substr(0, 2) + "\t\t" + token.substr(2), 42));
  ExpectRefusedPageToken(DecodePageToken(token + "\n", 42));
  ExpectRefusedPageToken(DecodePageToken(" " + token, 42));
  ExpectRefusedPageToken(DecodePageToken(token + "==", 42));
}

TEST(PageTokenTest, HasAFixedByteOrder) {
  common::LetterIdBytes id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(i);
  // id 00..0f, then the hash 0x0102030405060708 most significant byte first.
  EXPECT_EQ(EncodePageToken(id, 0x0102030405060708ull), "AAECAwQFBgcICQoLDA0ODwECAwQFBgcI");
  // The filter hash is the first 8 bytes of SHA-256 of the filters, read big-endian: pinned
  // so that a replica on another machine accepts the tokens of this one.
  v1::ListLettersRequest request;
  request.add_statuses(v1::LETTER_STATUS_ROUTED);
  const uint64_t hash = FilterHash(request);
  EXPECT_EQ(hash, 0x6f1dbd44a0dd6a46ull);  // SHA-256("2,|0.0|0.0"), first 8 bytes
  const std::string token = EncodePageToken(id, hash);
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &raw));
  ASSERT_EQ(raw.size(), 24u);
  EXPECT_EQ(static_cast<uint8_t>(raw[16]), static_cast<uint8_t>(hash >> 56));
}

TEST(PageTokenTest, FilterHashIgnoresPaging) {
  v1::ListLettersRequest request;
  request.add_statuses(v1::LETTER_STATUS_ACCEPTED);
  request.mutable_accepted_after()->set_seconds(1700000000);
  const uint64_t hash = FilterHash(request);
  request.set_page_size(7);
  request.set_page_token("x");
  EXPECT_EQ(FilterHash(request), hash);
  request.add_statuses(v1::LETTER_STATUS_READ);
  EXPECT_NE(FilterHash(request), hash);
}

}  // namespace
}  // namespace utpost::ledger
