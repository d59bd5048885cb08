// The letters a form submission sends its citizen, through the normal letter path: a receipt
// when the form type asks for one, and a notice when the municipality rejects the submission.
// Each is a letter from the municipality with one PDF (pdf/text_page.h) naming the form, the
// submission id and its receipt time (and, for a notice, the reason). Pure: thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::ledger {

struct FormLetterFacts {
  std::string municipality;  // org key, the sender
  v1::PersonId citizen;
  std::string form_title;
  std::string submission_id;
  absl::Time receipt_time;
};

// INTERNAL if the PDF cannot be made.
[[nodiscard]] absl::StatusOr<v1::SendLetterRequest> ReceiptLetter(const FormLetterFacts& facts);
[[nodiscard]] absl::StatusOr<v1::SendLetterRequest> NoticeLetter(const FormLetterFacts& facts,
                                                                 std::string_view reason);

}  // namespace utpost::ledger
