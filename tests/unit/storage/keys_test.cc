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

TEST(KeysTest, DueKeysOrderByKindThenDueTimeThenTaskId) {
  EXPECT_LT(TaskDue(1, 1000, Id(9, 9)), TaskDue(1, 1001, Id(0, 0)));
  EXPECT_LT(TaskDue(1, 1000, Id(1, 1)), TaskDue(1, 1000, Id(1, 2)));
  // Every key of kind 1 sorts before every key of kind 2, however late it is due.
  EXPECT_LT(TaskDue(1, INT64_MAX, Id(255, 255)), TaskDue(2, 0, Id(0, 0)));
  EXPECT_LT(TaskDue(1, 1000, Id(9, 9)), TaskDueStart(1, 1001));
  EXPECT_LE(TaskDueStart(1, 1000), TaskDue(1, 1000, Id(0, 0)));
  EXPECT_EQ(TaskDue(1, 1000, Id(1, 2)).size(), kTaskDueKeySize);
  EXPECT_EQ(DueMsFromTaskDue(TaskDue(3, 1'790'000'000'123, Id(1, 2))), 1'790'000'000'123);
  EXPECT_EQ(TaskIdFromTaskDue(TaskDue(3, 5, Id(1, 2))), Id(1, 2));
  // Before the epoch is stored as the epoch: such a task is simply due.
  EXPECT_EQ(DueMsFromTaskDue(TaskDue(1, -5, Id(1, 2))), 0);
  EXPECT_EQ(Task(Id(1, 2)).size(), 16u);
}

TEST(KeysTest, DocumentsAndEventsSortByPositionUnderTheLetter) {
  EXPECT_LT(Document(Id(1, 1), 2), Document(Id(1, 1), 10));
  EXPECT_EQ(Event(Id(1, 1), 0).rfind(EventPrefix(Id(1, 1)), 0), 0u);
}

}  // namespace
}  // namespace utpost::storage::keys
