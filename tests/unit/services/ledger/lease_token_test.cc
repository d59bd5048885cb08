#include "services/ledger/lease_token.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "common/field_violations.h"

namespace utpost::ledger {
namespace {

LeaseToken Sample() {
  LeaseToken token;
  for (uint8_t i = 0; i < 16; ++i) {
    token.task_id[i] = i;
    token.letter_id[i] = static_cast<uint8_t>(0xf0 + i);
  }
  token.attempt = 0x01020304;
  return token;
}

TEST(LeaseTokenTest, RoundTripsAndIsWebSafe) {
  const std::string text = EncodeLeaseToken(Sample());
  EXPECT_EQ(
      text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos);
  auto decoded = DecodeLeaseToken(text);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->task_id, Sample().task_id);
  EXPECT_EQ(decoded->letter_id, Sample().letter_id);
  EXPECT_EQ(decoded->attempt, 0x01020304u);
}

TEST(LeaseTokenTest, TheByteLayoutIsFixed) {
  // version 1, task id, letter id, attempt big-endian: a token written by one build is read
  // by the next.
  std::string raw(1, '\x01');
  for (int i = 0; i < 16; ++i) raw.push_back(static_cast<char>(i));
  for (int i = 0; i < 16; ++i) raw.push_back(static_cast<char>(0xf0 + i));
  raw.append("\x01\x02\x03\x04", 4);
  EXPECT_EQ(EncodeLeaseToken(Sample()), absl::WebSafeBase64Escape(raw));
}

TEST(LeaseTokenTest, AnythingElseIsAFieldError) {
  const std::string good = EncodeLeaseToken(Sample());
  for (const std::string& bad : {std::string(), std::string("x"), good + "A", good.substr(1),
                                 good + "=", " " + good, std::string(1000, 'A')}) {
    auto decoded = DecodeLeaseToken(bad);
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    auto details = common::GetBadRequest(decoded.status());
    ASSERT_TRUE(details.has_value());
    EXPECT_EQ(details->field_violations(0).field(), "lease_token");
  }
  // Another version.
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(good, &raw));
  raw[0] = 2;
  EXPECT_FALSE(DecodeLeaseToken(absl::WebSafeBase64Escape(raw)).ok());
}

}  // namespace
}  // namespace utpost::ledger
