// The courier's metrics (prometheus-cpp), registered on the process's registry. Labels are
// bounded: provider ids come from the registry (a handful) and pass ProviderLabel; outcomes
// are the fixed words below. Thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace utpost::courier {

class CourierMetrics {
 public:
  // Registers (or, with a registry that already has them, reuses) the families.
  explicit CourierMetrics(prometheus::Registry& registry);

  // utpost_courier_deliveries_total{provider, outcome}. Outcomes: delivered, replayed
  // (the provider had it already), permanent (the provider refused; to print or failed),
  // retried (transient; given back with back-off), fallback (retry deadline passed; to
  // print or failed), backed_off (breaker open), busy (provider at its share), dropped
  // (the task was no longer the courier's: stale lease, letter moved on).
  void Delivery(std::string_view provider, std::string_view outcome);
  // utpost_courier_delivery_duration_seconds{provider}: documents read, encrypted and
  // delivered, from the first read to the provider's answer (any answer).
  void DeliveryLatency(std::string_view provider, double seconds);
  // utpost_courier_deliveries_in_flight.
  void InFlight(int delta);
  // utpost_courier_receipts_total{provider, outcome}. Outcomes: recorded, replayed, refused
  // (not the provider's letter, unknown, malformed), moved_on (the letter was already
  // printed or read), kept (transient; pulled again later), early (a read the ledger cannot
  // apply yet, its delivery not recorded; pulled again for up to 10 minutes), pull_failed.
  void Receipt(std::string_view provider, std::string_view outcome);
  // utpost_courier_unread_checks_total{outcome}: to_print, read (already read or moved on),
  // retried, dropped.
  void UnreadCheck(std::string_view outcome);
  // utpost_certificate_expiry_timestamp_seconds{kind="provider", name=<provider>}: the
  // notAfter of the encryption certificate the courier just used for `provider` (parsed
  // again only when the certificate changes).
  void ProviderCertificate(std::string_view provider, std::string_view certificate_pem);

 private:
  prometheus::Family<prometheus::Counter>& deliveries_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Gauge& in_flight_;
  prometheus::Family<prometheus::Counter>& receipts_;
  prometheus::Family<prometheus::Counter>& unread_checks_;
  prometheus::Family<prometheus::Gauge>& certificate_expiry_;
  std::mutex mu_;
  std::map<std::string, std::string, std::less<>> certificates_;  // provider -> PEM; mu_
};

}  // namespace utpost::courier
