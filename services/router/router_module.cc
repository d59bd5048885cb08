#include "services/router/router_module.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/common/log.h"
#include "services/utpost/config.h"

namespace utpost::router {
namespace {

// "<name>@<host>:<pid>", so that the ledger's logs tell replicas apart; cut to LeaseTasks'
// 128 characters, printable ASCII only.
std::string WorkerName(const std::string& name) {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::string out = absl::StrCat(name, "@", host, ":", ::getpid());
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  if (out.size() > 128) out.resize(128);
  return out;
}

}  // namespace

RouterModule::RouterModule(service::ModuleContext& context, RouterConfig config)
    : context_(context), config_(std::move(config)) {}

RouterModule::~RouterModule() { Stop(); }

absl::Status RouterModule::Start() {
  if (!routers_.empty()) return absl::FailedPreconditionError("router module started before");
  UTPOST_ASSIGN_OR_RETURN(std::vector<service::ModuleContext::LedgerChannel> ledgers,
                          context_.LedgerChannels(kRouterComponent));
  UTPOST_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> registry,
                          context_.ChannelTo(kRegistryComponentName, kRouterComponent));
  // One router per ledger shard: each leases that shard's tasks, all share the registry.
  for (service::ModuleContext::LedgerChannel& ledger : ledgers) {
    RouterConfig config = config_;
    config.name = WorkerName(config_.name);
    auto router =
        std::make_unique<Router>(config, std::move(ledger.channel), registry, context_.clock());
    UTPOST_RETURN_IF_ERROR(router->Start());
    routers_.push_back(std::move(router));
    service::Log(
        spdlog::level::info, "router started",
        {{"worker", config.name},
         {"shard", ledger.shard},
         {"workers", absl::StrCat(config.workers)},
         {"batch_size", absl::StrCat(config.batch_size)},
         {"ledger", context_.RunsHere(kLedgerComponentName) ? "in-process" : "remote"},
         {"registry", context_.RunsHere(kRegistryComponentName) ? "in-process" : "remote"}});
  }
  return absl::OkStatus();
}

namespace {

void Add(RouterStats& sum, const RouterStats& s) {
  sum.leased += s.leased;
  sum.lookups += s.lookups;
  sum.routed += s.routed;
  sum.failed += s.failed;
  sum.dropped += s.dropped;
  sum.retried += s.retried;
  sum.registry_errors += s.registry_errors;
  sum.lease_errors += s.lease_errors;
  sum.completion_errors += s.completion_errors;
}

}  // namespace

void RouterModule::Stop() {
  if (routers_.empty()) return;
  RouterStats sum;
  for (auto& router : routers_) {
    router->Stop();
    Add(sum, router->stats());
  }
  last_stats_ = sum;
  routers_.clear();
}

RouterStats RouterModule::stats() const {
  if (routers_.empty()) return last_stats_;
  RouterStats sum;
  for (const auto& router : routers_) Add(sum, router->stats());
  return sum;
}

absl::StatusOr<std::unique_ptr<service::Module>> NewRouterModule(service::ModuleContext& context) {
  const RouterConfig& config = context.config().router;
  UTPOST_RETURN_IF_ERROR(ValidateRouterConfig(config));
  return std::make_unique<RouterModule>(context, config);
}

}  // namespace utpost::router
