#include "services/registry/registry_module.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "services/common/log.h"
#include "services/common/private_dir.h"
#include "services/registry/dev_seed.h"
#include "services/utpost/config.h"
#include "storage/checkpoint.h"

namespace utpost::registry {

RegistryModule::~RegistryModule() {
  // Queued work finishes (each write is answered only once durable), then everything goes in
  // reverse order of construction.
  if (executor) executor->Shutdown();
  if (lookup_executor) lookup_executor->Shutdown();
  lookup_service.reset();
  registry_service.reset();
  lookup_executor.reset();
  executor.reset();
  registry.reset();
  store.reset();
  keys.reset();
}

absl::StatusOr<std::vector<service::StoreCheckpoint>> RegistryModule::Checkpoint(
    const std::filesystem::path& dir) {
  UTPOST_ASSIGN_OR_RETURN(const uint64_t bytes,
                          storage::CheckpointTo(store->raw(), dir / kRegistryComponent));
  return std::vector<service::StoreCheckpoint>{{kRegistryComponent, bytes}};
}

absl::StatusOr<std::unique_ptr<service::Module>> NewRegistryModule(
    service::ModuleContext& context) {
  const app::Config& app_config = context.config();
  const RegistryConfig& config = app_config.registry;
  auto module = std::make_unique<RegistryModule>();
  std::error_code ec;
  const bool fresh = !std::filesystem::exists(config.data_dir / "CURRENT", ec);
  UTPOST_RETURN_IF_ERROR(service::EnsurePrivateDir(config.data_dir, "registry directory"));
  // The same rule as the ledger's: only a new installation may get a freshly made key.
  if (fresh && app_config.dev_pki) {
    UTPOST_RETURN_IF_ERROR(crypto::FileKeyStore::EnsureKey(config.key_dir).status());
  }
  absl::StatusOr<std::unique_ptr<crypto::FileKeyStore>> keys =
      crypto::FileKeyStore::Open(config.key_dir);
  if (!keys.ok()) {
    return absl::Status(keys.status().code(),
                        absl::StrCat(keys.status().message(),
                                     " (the registry seals its entries with the same keys as "
                                     "the ledger: key_dir)"));
  }
  module->keys = *std::move(keys);
  UTPOST_ASSIGN_OR_RETURN(module->store,
                          storage::RegistryStore::Open({.path = config.data_dir}, *module->keys,
                                                       context.clock().Now()));
  UTPOST_ASSIGN_OR_RETURN(module->registry, Registry::Create(*module->store, context.clock()));
  if (config.seed_dev) {
    UTPOST_ASSIGN_OR_RETURN(const bool empty, module->registry->Empty());
    if (empty) {
      DevSeedSource seed(config.dev_providers_dir);
      UTPOST_ASSIGN_OR_RETURN(v1::ImportResponse seeded, module->registry->ImportFrom(seed));
      if (seeded.error_count() != 0) {
        // The seed is this program's own data: a bad row is a bug.
        return absl::InternalError(
            absl::StrCat("the dev seed has ", seeded.error_count(),
                         " bad rows, the first: ", seeded.errors(0).ShortDebugString()));
      }
      service::Log(spdlog::level::info, "registry seeded with the development entries",
                   {{"entries", std::to_string(seeded.imported())},
                    {"providers_dir", config.dev_providers_dir.string()}});
    }
  }
  module->executor = std::make_unique<service::BoundedExecutor>(
      "registry-worker", config.worker_threads, config.max_queued_requests);
  module->registry_service = std::make_unique<RegistryServiceImpl>(
      *module->registry, context.authenticator(), *module->executor, config, config.administrators);
  module->lookup_executor = std::make_unique<service::BoundedExecutor>(
      "registry-lookup", config.lookup_worker_threads, config.max_queued_lookups);
  module->lookup_service = std::make_unique<RegistryLookupServiceImpl>(
      *module->registry, context.authenticator(), *module->lookup_executor, config);
  context.AddService(module->registry_service.get(), v1::RegistryService::service_full_name());
  context.AddService(module->lookup_service.get(),
                     internal::v1::RegistryLookupService::service_full_name());
  service::Log(spdlog::level::info, "registry ready",
               {{"data_dir", config.data_dir.string()},
                {"index_kek_id", module->store->index_kek_id()},
                {"administrators", absl::StrJoin(config.administrators, ",")}});
  return module;
}

}  // namespace utpost::registry
