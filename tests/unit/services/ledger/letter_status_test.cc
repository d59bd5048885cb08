#include "services/ledger/letter_status.h"

#include <gtest/gtest.h>

#include <set>

namespace utpost::ledger {
namespace {

using S = v1::LetterStatus;

std::vector<S> AllStatuses() {
  std::vector<S> all;
  for (int s = v1::LetterStatus_MIN; s <= v1::LetterStatus_MAX; ++s) {
    if (v1::LetterStatus_IsValid(s) && s != v1::LETTER_STATUS_UNSPECIFIED) {
      all.push_back(static_cast<S>(s));
    }
  }
  return all;
}

TEST(LetterStatusTest, TransitionsFollowTheLifeOfALetter) {
  EXPECT_TRUE(IsAllowedTransition(S::LETTER_STATUS_ACCEPTED, S::LETTER_STATUS_ROUTED));
  EXPECT_TRUE(IsAllowedTransition(S::LETTER_STATUS_ROUTED, S::LETTER_STATUS_QUEUED_FOR_PRINT));
  EXPECT_TRUE(
      IsAllowedTransition(S::LETTER_STATUS_DELIVERED_DIGITALLY, S::LETTER_STATUS_QUEUED_FOR_PRINT));
  EXPECT_TRUE(IsAllowedTransition(S::LETTER_STATUS_QUEUED_FOR_PRINT, S::LETTER_STATUS_PRINTED));
  EXPECT_FALSE(IsAllowedTransition(S::LETTER_STATUS_PRINTED, S::LETTER_STATUS_CANCELLED));
  EXPECT_FALSE(IsAllowedTransition(S::LETTER_STATUS_READ, S::LETTER_STATUS_QUEUED_FOR_PRINT));
  EXPECT_FALSE(
      IsAllowedTransition(S::LETTER_STATUS_DELIVERED_DIGITALLY, S::LETTER_STATUS_CANCELLED));
  EXPECT_FALSE(IsAllowedTransition(S::LETTER_STATUS_CANCELLED, S::LETTER_STATUS_ROUTED));
  EXPECT_FALSE(IsAllowedTransition(S::LETTER_STATUS_UNSPECIFIED, S::LETTER_STATUS_ACCEPTED));
  // Nothing returns a letter to ACCEPTED, and no status moves to itself.
  for (S s : AllStatuses()) {
    EXPECT_FALSE(IsAllowedTransition(s, S::LETTER_STATUS_ACCEPTED)) << s;
    EXPECT_FALSE(IsAllowedTransition(s, s)) << s;
  }
}

TEST(LetterStatusTest, OnlyLettersNotYetHandedToAChannelAreCancellable) {
  std::set<S> cancellable;
  for (S s : AllStatuses()) {
    if (IsCancellable(s)) cancellable.insert(s);
  }
  EXPECT_EQ(cancellable, (std::set<S>{S::LETTER_STATUS_ACCEPTED, S::LETTER_STATUS_ROUTED}));
  EXPECT_FALSE(IsCancellable(S::LETTER_STATUS_UNSPECIFIED));
}

TEST(LetterStatusTest, TerminalStatusesAreThoseNoRowLeaves) {
  std::set<S> terminal;
  for (S s : AllStatuses()) {
    if (IsTerminal(s)) terminal.insert(s);
  }
  EXPECT_EQ(terminal, (std::set<S>{S::LETTER_STATUS_READ, S::LETTER_STATUS_PRINTED,
                                   S::LETTER_STATUS_CANCELLED, S::LETTER_STATUS_FAILED}));
  EXPECT_FALSE(IsTerminal(S::LETTER_STATUS_UNSPECIFIED));
  EXPECT_FALSE(IsTerminal(static_cast<S>(99)));
}

TEST(LetterStatusTest, EveryStatusIsReachableFromAcceptedAndTheTableHasNoDuplicates) {
  std::set<S> reached = {S::LETTER_STATUS_ACCEPTED};
  for (bool grew = true; grew;) {
    grew = false;
    for (const StatusTransition& t : StatusTransitions()) {
      if (reached.contains(t.from) && reached.insert(t.to).second) grew = true;
    }
  }
  const std::vector<S> all = AllStatuses();
  EXPECT_EQ(reached, std::set<S>(all.begin(), all.end()));
  std::set<std::pair<S, S>> rows;
  for (const StatusTransition& t : StatusTransitions()) {
    EXPECT_TRUE(rows.insert({t.from, t.to}).second) << t.from << " -> " << t.to;
  }
}

}  // namespace
}  // namespace utpost::ledger
