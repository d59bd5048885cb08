// The life of a letter as one table: every allowed status change is a row (from, to), and
// everything else the ledger asks about a status is read off that table:
//   - a transition is allowed if its row is there;
//   - a letter is cancellable if its status has a row to CANCELLED (ACCEPTED and ROUTED:
//     the letter has not been handed to a channel yet, so nothing has left utpost);
//   - a status is terminal if it has no row out of it (READ, PRINTED, CANCELLED, FAILED):
//     a letter in it has no pending tasks.
// Pure, thread-safe.
#pragma once

#include <array>
#include <span>

#include "utpost/v1/letters.pb.h"

namespace utpost::ledger {

struct StatusTransition {
  v1::LetterStatus from;
  v1::LetterStatus to;
};

// Every allowed status change. ACCEPTED is the only status a letter starts in.
inline constexpr std::array<StatusTransition, 12> kStatusTransitions = {{
    // A channel is chosen, or the letter is queued for print at once, cancelled by its
    // sender, or found undeliverable.
    {v1::LETTER_STATUS_ACCEPTED, v1::LETTER_STATUS_ROUTED},
    {v1::LETTER_STATUS_ACCEPTED, v1::LETTER_STATUS_QUEUED_FOR_PRINT},
    {v1::LETTER_STATUS_ACCEPTED, v1::LETTER_STATUS_CANCELLED},
    {v1::LETTER_STATUS_ACCEPTED, v1::LETTER_STATUS_FAILED},
    // Routed but not handed over: still the sender's to cancel.
    {v1::LETTER_STATUS_ROUTED, v1::LETTER_STATUS_DELIVERED_DIGITALLY},
    {v1::LETTER_STATUS_ROUTED, v1::LETTER_STATUS_QUEUED_FOR_PRINT},
    {v1::LETTER_STATUS_ROUTED, v1::LETTER_STATUS_CANCELLED},
    {v1::LETTER_STATUS_ROUTED, v1::LETTER_STATUS_FAILED},
    // Unread past its deadline, a delivered letter is printed as well.
    {v1::LETTER_STATUS_DELIVERED_DIGITALLY, v1::LETTER_STATUS_READ},
    {v1::LETTER_STATUS_DELIVERED_DIGITALLY, v1::LETTER_STATUS_QUEUED_FOR_PRINT},
    // Handed to print: no longer cancellable.
    {v1::LETTER_STATUS_QUEUED_FOR_PRINT, v1::LETTER_STATUS_PRINTED},
    {v1::LETTER_STATUS_QUEUED_FOR_PRINT, v1::LETTER_STATUS_FAILED},
}};

// The rows above, for tests and documentation.
std::span<const StatusTransition> StatusTransitions();

// True if a letter in status `from` may move to `to` (its row is in the table).
bool IsAllowedTransition(v1::LetterStatus from, v1::LetterStatus to);

// True if the sender may still cancel a letter in `status`: the table allows `status` ->
// CANCELLED.
bool IsCancellable(v1::LetterStatus status);

// True if no transition leaves `status`. UNSPECIFIED and unknown values are not statuses a
// letter can have and are reported as not terminal.
bool IsTerminal(v1::LetterStatus status);

}  // namespace utpost::ledger
