// The router as a module of a utpost process (services/common/module.h). It serves nothing:
// from Start on it calls the ledger's TaskService and the registry's RegistryLookupService
// through the channels the ModuleContext gives it (in-process when they run in the same
// process, mutual TLS with the router's component certificate to components.addresses
// otherwise), so any number of router processes may run against one ledger.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/module.h"
#include "services/router/router.h"
#include "services/router/router_config.h"

namespace utpost::router {

// The router module's name, as --target and component certificates spell it.
inline constexpr char kRouterComponent[] = "router";
// The components it calls.
inline constexpr char kLedgerComponentName[] = "ledger";
inline constexpr char kRegistryComponentName[] = "registry";

class RouterModule final : public service::Module {
 public:
  // `context` outlives the module (module.h).
  RouterModule(service::ModuleContext& context, RouterConfig config);
  ~RouterModule() override;

  // Opens the channels to the ledger and the registry and starts the loops.
  // FAILED_PRECONDITION if either runs in another process whose address is not configured,
  // or its certificate files cannot be read.
  [[nodiscard]] absl::Status Start() override;
  // Stops the loops (completions in flight finish) and lets the channels go, while the
  // server (and so the in-process channel) still runs.
  void Stop() override;

  // Counters of the running routers (one per ledger shard), added up; zero before Start.
  RouterStats stats() const;

 private:
  service::ModuleContext& context_;
  const RouterConfig config_;
  std::vector<std::unique_ptr<Router>> routers_;  // one per ledger shard
  RouterStats last_stats_;
};

// Reads config.router (already checked by app::Finalize). Registers no service.
[[nodiscard]] absl::StatusOr<std::unique_ptr<service::Module>> NewRouterModule(
    service::ModuleContext& context);

}  // namespace utpost::router
