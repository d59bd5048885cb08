#include "services/courier/courier_metrics.h"

#include <string>

#include "crypto/certificate_time.h"
#include "services/courier/policy.h"

namespace utpost::courier {

CourierMetrics::CourierMetrics(prometheus::Registry& registry)
    : deliveries_(prometheus::BuildCounter()
                      .Name("utpost_courier_deliveries_total")
                      .Help("Delivery attempts by provider and outcome")
                      .Register(registry)),
      latency_(prometheus::BuildHistogram()
                   .Name("utpost_courier_delivery_duration_seconds")
                   .Help("Time from reading a letter's documents to the provider's answer")
                   .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name("utpost_courier_deliveries_in_flight")
                     .Help("Deliveries in progress")
                     .Register(registry)
                     .Add({})),
      receipts_(prometheus::BuildCounter()
                    .Name("utpost_courier_receipts_total")
                    .Help("Provider receipts by provider and outcome")
                    .Register(registry)),
      unread_checks_(prometheus::BuildCounter()
                         .Name("utpost_courier_unread_checks_total")
                         .Help("Print-if-unread deadlines checked, by outcome")
                         .Register(registry)),
      certificate_expiry_(
          prometheus::BuildGauge()
              .Name("utpost_certificate_expiry_timestamp_seconds")
              .Help("When each certificate in use stops being valid (notAfter, Unix seconds)")
              .Register(registry)) {}

void CourierMetrics::Delivery(std::string_view provider, std::string_view outcome) {
  deliveries_.Add({{"provider", ProviderLabel(provider)}, {"outcome", std::string(outcome)}})
      .Increment();
}

void CourierMetrics::DeliveryLatency(std::string_view provider, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  latency_.Add({{"provider", ProviderLabel(provider)}}, kBuckets).Observe(seconds);
}

void CourierMetrics::InFlight(int delta) { in_flight_.Increment(delta); }

void CourierMetrics::Receipt(std::string_view provider, std::string_view outcome) {
  receipts_.Add({{"provider", ProviderLabel(provider)}, {"outcome", std::string(outcome)}})
      .Increment();
}

void CourierMetrics::UnreadCheck(std::string_view outcome) {
  unread_checks_.Add({{"outcome", std::string(outcome)}}).Increment();
}

}  // namespace utpost::courier

namespace utpost::courier {

void CourierMetrics::ProviderCertificate(std::string_view provider,
                                         std::string_view certificate_pem) {
  const std::string label = ProviderLabel(provider);
  {
    std::lock_guard lock(mu_);
    auto it = certificates_.find(label);
    if (it != certificates_.end() && it->second == certificate_pem) return;
    certificates_[label] = std::string(certificate_pem);
  }
  absl::StatusOr<absl::Time> not_after = crypto::CertificateNotAfter(certificate_pem);
  if (!not_after.ok()) return;  // the delivery itself reports an unusable certificate
  certificate_expiry_.Add({{"kind", "provider"}, {"name", label}})
      .Set(static_cast<double>(absl::ToUnixSeconds(*not_after)));
}

}  // namespace utpost::courier
