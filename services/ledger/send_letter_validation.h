// Validation of SendLetterRequest, in one place. Every violation is reported at once, each
// with its field path, as INVALID_ARGUMENT carrying a google.rpc.BadRequest
// (common/field_violations.h). Pure: no I/O, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/field_violations.h"
#include "pdf/printability.h"
#include "utpost/internal/v1/tasks.pb.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::ledger {

struct LetterLimits {
  // Sum of all documents' sizes. Field "documents" when exceeded.
  uint64_t max_total_bytes = 50ull << 20;
  // Documents per letter.
  int max_documents = 100;
  // Title length in characters (UTF-8 code points).
  int max_title_chars = 1000;
  // The shortest options.print_if_unread_after (the longest is 90 days). An operator may
  // lower it, e.g. for a demo.
  absl::Duration min_print_if_unread_after = absl::Hours(1);
  // What print accepts (pages, A4 within a tolerance), checked at acceptance.
  pdf::PrintabilityLimits printability;
};

// How far ahead options.deliver_after may be.
inline constexpr absl::Duration kMaxDeliverAfterAhead = absl::Hours(366 * 24);

// OK, or INVALID_ARGUMENT with every violation. Field paths follow proto field names:
//   recipient, recipient.person.norwegian_national_id, recipient.person.danish_cpr,
//   recipient.organisation.norwegian_org_number, recipient.organisation.danish_cvr,
//   postal_address.name, postal_address.address_lines, postal_address.address_lines[i],
//   postal_address.postal_code, postal_address.city, postal_address.country_code,
//   title, documents, documents[i].filename, documents[i].media_type, documents[i].content,
//   options.channel_policy, options.print_if_unread_after, options.security_level,
//   options.deliver_after (a valid timestamp at most 366 days after `now`; any policy),
//   reply_to (and reply_to.norwegian_org_number / reply_to.danish_cvr),
//   external_reference, idempotency_key
// `now` is the ledger's clock.
[[nodiscard]] absl::Status ValidateSendLetter(const v1::SendLetterRequest& request,
                                              const LetterLimits& limits, absl::Time now);

// Recipients per LetterService.PreviewRoutes call.
inline constexpr int kMaxPreviewRecipients = 1000;

// OK, or INVALID_ARGUMENT with every violation of a PreviewRoutes request, each field checked
// as SendLetter checks it: recipients (1..kMaxPreviewRecipients), recipients[i].recipient
// (and its identifier paths, e.g. recipients[2].recipient.person.norwegian_national_id),
// options.*.
[[nodiscard]] absl::Status ValidatePreviewRoutes(const v1::PreviewRoutesRequest& request,
                                                 const LetterLimits& limits, absl::Time now);

// Whether each document of a valid `request` can be printed (pdf::CheckPrintable), in document
// order, so that print knows before it reads a document. Empty under CHANNEL_POLICY_DIGITAL_ONLY,
// where the letter never goes to print. Under CHANNEL_POLICY_PRINT_ONLY a document that cannot
// be printed is INVALID_ARGUMENT at documents[i].content with the problem ("page 2 is landscape
// ..."): the letter could only fail. Under AUTO the letter is accepted, since digital delivery
// may not need print; should it go to print, it fails there with the same problem.
[[nodiscard]] absl::StatusOr<std::vector<internal::v1::Printability>> CheckLetterPrintability(
    const v1::SendLetterRequest& request, const LetterLimits& limits);

// A document's or attachment's file name: 1..255 bytes of UTF-8, no path separators, control
// or invisible formatting characters, none of \ / : * ? " < > |, not "." or "..". Adds at most
// one violation for `field`.
void CheckFilename(common::FieldViolations& v, const std::string& field, std::string_view filename);

// The key under which file names must be unique, for valid UTF-8 `name` (ASCII and Latin-1
// capitals folded).
std::u32string FoldedFilename(std::string_view name);

// A media type "type/subtype" in lower case (RFC 6838 restricted names).
bool IsMediaType(std::string_view s);

}  // namespace utpost::ledger
