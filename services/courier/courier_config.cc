#include "services/courier/courier_config.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace utpost::courier {
namespace {

bool InRange(absl::Duration d, absl::Duration lo, absl::Duration hi) { return d >= lo && d <= hi; }

bool IsPrintableAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

bool IsProviderId(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

absl::Status ValidateCourierConfig(const CourierConfig& c) {
  auto bad = [](std::string_view key, std::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("courier.", common::Av(key), ": ", common::Av(rule)));
  };
  if (c.workers < 1 || c.workers > 64) return bad("workers", "must be 1..64");
  if (c.batch_size < 1 || c.batch_size > 1000) return bad("batch_size", "must be 1..1000");
  if (!InRange(c.rpc_timeout, absl::Milliseconds(100), absl::Seconds(60))) {
    return bad("rpc_timeout", "must be 100ms..60s");
  }
  if (!InRange(c.provider_timeout, absl::Milliseconds(100), absl::Minutes(10))) {
    return bad("provider_timeout", "must be 100ms..10m");
  }
  if (!InRange(c.lease_for, absl::Seconds(1), absl::Hours(1))) {
    return bad("lease_for", "must be 1s..1h");
  }
  if (c.lease_for < 2 * c.provider_timeout + c.rpc_timeout) {
    return bad("lease_for", "must be at least 2 x provider_timeout + rpc_timeout");
  }
  if (!InRange(c.poll_interval, absl::Milliseconds(10), absl::Seconds(10))) {
    return bad("poll_interval", "must be 10ms..10s");
  }
  if (!InRange(c.backoff_min, absl::Milliseconds(10), absl::Hours(1))) {
    return bad("backoff_min", "must be 10ms..1h");
  }
  if (!InRange(c.backoff_max, c.backoff_min, absl::Hours(24 * 7))) {
    return bad("backoff_max", "must be backoff_min..7d");
  }
  if (!InRange(c.retry_deadline, absl::Seconds(1), absl::Hours(24 * 30))) {
    return bad("retry_deadline", "must be 1s..30d");
  }
  if (c.max_in_flight < 1 || c.max_in_flight > 1024) {
    return bad("max_in_flight", "must be 1..1024");
  }
  if (c.max_in_flight_per_provider < 1 || c.max_in_flight_per_provider > c.max_in_flight) {
    return bad("max_in_flight_per_provider", "must be 1..max_in_flight");
  }
  if (c.breaker_failures < 1 || c.breaker_failures > 1000) {
    return bad("breaker_failures", "must be 1..1000");
  }
  if (!InRange(c.receipt_poll_interval, absl::Milliseconds(10), absl::Minutes(10))) {
    return bad("receipt_poll_interval", "must be 10ms..10m");
  }
  for (const std::string& id : c.receipt_providers) {
    if (!IsProviderId(id)) return bad("receipt_providers", "each must be 1..64 of [a-z0-9-]");
  }
  if (c.name.empty() || c.name.size() > 128 || !IsPrintableAscii(c.name)) {
    return bad("name", "must be 1..128 printable ASCII characters");
  }
  return absl::OkStatus();
}

}  // namespace utpost::courier
