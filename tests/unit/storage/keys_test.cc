#include "storage/keys.h"

#include <gtest/gtest.h>

namespace utpost::storage::keys {
namespace {

common::LetterIdBytes Id(uint8_t first, uint8_t last) {
  common::LetterIdBytes id{};
  id[0] = first;
  id[15] = last;
  return id;
}

TEST(KeysTest, IntegersAreBigEndianSoByteOrderIsNumericOrder) {
  std::string a, b;
  AppendU64(a, 255);
  AppendU64(b, 256);
  EXPECT_LT(a, b);
  EXPECT_EQ(ReadU64(b), 256u);
  std::string c;
  AppendU32(c, 0x01020304);
  EXPECT_EQ(c, std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(ReadU32(c), 0x01020304u);
}

TEST(KeysTest, FeedKeysOrderBySequenceWithinASender) {
  EXPECT_LT(Feed("NO958935420", 9), Feed("NO958935420", 10));
  EXPECT_EQ(SequenceFromFeed(Feed("DK29189846", 12345)), 12345u);
  EXPECT_EQ(Feed("NO958935420", 1).rfind(FeedPrefix("NO958935420"), 0), 0u);
}

TEST(KeysTest, NoSenderPrefixIsAPrefixOfAnother) {
  // Norwegian org keys have 9 digits, Danish 8, and both end the prefix with '/'.
  EXPECT_NE(SenderIndex("DK29189846", Id(1, 1)).rfind(SenderIndexPrefix("DK2918984"), 0), 0u);
  EXPECT_NE(Idempotency("NO958935420", "k").rfind(FeedPrefix("NO95893542"), 0), 0u);
}

TEST(KeysTest, SenderIndexRoundTripsTheLetterId) {
  const auto id = Id(0x01, 0xfe);
  EXPECT_EQ(LetterIdFromSenderIndex(SenderIndex("NO964338531", id)), id);
  EXPECT_LT(SenderIndex("NO964338531", Id(1, 0)), SenderIndex("NO964338531", Id(2, 0)));
}

TEST(KeysTest, TasksOrderByDueTimeFirst) {
  EXPECT_LT(Task(1000, Id(9, 9), 1), Task(1001, Id(0, 0), 1));
  EXPECT_EQ(Task(1000, Id(1, 2), 1).size(), 8u + 16u + 1u);
}

TEST(KeysTest, DocumentsAndEventsSortByPositionUnderTheLetter) {
  EXPECT_LT(Document(Id(1, 1), 2), Document(Id(1, 1), 10));
  EXPECT_EQ(Event(Id(1, 1), 0).rfind(EventPrefix(Id(1, 1)), 0), 0u);
}

}  // namespace
}  // namespace utpost::storage::keys
