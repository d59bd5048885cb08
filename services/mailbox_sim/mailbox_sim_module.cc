#include "services/mailbox_sim/mailbox_sim_module.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "crypto/dev_provider_cert.h"
#include "services/common/log.h"
#include "services/common/private_dir.h"
#include "services/registry/dev_seed.h"
#include "services/utpost/config.h"
#include "storage/checkpoint.h"

namespace utpost::mailbox_sim {

absl::StatusOr<std::vector<service::StoreCheckpoint>> MailboxSimModule::Checkpoint(
    const std::filesystem::path& dir) {
  UTPOST_ASSIGN_OR_RETURN(const uint64_t bytes, store->Checkpoint(dir / kMailboxSimComponent));
  return std::vector<service::StoreCheckpoint>{{kMailboxSimComponent, bytes}};
}

MailboxSimModule::~MailboxSimModule() {
  // Queued work finishes, then everything goes in reverse order of construction.
  if (executor) executor->Shutdown();
  control_service.reset();
  print_service.reset();
  mailbox_service.reset();
  executor.reset();
  sim.reset();
  store.reset();
}

absl::StatusOr<std::unique_ptr<service::Module>> NewMailboxSimModule(
    service::ModuleContext& context) {
  const MailboxSimConfig& config = context.config().mailbox_sim;
  UTPOST_RETURN_IF_ERROR(ValidateMailboxSimConfig(config));
  auto module = std::make_unique<MailboxSimModule>();
  UTPOST_RETURN_IF_ERROR(service::EnsurePrivateDir(config.data_dir, "mailbox-sim directory"));
  if (config.make_dev_providers) {
    // The same certificates the registry's dev seed names (whichever starts first makes them).
    for (const registry::dev_seed::DevProvider& p : registry::dev_seed::kDevProviders) {
      UTPOST_RETURN_IF_ERROR(
          crypto::EnsureDevProviderCertificate(config.providers_dir, p.id, p.name).status());
    }
  }
  UTPOST_ASSIGN_OR_RETURN(module->store, SimStore::Open(config.data_dir));
  for (const storage::SegmentRepair& repair : module->store->segments().repairs()) {
    service::Log(spdlog::level::warn,
                 "mailbox-sim envelope segment had a torn tail (a write cut short by a stop); "
                 "truncated",
                 {{"segment", storage::SegmentFileName(repair.segment)},
                  {"valid_bytes", absl::StrCat(repair.valid_bytes)},
                  {"dropped_bytes", absl::StrCat(repair.dropped_bytes)}});
  }
  module->sim = std::make_unique<MailboxSim>(config, *module->store, context.clock(),
                                             [](absl::Duration d) { absl::SleepFor(d); });
  UTPOST_RETURN_IF_ERROR(module->sim->LoadProviders());
  module->executor = std::make_unique<service::BoundedExecutor>(
      "mailbox-sim-worker", config.worker_threads, config.max_queued_requests);
  const SimServiceContext services{*module->sim, context.authenticator(), *module->executor};
  module->mailbox_service = std::make_unique<MailboxProviderServiceImpl>(services);
  module->print_service = std::make_unique<PrintProviderServiceImpl>(services);
  context.AddService(module->mailbox_service.get(),
                     provider::v1::MailboxProviderService::service_full_name());
  context.AddService(module->print_service.get(),
                     provider::v1::PrintProviderService::service_full_name());
  if (config.serve_control) {
    module->control_service = std::make_unique<MailboxSimControlServiceImpl>(services);
    context.AddService(module->control_service.get(),
                       sim::v1::MailboxSimControlService::service_full_name());
  }
  service::Log(spdlog::level::info, "mailbox-sim ready",
               {{"data_dir", config.data_dir.string()},
                {"providers", absl::StrJoin(module->sim->ProviderIds(), ",")},
                {"control", config.serve_control ? "on" : "off"}});
  return module;
}

}  // namespace utpost::mailbox_sim
