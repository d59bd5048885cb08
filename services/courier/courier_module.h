// The courier as a module of a utpost process (services/common/module.h). It serves nothing:
// from Start on it calls the ledger's TaskService and the registry's RegistryLookupService
// through the channels the ModuleContext gives it, and the providers at their registry
// endpoints (provider_channels.h), so any number of courier processes may run against one
// ledger.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/module.h"
#include "services/courier/courier.h"
#include "services/courier/courier_config.h"
#include "services/courier/courier_metrics.h"
#include "services/courier/provider_channels.h"

namespace utpost::courier {

// The courier module's name, as --target and component certificates spell it.
inline constexpr char kCourierComponent[] = "courier";

// Envelopes as crypto/cms.h makes them (CMS AuthEnvelopedData to the certificate).
EnvelopeWriterFactory CmsEnvelopes();

class CourierModule final : public service::Module {
 public:
  // `context` outlives the module (module.h).
  CourierModule(service::ModuleContext& context, CourierConfig config);
  ~CourierModule() override;

  // Opens the channels to the ledger and the registry, reads the courier's certificate for
  // providers outside utpost, and starts the loops. FAILED_PRECONDITION if the ledger or
  // the registry runs in another process whose address is not configured, or a certificate
  // file cannot be read.
  [[nodiscard]] absl::Status Start() override;
  // Stops the loops (deliveries in flight are cancelled and left to their leases' expiry)
  // while the server, and so the in-process channel, still runs.
  void Stop() override;

  // Counters of the running courier; the last ones after Stop; zero before Start.
  CourierStats stats() const;

 private:
  service::ModuleContext& context_;
  const CourierConfig config_;
  CourierMetrics metrics_;
  std::unique_ptr<ProviderChannels> channels_;
  std::vector<std::unique_ptr<Courier>> couriers_;  // one per ledger shard
  CourierStats last_stats_;
};

// Reads config.courier (already checked by app::Finalize). Registers no service.
[[nodiscard]] absl::StatusOr<std::unique_ptr<service::Module>> NewCourierModule(
    service::ModuleContext& context);

}  // namespace utpost::courier
