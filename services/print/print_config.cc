#include "services/print/print_config.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace utpost::print {
namespace {

bool InRange(absl::Duration d, absl::Duration lo, absl::Duration hi) { return d >= lo && d <= hi; }

bool IsProviderId(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

bool IsComponentEndpoint(const std::string& endpoint) {
  return !endpoint.empty() && endpoint.find(':') == std::string::npos;
}

absl::Status ValidatePrintConfig(const PrintConfig& c) {
  auto bad = [](std::string_view key, std::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("print.", common::Av(key), ": ", common::Av(rule)));
  };
  if (c.data_dir.empty()) return bad("data_dir", "must be set");
  if (!IsProviderId(c.provider_id)) {
    return bad("provider_id", "must be 1..64 characters of [a-z0-9-]");
  }
  if (c.provider_endpoint.empty() || c.provider_endpoint.size() > 2000) {
    return bad("provider_endpoint", "must be a component name or host:port");
  }
  if (c.provider_endpoint.find(':') != std::string::npos &&
      c.provider_endpoint.rfind(':') + 1 == c.provider_endpoint.size()) {
    return bad("provider_endpoint", "must be a component name or host:port");
  }
  if (c.provider_certificate.empty()) return bad("provider_certificate", "must be set");
  if (c.home_country.size() != 2 || !std::all_of(c.home_country.begin(), c.home_country.end(),
                                                 [](char ch) { return ch >= 'A' && ch <= 'Z'; })) {
    return bad("home_country", "must be an ISO 3166-1 alpha-2 code, e.g. NO");
  }
  if (c.batch_max_letters < 1 || c.batch_max_letters > 100000) {
    return bad("batch_max_letters", "must be 1..100000");
  }
  if (c.batch_max_bytes < (uint64_t{1} << 20) || c.batch_max_bytes > (uint64_t{1} << 30)) {
    return bad("batch_max_bytes", "must be 1 MiB..1 GiB");
  }
  if (!InRange(c.batch_window, absl::Seconds(1), absl::Hours(24 * 7))) {
    return bad("batch_window", "must be 1s..7d");
  }
  if (c.lease_batch < 1 || c.lease_batch > 100) return bad("lease_batch", "must be 1..100");
  if (!InRange(c.lease_for, absl::Seconds(1), absl::Hours(1))) {
    return bad("lease_for", "must be 1s..1h");
  }
  if (!InRange(c.poll_interval, absl::Milliseconds(10), absl::Seconds(60))) {
    return bad("poll_interval", "must be 10ms..60s");
  }
  if (!InRange(c.status_poll_interval, absl::Milliseconds(100), absl::Hours(1))) {
    return bad("status_poll_interval", "must be 100ms..1h");
  }
  if (!InRange(c.rpc_timeout, absl::Milliseconds(100), absl::Seconds(60))) {
    return bad("rpc_timeout", "must be 100ms..60s");
  }
  if (!InRange(c.stream_timeout, absl::Seconds(1), absl::Hours(1))) {
    return bad("stream_timeout", "must be 1s..1h");
  }
  if (!InRange(c.backoff_min, absl::Milliseconds(100), absl::Hours(1))) {
    return bad("backoff_min", "must be 100ms..1h");
  }
  if (!InRange(c.backoff_max, c.backoff_min, absl::Hours(24))) {
    return bad("backoff_max", "must be backoff_min..24h");
  }
  if (c.max_pages < 1 || c.max_pages > 10000) return bad("max_pages", "must be 1..10000");
  if (!(c.page_tolerance_mm >= 0 && c.page_tolerance_mm <= 20)) {
    return bad("page_tolerance_mm", "must be 0..20");
  }
  if (c.name.empty() || c.name.size() > 128 ||
      !std::all_of(c.name.begin(), c.name.end(),
                   [](char ch) { return ch >= 0x20 && ch <= 0x7e; })) {
    return bad("name", "must be 1..128 printable ASCII characters");
  }
  return absl::OkStatus();
}

}  // namespace utpost::print
