#include "services/ledger/ledger_module.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/shards.h"
#include "common/status_macros.h"
#include "services/common/log.h"
#include "services/common/private_dir.h"
#include "services/utpost/config.h"
#include "storage/checkpoint.h"
#include "storage/key_checks.h"

namespace utpost::ledger {
LedgerModule::~LedgerModule() {
  StopRetention();
  // Work already queued finishes (each letter is acknowledged only after it is durable);
  // then everything goes in reverse order of construction.
  if (executor) executor->Shutdown();
  if (task_executor) task_executor->Shutdown();
  task_service.reset();
  task_executor.reset();
  stats_service.reset();
  form_service.reset();
  letter_service.reset();
  executor.reset();
  stats.reset();
  forms.reset();
  ledger.reset();
  stats_store.reset();
  forms_store.reset();
  store.reset();
  db.reset();
  keys.reset();
}

absl::Status LedgerModule::Start() {
  // The registry answers a preview's lookup of 1000 keys in milliseconds; one that takes
  // longer than this is in trouble, and the caller hears so.
  constexpr absl::Duration kPreviewLookupTimeout = absl::Seconds(10);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> registry =
      context_->ChannelTo("registry", kLedgerComponent);
  if (!registry.ok()) {
    service::Log(spdlog::level::info, "route preview off: no registry reachable",
                 {{"reason", std::string(registry.status().message())}});
    letter_service->SetRoutePreview(absl::FailedPreconditionError(
        absl::StrCat("route preview needs the registry, and this server reaches none: ",
                     registry.status().message())));
    return absl::OkStatus();
  }
  letter_service->SetRoutePreview(std::make_shared<router::RoutePreview>(
      *std::move(registry), PriceTableOf(context_->config().stats.prices), kPreviewLookupTimeout));
  return absl::OkStatus();
}

void LedgerModule::Stop() {
  StopRetention();
  if (letter_service) letter_service->Shutdown();
  if (form_service) form_service->Shutdown();
  if (task_service) task_service->Shutdown();
}

void LedgerModule::RefreshMetrics() {
  if (metrics && store) metrics->RefreshQueue(*store, clock_->Now());
  if (metrics && forms_store) metrics->RefreshForms(*forms_store, clock_->Now());
  if (metrics && db) metrics->RefreshSegments(*db);
}

absl::StatusOr<std::vector<service::StoreCheckpoint>> LedgerModule::Checkpoint(
    const std::filesystem::path& dir) {
  // The database and, beside it, the document segments its pointers name.
  UTPOST_ASSIGN_OR_RETURN(const uint64_t bytes, db->Checkpoint(dir / kLedgerComponent));
  return std::vector<service::StoreCheckpoint>{{kLedgerComponent, bytes}};
}

void LedgerModule::StartRetention() {
  retention_thread_ = std::thread([this] { RetentionLoop(); });
}

void LedgerModule::StopRetention() {
  {
    std::lock_guard lock(retention_mu_);
    retention_stopping_ = true;
  }
  retention_cv_.notify_all();
  if (retention_thread_.joinable()) retention_thread_.join();
}

void LedgerModule::RetentionLoop() {
  const RetentionConfig& config = ledger->config().retention;
  const auto interval =
      absl::ToChronoMilliseconds(std::max(config.poll_interval, absl::Milliseconds(10)));
  const uint32_t batch = static_cast<uint32_t>(std::clamp(config.batch_size, 1, 1000));
  std::unique_lock lock(retention_mu_);
  while (!retention_stopping_) {
    lock.unlock();
    absl::StatusOr<int> done = ledger->RunRetention(batch);
    if (!done.ok()) {
      service::Log(spdlog::level::warn, "retention: destroying documents failed; retried later",
                   {{"error", std::string(done.status().message())}});
    } else if (*done > 0) {
      service::Log(spdlog::level::info, "retention: documents destroyed",
                   {{"letters", std::to_string(*done)}});
    }
    lock.lock();
    // A full batch: there may be more due at once.
    if (done.ok() && static_cast<uint32_t>(*done) == batch) continue;
    retention_cv_.wait_for(lock, interval, [this] { return retention_stopping_; });
  }
}

namespace {

// With shards: the check that answers another shard's organisations with the redirect to it.
// Without: none.
absl::StatusOr<std::function<absl::Status(const std::string&)>> ShardHome(
    const app::Config& config) {
  if (config.shards.empty()) return std::function<absl::Status(const std::string&)>();
  UTPOST_ASSIGN_OR_RETURN(common::ShardMap map, common::ShardMap::Create(config.shards));
  if (map.Find(config.shard) == nullptr) {
    return absl::FailedPreconditionError(
        "with shards configured, a ledger must be told which one it is: --shard=<name> (or "
        "shard: in the config) naming one of shards[].name");
  }
  auto shared = std::make_shared<const common::ShardMap>(std::move(map));
  return std::function<absl::Status(const std::string&)>(
      [shared, self = config.shard](const std::string& org) -> absl::Status {
        const common::Shard& home = shared->ShardOf(org);
        if (home.name == self) return absl::OkStatus();
        return common::WrongShardError(org, home);
      });
}

}  // namespace

absl::StatusOr<std::unique_ptr<service::Module>> NewLedgerModule(service::ModuleContext& context) {
  const app::Config& app_config = context.config();
  const LedgerConfig& config = app_config.ledger;
  auto module = std::make_unique<LedgerModule>(context);
  // A database exists once RocksDB has written CURRENT. Only a database that does not exist
  // yet may get a freshly made key: for one that has data, a new key would be a different
  // key, and everything encrypted under the old one unreadable.
  std::error_code ec;
  const bool fresh = !std::filesystem::exists(config.data_dir / "CURRENT", ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot inspect ", config.data_dir.string(), ": ", ec.message()));
  }
  UTPOST_RETURN_IF_ERROR(service::EnsurePrivateDir(config.data_dir, "ledger directory"));
  if (fresh && app_config.dev_pki) {
    UTPOST_ASSIGN_OR_RETURN(const std::string kek_id,
                            crypto::FileKeyStore::EnsureKey(config.key_dir));
    service::Log(spdlog::level::info, "new database: dev key-encryption key ready",
                 {{"key_dir", config.key_dir.string()}, {"kek_id", kek_id}});
  }
  absl::StatusOr<std::unique_ptr<crypto::FileKeyStore>> keys =
      crypto::FileKeyStore::Open(config.key_dir);
  if (!keys.ok() && fresh) {
    // Before the database is made, so that the next start still counts as the first.
    return absl::Status(keys.status().code(),
                        absl::StrCat(keys.status().message(),
                                     " (a new installation creates its first key with utpost "
                                     "--create-kek, or with dev_pki on its first start)"));
  }
  storage::DbOptions db_options;
  db_options.path = config.data_dir;
  UTPOST_ASSIGN_OR_RETURN(module->db, storage::Db::Open(db_options));
  for (const storage::SegmentRepair& repair : module->db->segments().repairs()) {
    service::Log(spdlog::level::warn,
                 "document segment had a torn tail (a write cut short by a stop); truncated",
                 {{"segment", storage::SegmentFileName(repair.segment)},
                  {"valid_bytes", absl::StrCat(repair.valid_bytes)},
                  {"dropped_bytes", absl::StrCat(repair.dropped_bytes)}});
  }
  module->store = std::make_unique<storage::LedgerStore>(*module->db);
  if (!keys.ok()) {
    return storage::KeyStoreUnavailable(*module->store, config.key_dir, keys.status());
  }
  module->keys = *std::move(keys);
  UTPOST_RETURN_IF_ERROR(storage::ReconcileKeyChecks(*module->store, *module->keys, config.key_dir,
                                                     context.clock().Now()));
  module->metrics = std::make_unique<LedgerMetrics>(context.metrics());
  UTPOST_ASSIGN_OR_RETURN(module->ledger, Ledger::Create(config, *module->store, *module->keys,
                                                         context.clock(), module->metrics.get()));
  UTPOST_RETURN_IF_ERROR(module->ledger->ShredPending());
  module->executor = std::make_unique<service::BoundedExecutor>(
      "ledger-worker", config.worker_threads, config.max_queued_requests);
  UTPOST_ASSIGN_OR_RETURN(std::function<absl::Status(const std::string&)> home,
                          ShardHome(app_config));
  module->letter_service = std::make_unique<LetterServiceImpl>(
      *module->ledger, context.authenticator(), *module->executor, home);
  context.AddService(module->letter_service.get(), v1::LetterService::service_full_name());
  module->forms_store = std::make_unique<storage::FormsStore>(*module->db, *module->store);
  module->forms = std::make_unique<Forms>(app_config.forms, *module->ledger, *module->forms_store,
                                          *module->keys, context.clock(), module->metrics.get());
  module->form_service = std::make_unique<FormServiceImpl>(
      *module->forms, context.authenticator(), *module->executor,
      service::AdmissionLimits{config.max_inflight_per_organisation, config.max_inflight_bytes},
      home);
  context.AddService(module->form_service.get(), v1::FormService::service_full_name());
  module->stats_store = std::make_unique<storage::StatsStore>(*module->db);
  module->stats = std::make_unique<Stats>(app_config.stats, *module->ledger, *module->stats_store,
                                          context.clock());
  module->stats_service = std::make_unique<StatsServiceImpl>(
      *module->stats, context.authenticator(), *module->executor,
      service::AdmissionLimits{config.max_inflight_per_organisation, config.max_inflight_bytes},
      home);
  context.AddService(module->stats_service.get(), v1::StatsService::service_full_name());
  // The components' work has a pool of its own: routing and delivery never take the places
  // that case systems' calls are admitted to, nor are they shed by a case system's burst.
  module->task_executor = std::make_unique<service::BoundedExecutor>(
      "task-worker", config.task_worker_threads, config.max_queued_task_requests);
  module->task_service = std::make_unique<TaskServiceImpl>(*module->ledger, context.authenticator(),
                                                           *module->task_executor);
  context.AddService(module->task_service.get(), internal::v1::TaskService::service_full_name());
  module->StartRetention();
  service::Log(spdlog::level::info, "ledger ready",
               {{"data_dir", config.data_dir.string()},
                {"key_dir", config.key_dir.string()},
                {"kek_id", module->keys->CurrentKeyId()}});
  return module;
}

}  // namespace utpost::ledger
