// The plaintext of a submission's CMS envelope: one MIME multipart/mixed entity, as
// utpost/v1/forms.proto describes it (a JSON part with the submission's metadata and values,
// then one part per attachment, binary). Written in pieces to a sink, so that the
// attachments' bytes go to the encryption as they are, never copied into a second buffer.
// Pure: no I/O, thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "utpost/v1/forms.pb.h"

namespace utpost::ledger {

// What the JSON part says besides the values and attachments of the request.
struct SubmissionHeader {
  std::string submission_id;
  std::string form_type_id;
  uint32_t form_type_version = 0;
  std::string form_title;
  std::string municipality;  // org key
  std::string portal;        // org key
  absl::Time receipt_time;
};

using MimeSink = std::function<absl::Status(std::string_view bytes)>;

// The JSON part's body: {"submission_id": ..., "values": {...}, "attachments": [...]}.
std::string SubmissionJson(const SubmissionHeader& header, const v1::SubmitFormRequest& request);

// Writes the whole MIME entity for `request` (validated) to `sink`, with `boundary` (which
// must occur in no part: see ChooseBoundary). Returns the sink's first error.
[[nodiscard]] absl::Status WriteSubmissionMime(std::string_view json,
                                               const v1::SubmitFormRequest& request,
                                               std::string_view boundary, const MimeSink& sink);

// A boundary made from `random_bytes` (hex, prefixed) that occurs neither in `json` nor in
// any attachment of `request`; `next_random` gives fresh bytes when a candidate occurs.
std::string ChooseBoundary(std::string_view json, const v1::SubmitFormRequest& request,
                           const std::function<std::string()>& next_random);

// `text` as a JSON string literal (quotes included); `text` is valid UTF-8.
std::string JsonString(std::string_view text);

}  // namespace utpost::ledger
