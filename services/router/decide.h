// The router's decision: which channel a letter takes, and why. A pure function of the
// letter (recipient, postal address, delivery options) and what the registry says about the
// recipient, so that every rule is tested without a server.
//
// The rules, in order:
//  1. CHANNEL_POLICY_PRINT_ONLY: print, SENDER_REQUESTED_PRINT.
//  2. An organisation whose inbox names a provider the registry knows: organisation inbox,
//     HAS_ORGANISATION_INBOX, next task DELIVER_ORGANISATION_INBOX.
//  3. A person with a mailbox, not reserved, whose provider the registry knows and supports
//     the letter's security level (unspecified means SUBSTANTIAL on both sides): digital
//     mailbox, HAS_DIGITAL_MAILBOX, next task DELIVER_DIGITAL.
//  4. Otherwise the letter would be printed, with the reason: RECIPIENT_RESERVED (a
//     reservation wins over a mailbox), SECURITY_LEVEL_NOT_SUPPORTED, or NO_MAILBOX (no
//     entry, no mailbox or inbox, or one at a provider the registry does not know; the
//     detail says which). Under CHANNEL_POLICY_DIGITAL_ONLY the letter FAILS with that
//     reason instead.
//  5. Print needs a postal address: the letter's own wins over the registry's. With neither,
//     the letter FAILS with NO_CHANNEL and needs manual handling.
//
// The detail is shown to the sender and stored: it names rules, reasons, provider ids and
// security levels, never an identifier, a mailbox address or a postal address.
#pragma once

#include <optional>
#include <string>

#include "utpost/internal/v1/tasks.pb.h"
#include "utpost/v1/letters.pb.h"
#include "utpost/v1/registry.pb.h"

namespace utpost::router {

// Where a print task finds the postal address.
enum class AddressSource {
  kNone,      // not printed, or no address anywhere
  kLetter,    // the address submitted with the letter
  kRegistry,  // the registry entry's address
};

struct Decision {
  // LETTER_STATUS_ROUTED or LETTER_STATUS_FAILED.
  v1::LetterStatus status = v1::LETTER_STATUS_UNSPECIFIED;
  // The channel when ROUTED; CHANNEL_UNSPECIFIED when FAILED.
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
  // Why; never STATUS_REASON_UNSPECIFIED.
  v1::StatusReason reason = v1::STATUS_REASON_UNSPECIFIED;
  // The task that follows a ROUTED letter; none when FAILED.
  std::optional<internal::v1::TaskKind> next_task;
  // Where print reads the address from; kNone unless the channel is PRINT.
  AddressSource address_source = AddressSource::kNone;
  // For operators and the sender; no personal data. At most 1000 characters.
  std::string detail;
};

// Decides for `letter`. `lookup` is the registry's answer for the letter's recipient, or
// nullptr when there is none (treated as an answer without an entry). The caller must have
// checked that the answer is about this recipient (LookupAnswersRecipient). Total: every
// input yields a decision; a letter without a recipient FAILS with NO_CHANNEL.
Decision Decide(const internal::v1::TaskLetter& letter, const v1::LookupResult* lookup);

// The registry key that names `recipient`, or nullopt if the recipient names nobody.
std::optional<v1::RegistryKey> RegistryKeyFor(const v1::Recipient& recipient);

// A string that is equal for two recipients exactly when they name the same registry entry;
// for de-duplicating a batch's lookups. Empty if the recipient names nobody. Personal data:
// never log it.
std::string RecipientDedupKey(const v1::Recipient& recipient);

// True if `result` can be about `recipient`: no entry, or an entry of the same kind with the
// same identifier, whose provider (if any) is the one its mailbox or inbox names. A result
// that fails this is a registry fault; the router retries the task instead of deciding.
bool LookupAnswersRecipient(const v1::Recipient& recipient, const v1::LookupResult& result);

}  // namespace utpost::router
