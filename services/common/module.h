// A component of utpost (ledger, registry, router, ...) as a module of one process. Every
// target runs the same modules, whether all of them share a process (--target=all) or each
// has its own (--target=router):
//   init   the module's factory (a row of the module table, services/utpost/modules.cc)
//          builds it from the ModuleContext and registers its services; nothing listens yet;
//   Start  called once the server listens, in module order; a module may now call others;
//   Stop   called in reverse module order before the server shuts down: stop taking new
//          work, end long-lived calls;
//   ~      after the server has stopped and every call has finished, in reverse order:
//          finish queued work, release storage.
// Metrics: a module registers its metric families on ModuleContext::metrics() at init (see
// common/metrics.h) and counts as things happen. Values read off its state (queue lengths,
// sizes) it sets in RefreshMetrics, which the process calls before each scrape of /metrics.
// A module finds another component only through ModuleContext::ChannelTo: never through a
// pointer to another module's objects.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/impl/service_type.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "services/common/identity.h"

namespace prometheus {
class Registry;
}

namespace utpost::app {
struct Config;
}

namespace utpost::service {

// One store in a checkpoint (Module::Checkpoint).
struct StoreCheckpoint {
  std::string name;    // "ledger", "registry", ...: its directory in the checkpoint
  uint64_t bytes = 0;  // of its files
};

class Module {
 public:
  virtual ~Module() = default;
  [[nodiscard]] virtual absl::Status Start() { return absl::OkStatus(); }
  virtual void Stop() {}
  // Sets the gauges that are read off the module's state. Called from the metrics server's
  // thread, between Start and Stop, one call at a time; must be bounded in cost (a scrape
  // waits for it) and must not block on the module's work.
  virtual void RefreshMetrics() {}
  // Writes a consistent copy of each store of the module to <dir>/<store name> (which does
  // not exist yet), for AdminService.CreateCheckpoint; between Start and Stop, from a thread
  // of the admin service, one call at a time. A module without a store writes nothing.
  [[nodiscard]] virtual absl::StatusOr<std::vector<StoreCheckpoint>> Checkpoint(
      const std::filesystem::path& /*dir*/) {
    return std::vector<StoreCheckpoint>{};
  }
};

// What the process shares with its modules. Owned by the process; outlives every module.
class ModuleContext {
 public:
  virtual ~ModuleContext() = default;

  // The whole configuration (services/utpost/config.h); a module reads its own section and
  // the shared settings (data_dir, dev_pki, tls).
  virtual const app::Config& config() const = 0;
  virtual const common::Clock& clock() const = 0;
  // The process's metrics registry (exposed by the server; see the metrics module).
  virtual prometheus::Registry& metrics() = 0;
  // Tells organisations from components (identity.h).
  virtual const Authenticator& authenticator() const = 0;

  // During init only: registers `service` with the server and names it for health checking.
  // The service must outlive the server (a module owns its services).
  virtual void AddService(grpc::Service* service, std::string full_name) = 0;

  // Whether `component` runs in this process.
  virtual bool RunsHere(std::string_view component) const = 0;
  // A channel on which `from` (this module's component name) calls component `to`: the
  // in-process channel when `to` runs here, mutual TLS with `from`'s certificate to the
  // address config.components.addresses names otherwise. Only from Start on.
  // FAILED_PRECONDITION if `to` runs elsewhere and no address is configured for it.
  [[nodiscard]] virtual absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelTo(
      std::string_view to, std::string_view from) = 0;

  // A ledger to work with, by shard name: "ledger" when there are no shards.
  struct LedgerChannel {
    std::string shard;
    std::shared_ptr<grpc::Channel> channel;
  };
  // Channels on which `from` calls every ledger shard (config `shards`), in the config's
  // order: the in-process channel for the shard this process is, mutual TLS to the
  // others' addresses. Without shards, the one ledger (ChannelTo("ledger", from)). Only
  // from Start on.
  [[nodiscard]] virtual absl::StatusOr<std::vector<LedgerChannel>> LedgerChannels(
      std::string_view from) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = ChannelTo("ledger", from);
    if (!channel.ok()) return channel.status();
    return std::vector<LedgerChannel>{{"ledger", *std::move(channel)}};
  }
};

}  // namespace utpost::service
