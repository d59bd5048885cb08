// Configuration of citizen form submissions (config section `forms`), served by the ledger.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace utpost::ledger {

struct FormsConfig {
  // How long a fetched submission is leased to the fetching case system (`lease_time`):
  // until then no fetch offers it again; after it, a fetch does if it is still pending.
  // At least 1s.
  absl::Duration lease_time = absl::Minutes(5);
  // The most submissions one FetchSubmissions call leases and streams (`max_per_fetch`).
  // The stream holds one envelope in memory at a time.
  int max_per_fetch = 16;
  // FetchSubmissions streams open at once, all organisations together
  // (`max_fetch_streams`); more are refused with RESOURCE_EXHAUSTED.
  int max_fetch_streams = 16;
  // The most attachment bytes of one submission, the ceiling of every form type's
  // max_total_bytes (`max_submission_bytes`). SubmitForm requests may be 1 MiB larger.
  uint64_t max_submission_bytes = 50ull << 20;
  // The most fields of a form type (and values of a submission) (`max_fields`), attachments
  // of a submission (`max_attachments`) and allowed portals of a form type (`max_portals`).
  int max_fields = 200;
  int max_attachments = 20;
  int max_portals = 100;
  // Submissions scanned at most for one ListSubmissions page or one fetch's lease
  // (`list_max_scan`): bounds the work of a filtered request.
  int list_max_scan = 2000;
};

// "forms.<key>: <rule>" for the first setting out of range, else OK.
[[nodiscard]] inline absl::Status ValidateFormsConfig(const FormsConfig& config) {
  if (config.lease_time < absl::Seconds(1)) {
    return absl::InvalidArgumentError("forms.lease_time: must be at least 1s");
  }
  if (config.max_per_fetch > 1000) {
    return absl::InvalidArgumentError("forms.max_per_fetch: must be at most 1000");
  }
  if (config.max_fields > 1000) {
    return absl::InvalidArgumentError("forms.max_fields: must be at most 1000");
  }
  if (config.max_attachments > 1000) {
    return absl::InvalidArgumentError("forms.max_attachments: must be at most 1000");
  }
  if (config.max_portals > 1000) {
    return absl::InvalidArgumentError("forms.max_portals: must be at most 1000");
  }
  if (config.max_submission_bytes > (1ull << 30)) {
    return absl::InvalidArgumentError("forms.max_submission_bytes: must be at most 1 GiB");
  }
  return absl::OkStatus();
}

}  // namespace utpost::ledger
