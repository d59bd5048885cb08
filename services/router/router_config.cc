#include "services/router/router_config.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace utpost::router {
namespace {

bool InRange(absl::Duration d, absl::Duration lo, absl::Duration hi) { return d >= lo && d <= hi; }

bool IsPrintableAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

}  // namespace

absl::Status ValidateRouterConfig(const RouterConfig& c) {
  auto bad = [](std::string_view key, std::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("router.", common::Av(key), ": ", common::Av(rule)));
  };
  if (c.workers < 1 || c.workers > 64) return bad("workers", "must be 1..64");
  if (c.batch_size < 1 || c.batch_size > 1000) return bad("batch_size", "must be 1..1000");
  if (!InRange(c.rpc_timeout, absl::Milliseconds(100), absl::Seconds(60))) {
    return bad("rpc_timeout", "must be 100ms..60s");
  }
  if (!InRange(c.lease_for, absl::Seconds(1), absl::Hours(1))) {
    return bad("lease_for", "must be 1s..1h");
  }
  if (c.lease_for < 3 * c.rpc_timeout) {
    return bad("lease_for", "must be at least 3 x rpc_timeout");
  }
  if (!InRange(c.poll_interval, absl::Milliseconds(10), absl::Seconds(10))) {
    return bad("poll_interval", "must be 10ms..10s");
  }
  if (!InRange(c.backoff_min, absl::Milliseconds(100), absl::Hours(1))) {
    return bad("backoff_min", "must be 100ms..1h");
  }
  if (!InRange(c.backoff_max, c.backoff_min, absl::Hours(24 * 7))) {
    return bad("backoff_max", "must be backoff_min..7d");
  }
  if (c.max_in_flight < 1 || c.max_in_flight > 4096) {
    return bad("max_in_flight", "must be 1..4096");
  }
  if (c.name.empty() || c.name.size() > 128 || !IsPrintableAscii(c.name)) {
    return bad("name", "must be 1..128 printable ASCII characters");
  }
  return absl::OkStatus();
}

}  // namespace utpost::router
