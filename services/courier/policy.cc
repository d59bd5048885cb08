#include "services/courier/policy.h"

#include <algorithm>

namespace utpost::courier {

// Transition.detail's and FailTask.reason's limit (tasks.proto).
constexpr size_t kMaxDetail = 1000;

FailureKind ClassifyProviderError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnimplemented:
      return FailureKind::kPermanent;
    default:
      return FailureKind::kTransient;
  }
}

absl::Duration FullJitterDelay(absl::Duration backoff_min, absl::Duration backoff_max,
                               uint32_t attempt, double unit) {
  absl::Duration cap = backoff_min;
  for (uint32_t i = 0; i < attempt && cap < backoff_max; ++i) cap *= 2;
  cap = std::min(cap, backoff_max);
  if (!(unit >= 0.0)) unit = 0.0;  // NaN included
  if (unit >= 1.0) unit = 1.0;
  // Rounding could reach `cap` itself for `unit` close to 1.
  return std::max(absl::ZeroDuration(), std::min(cap * unit, cap - absl::Nanoseconds(1)));
}

absl::Time RetryAt(absl::Time now, absl::Time deadline, absl::Duration backoff_min,
                   absl::Duration backoff_max, uint32_t attempt, double unit) {
  return std::min(now + FullJitterDelay(backoff_min, backoff_max, attempt, unit), deadline);
}

std::string SafeDetail(std::string_view text) {
  std::string out(text.substr(0, kMaxDetail));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

std::string ProviderLabel(std::string_view id) {
  if (id.empty()) return "none";
  bool ok = id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
            });
  return ok ? std::string(id) : std::string("(malformed)");
}

bool ProviderBreaker::Admit(absl::Time now, absl::Time* retry_after) {
  if (open_until_ > now) {
    *retry_after = open_until_;
    return false;
  }
  if (openings_ > 0) {
    // Half open: one probe at a time.
    if (probing_) {
      *retry_after = now + backoff_min_;
      return false;
    }
    probing_ = true;
  }
  return true;
}

void ProviderBreaker::OnSuccess() {
  consecutive_failures_ = 0;
  openings_ = 0;
  probing_ = false;
  open_until_ = absl::InfinitePast();
}

void ProviderBreaker::OnTransientFailure(absl::Time now, uint64_t admitted) {
  if (admitted != generation_) return;
  ++consecutive_failures_;
  const bool was_probe = probing_;
  probing_ = false;
  if (was_probe || consecutive_failures_ >= failures_to_open_) {
    absl::Duration cool_off = backoff_min_;
    for (int i = 0; i < openings_ && cool_off < backoff_max_; ++i) cool_off *= 2;
    open_until_ = now + std::min(cool_off, backoff_max_);
    ++openings_;
    ++generation_;
    consecutive_failures_ = 0;
  }
}

void ProviderBreaker::OnAbandoned(uint64_t admitted) {
  if (admitted == generation_) probing_ = false;
}

}  // namespace utpost::courier
