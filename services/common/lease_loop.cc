#include "services/common/lease_loop.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "services/common/log.h"

namespace utpost::service {

absl::Duration LeaseBackoff(int failures, absl::Duration poll_interval, absl::Duration cap) {
  cap = std::max(poll_interval, cap);
  absl::Duration wait = poll_interval;
  for (int i = 1; i < failures && wait < cap; ++i) wait *= 2;
  return std::min(wait, cap);
}

void LeaseLoop::Run() const {
  int failures = 0;
  while (!stopping()) {
    absl::StatusOr<int> leased = lease_once();
    if (!leased.ok()) {
      if (stopping()) return;
      if (failures == 0) {
        Log(spdlog::level::warn, absl::StrCat(component, " cannot lease tasks"),
            {{"worker", worker}, {"code", absl::StatusCodeToString(leased.status().code())}});
      }
      ++failures;
      if (!wait(LeaseBackoff(failures, poll_interval) * (0.5 + 0.5 * unit_random()))) return;
      continue;
    }
    if (failures > 0) {
      Log(spdlog::level::info, absl::StrCat(component, " leases tasks again"),
          {{"worker", worker}, {"failures", absl::StrCat(failures)}});
      failures = 0;
    }
    if (*leased == 0 && !wait(poll_interval)) return;
  }
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

bool IsRetryableTaskCall(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
      return true;
    default:
      return false;
  }
}

}  // namespace utpost::service
