// Configuration of the courier (config section `courier:`). Every field has a working
// default; ValidateCourierConfig says which values are out of range.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace utpost::courier {

struct CourierConfig {
  // Lease loops run at once (`workers`). Each leases tasks while the courier has room for
  // more deliveries, looks the batch's recipients up in one registry call and hands each
  // delivery to the delivery pool. 1..64.
  int workers = 2;
  // Most tasks one lease takes (`batch_size`), and so the most keys in one registry Lookup.
  // 1..1000.
  int batch_size = 32;
  // How long a lease lasts (`lease_for`). A task neither completed nor failed by then (the
  // courier died) is leased again, possibly by another courier; the provider sees the
  // letter once (Deliver is idempotent by letter id). 1 s..1 h, at least
  // 2 × provider_timeout + rpc_timeout so that a delivery ends before its lease does.
  absl::Duration lease_for = absl::Minutes(2);
  // How long a loop waits after a lease found nothing, or while the courier is full
  // (`poll_interval`). 10 ms..10 s.
  absl::Duration poll_interval = absl::Milliseconds(100);
  // Retry delay after a transient failure (`backoff_min`, `backoff_max`): the n-th retry
  // (n counted by the ledger) waits a uniformly random time in
  // [0, min(backoff_min × 2^n, backoff_max)) ("full jitter"). 10 ms..1 h,
  // backoff_min <= backoff_max <= 7 days.
  absl::Duration backoff_min = absl::Seconds(1);
  absl::Duration backoff_max = absl::Minutes(10);
  // How long after its task was queued a letter keeps being retried after transient
  // failures (`retry_deadline`); then it falls back to print (or fails under DIGITAL_ONLY).
  // 1 s..30 days.
  absl::Duration retry_deadline = absl::Hours(24);
  // Deadline of each call to a provider (`provider_timeout`): a Deliver stream as a whole,
  // PullReceipts, AcknowledgeReceipts. 100 ms..10 min.
  absl::Duration provider_timeout = absl::Seconds(30);
  // Deadline of each call to the ledger or the registry (`rpc_timeout`). 100 ms..60 s.
  absl::Duration rpc_timeout = absl::Seconds(10);
  // Deliveries in flight at once over the courier (`max_in_flight`), each on a thread of the
  // delivery pool, and at most `max_in_flight_per_provider` of them to one provider, so a
  // slow provider holds only its share. 1..1024; per provider 1..max_in_flight.
  int max_in_flight = 32;
  int max_in_flight_per_provider = 16;
  // A provider whose deliveries failed transiently this many times in a row is backed off
  // as a whole (`breaker_failures`): its letters are given back without a call until the
  // back-off ends, then one delivery probes it. 1..1000.
  int breaker_failures = 5;
  // PEM roots that providers' TLS server certificates must chain to (`provider_ca`),
  // relative to data_dir. Empty: the system's roots. The courier presents its component
  // certificate as client certificate.
  std::filesystem::path provider_ca;
  // How often the receipt loop pulls each provider's receipts (`receipt_poll_interval`).
  // 10 ms..10 min.
  absl::Duration receipt_poll_interval = absl::Seconds(1);
  // Providers whose receipts are pulled from the start (`receipt_providers`), besides every
  // provider the courier has delivered to since it started. Each 1..64 of [a-z0-9-].
  std::vector<std::string> receipt_providers = {"dev", "dev-substantial"};
  // The worker name sent with LeaseTasks (`name`). 1..128 printable ASCII characters.
  std::string name = "courier";
};

// INVALID_ARGUMENT naming the first field out of range (by its config key, e.g.
// "courier.batch_size").
[[nodiscard]] absl::Status ValidateCourierConfig(const CourierConfig& config);

}  // namespace utpost::courier
