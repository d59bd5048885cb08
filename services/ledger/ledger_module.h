// The ledger as a module of a utpost process (services/common/module.h): its RocksDB, key
// store, logic, LetterService, FormService and StatsService (public) and TaskService (internal:
// components only).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "crypto/file_key_store.h"
#include "services/common/executor.h"
#include "services/common/module.h"
#include "services/ledger/form_service.h"
#include "services/ledger/forms.h"
#include "services/ledger/ledger.h"
#include "services/ledger/letter_service.h"
#include "services/ledger/stats.h"
#include "services/ledger/stats_service.h"
#include "services/ledger/task_service.h"
#include "storage/db.h"
#include "storage/forms_store.h"
#include "storage/ledger_store.h"
#include "storage/stats_store.h"

namespace utpost::ledger {

// What the ledger module owns. Public so that tests can reach the store beneath the service;
// other modules never see it (they call the ledger's services).
class LedgerModule final : public service::Module {
 public:
  // `context` must outlive the module.
  explicit LedgerModule(service::ModuleContext& context)
      : clock_(&context.clock()), context_(&context) {}
  ~LedgerModule() override;
  // Connects LetterService.PreviewRoutes to the registry (in this process or at its
  // configured address); without one, PreviewRoutes answers FAILED_PRECONDITION saying why.
  absl::Status Start() override;
  // Ends every open watch stream and document read (they would hold the server's shutdown),
  // and the retention worker.
  void Stop() override;

  // Starts the retention worker: a thread that runs ledger->RunRetention every
  // config.retention.poll_interval (at once again while it finds a full batch).
  void StartRetention();
  // The task queue gauges (LedgerMetrics::RefreshQueue).
  void RefreshMetrics() override;
  // The ledger's RocksDB (letters, documents, forms, statistics) to <dir>/ledger.
  absl::StatusOr<std::vector<service::StoreCheckpoint>> Checkpoint(
      const std::filesystem::path& dir) override;

  std::unique_ptr<storage::Db> db;
  std::unique_ptr<storage::LedgerStore> store;
  std::unique_ptr<crypto::FileKeyStore> keys;
  std::unique_ptr<LedgerMetrics> metrics;
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<service::BoundedExecutor> executor;
  std::unique_ptr<LetterServiceImpl> letter_service;
  std::unique_ptr<storage::FormsStore> forms_store;
  std::unique_ptr<Forms> forms;
  std::unique_ptr<FormServiceImpl> form_service;  // on `executor`, beside letter_service
  std::unique_ptr<storage::StatsStore> stats_store;
  std::unique_ptr<Stats> stats;
  std::unique_ptr<StatsServiceImpl> stats_service;          // on `executor` too
  std::unique_ptr<service::BoundedExecutor> task_executor;  // TaskService's own pool
  std::unique_ptr<TaskServiceImpl> task_service;

 private:
  void RetentionLoop();
  void StopRetention();

  const common::Clock* clock_ = nullptr;
  service::ModuleContext* context_ = nullptr;

  std::mutex retention_mu_;
  std::condition_variable retention_cv_;
  bool retention_stopping_ = false;  // guarded by retention_mu_
  std::thread retention_thread_;
};

// The ledger module's name, as --target and component certificates spell it.
inline constexpr char kLedgerComponent[] = "ledger";

// Opens (or, with dev_pki and no database yet, creates) the ledger on config.ledger.data_dir
// and registers its services. FAILED_PRECONDITION when a key the database holds data under
// is missing from config.ledger.key_dir or differs.
[[nodiscard]] absl::StatusOr<std::unique_ptr<service::Module>> NewLedgerModule(
    service::ModuleContext& context);

}  // namespace utpost::ledger
