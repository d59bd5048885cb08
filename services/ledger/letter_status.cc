#include "services/ledger/letter_status.h"

#include <algorithm>

namespace utpost::ledger {

std::span<const StatusTransition> StatusTransitions() { return kStatusTransitions; }

bool IsAllowedTransition(v1::LetterStatus from, v1::LetterStatus to) {
  return std::any_of(kStatusTransitions.begin(), kStatusTransitions.end(),
                     [&](const StatusTransition& t) { return t.from == from && t.to == to; });
}

bool IsCancellable(v1::LetterStatus status) {
  return IsAllowedTransition(status, v1::LETTER_STATUS_CANCELLED);
}

bool IsTerminal(v1::LetterStatus status) {
  if (status == v1::LETTER_STATUS_UNSPECIFIED || !v1::LetterStatus_IsValid(status)) return false;
  return std::none_of(kStatusTransitions.begin(), kStatusTransitions.end(),
                      [&](const StatusTransition& t) { return t.from == status; });
}

}  // namespace utpost::ledger
