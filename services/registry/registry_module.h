// The registry as a module of a utpost process (services/common/module.h): its own RocksDB
// (storage/registry_store.h), the logic, and two services: RegistryService for
// organisations named as registry administrators, RegistryLookupService for components.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "crypto/file_key_store.h"
#include "services/common/executor.h"
#include "services/common/module.h"
#include "services/registry/registry.h"
#include "services/registry/registry_service.h"
#include "storage/registry_store.h"

namespace utpost::registry {

// What the registry module owns. Public so that tests can reach the store beneath the
// services; other modules never see it (they call RegistryLookupService).
class RegistryModule final : public service::Module {
 public:
  ~RegistryModule() override;
  // The registry's RocksDB to <dir>/registry.
  absl::StatusOr<std::vector<service::StoreCheckpoint>> Checkpoint(
      const std::filesystem::path& dir) override;

  std::unique_ptr<crypto::FileKeyStore> keys;
  std::unique_ptr<storage::RegistryStore> store;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<service::BoundedExecutor> executor;
  std::unique_ptr<service::BoundedExecutor> lookup_executor;
  std::unique_ptr<RegistryServiceImpl> registry_service;
  std::unique_ptr<RegistryLookupServiceImpl> lookup_service;
};

// The registry module's name, as --target and component certificates spell it.
inline constexpr char kRegistryComponent[] = "registry";

// Opens (or creates) the registry on config.registry.data_dir with the key store in
// config.registry.key_dir (made, with dev_pki, for a new installation), seeds an empty
// registry with the dev entries when config.registry.seed_dev, and registers its services.
// FAILED_PRECONDITION when the key that wraps the registry's index key is missing or differs.
[[nodiscard]] absl::StatusOr<std::unique_ptr<service::Module>> NewRegistryModule(
    service::ModuleContext& context);

}  // namespace utpost::registry
