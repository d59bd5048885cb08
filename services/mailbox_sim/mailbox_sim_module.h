// The mailbox simulator as a module of a utpost process (services/common/module.h): its own
// RocksDB (config mailbox_sim.data_dir, default data/mailbox-sim), the simulated providers
// (mailbox_sim.h) and three services: MailboxProviderService and PrintProviderService for
// components, MailboxSimControlService for organisations (dev_pki only).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "services/common/executor.h"
#include "services/common/module.h"
#include "services/mailbox_sim/mailbox_sim.h"
#include "services/mailbox_sim/mailbox_sim_service.h"
#include "services/mailbox_sim/sim_store.h"

namespace utpost::mailbox_sim {

// The module's name, as --target, component certificates and registry endpoints spell it.
inline constexpr char kMailboxSimComponent[] = "mailbox-sim";

// What the module owns. Public so that tests can reach the simulator beneath the services.
class MailboxSimModule final : public service::Module {
 public:
  ~MailboxSimModule() override;
  // The simulator's RocksDB to <dir>/mailbox-sim.
  absl::StatusOr<std::vector<service::StoreCheckpoint>> Checkpoint(
      const std::filesystem::path& dir) override;

  std::unique_ptr<SimStore> store;
  std::unique_ptr<MailboxSim> sim;
  std::unique_ptr<service::BoundedExecutor> executor;
  std::unique_ptr<MailboxProviderServiceImpl> mailbox_service;
  std::unique_ptr<PrintProviderServiceImpl> print_service;
  std::unique_ptr<MailboxSimControlServiceImpl> control_service;
};

// Opens the store, makes the dev providers' keys when config.mailbox_sim.make_dev_providers,
// reads the provider keys and registers the services.
[[nodiscard]] absl::StatusOr<std::unique_ptr<service::Module>> NewMailboxSimModule(
    service::ModuleContext& context);

}  // namespace utpost::mailbox_sim
