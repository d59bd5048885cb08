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
  if (router_ != nullptr) return absl::FailedPreconditionError("router module started before");
  UTPOST_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> tasks,
                          context_.ChannelTo(kLedgerComponentName, kRouterComponent));
  UTPOST_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> registry,
                          context_.ChannelTo(kRegistryComponentName, kRouterComponent));
  RouterConfig config = config_;
  config.name = WorkerName(config_.name);
  router_ =
      std::make_unique<Router>(config, std::move(tasks), std::move(registry), context_.clock());
  UTPOST_RETURN_IF_ERROR(router_->Start());
  service::Log(spdlog::level::info, "router started",
               {{"worker", config.name},
                {"workers", absl::StrCat(config.workers)},
                {"batch_size", absl::StrCat(config.batch_size)},
                {"ledger", context_.RunsHere(kLedgerComponentName) ? "in-process" : "remote"},
                {"registry", context_.RunsHere(kRegistryComponentName) ? "in-process" : "remote"}});
  return absl::OkStatus();
}

void RouterModule::Stop() {
  if (router_ == nullptr) return;
  router_->Stop();
  last_stats_ = router_->stats();
  router_.reset();
}

RouterStats RouterModule::stats() const {
  return router_ != nullptr ? router_->stats() : last_stats_;
}

absl::StatusOr<std::unique_ptr<service::Module>> NewRouterModule(service::ModuleContext& context) {
  const RouterConfig& config = context.config().router;
  UTPOST_RETURN_IF_ERROR(ValidateRouterConfig(config));
  return std::make_unique<RouterModule>(context, config);
}

}  // namespace utpost::router
