// The wiring of one utpost process: the modules of the chosen target, built in dependency
// order from one Config, with no globals. main() is Init + Start + wait + Stop; integration
// tests run the very same App on a temporary data directory.
#pragma once

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "crypto/file_key_store.h"
#include "services/common/executor.h"
#include "services/common/identity.h"
#include "services/ledger/ledger.h"
#include "services/ledger/letter_service.h"
#include "services/utpost/config.h"
#include "storage/db.h"
#include "storage/ledger_store.h"

namespace utpost::app {

// The example municipalities that get dev client certificates; the first is utpostctl's
// default identity.
struct ExampleOrganisation {
  const char* org_key;
  const char* name;
};
inline constexpr ExampleOrganisation kExampleOrganisations[] = {
    {"NO958935420", "Oslo kommune"},
    {"NO964338531", "Bergen kommune"},
};

struct App {
  explicit App(Config c) : config(std::move(c)) {}
  ~App();

  // Prepares the data directory (mode 0700; an existing one loses group and other
  // permissions; the dev PKI when config.dev_pki) and initialises the modules of `target`.
  // The ledger makes a key-encryption key only for a database that does not exist yet (and
  // config.dev_pki); it refuses to start, FAILED_PRECONDITION, when a key the database holds
  // data under is missing from config.ledger.key_dir or differs. Nothing listens yet.
  [[nodiscard]] absl::Status Init(std::string_view target);
  // Starts serving. Writes the client configuration files when config.dev_pki.
  [[nodiscard]] absl::Status Start();
  // Drains: refuses new calls, ends watch streams, waits for calls in flight (at most
  // `grace`), finishes queued work, closes the database. Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(10));

  // The address clients should use, once started (the real port when listen used port 0).
  std::string address() const;
  // utpostctl's configuration file for an example organisation (dev PKI only).
  std::filesystem::path ClientConfigPath(std::string_view org_key) const;

  Config config;
  common::SystemClock clock;

  // server module
  grpc::ServerBuilder builder;
  std::unique_ptr<service::Authenticator> authenticator;
  std::vector<std::string> service_names;
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  // ledger module (destroyed in reverse order: service, executor, ledger, store, db)
  std::unique_ptr<storage::Db> db;
  std::unique_ptr<storage::LedgerStore> store;
  std::unique_ptr<crypto::FileKeyStore> keys;
  std::unique_ptr<ledger::Ledger> ledger;
  std::unique_ptr<service::BoundedExecutor> executor;
  std::unique_ptr<ledger::LetterServiceImpl> letter_service;

 private:
  bool stopped_ = false;
};

// Module init functions (modules.cc names them).
absl::Status InitServer(App& app);
absl::Status InitLedger(App& app);

// Reads a whole file. NOT_FOUND / UNAVAILABLE with the path in the message.
[[nodiscard]] absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path);

}  // namespace utpost::app
