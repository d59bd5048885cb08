// The wiring of one utpost process: the modules of the chosen targets (services/common/
// module.h), built in module-table order from one Config, with no globals. The app keeps only
// what the modules share: config, clock, metrics registry, the gRPC server and its
// authenticator, and the channels between components. main() is Init + Start + wait + Stop;
// integration tests run the very same App on a temporary data directory.
#pragma once

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "services/common/identity.h"
#include "services/common/module.h"
#include "services/utpost/config.h"
#include "services/utpost/process_metrics.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace utpost::app {

class AdminServiceImpl;

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
// The example citizen portal (an organisation that form types allow to submit; see
// utpost/v1/forms.proto): a dev client certificate in pki/clients/NO991825827/ and
// utpostctl's configuration data/utpostctl-NO991825827.yaml.
inline constexpr ExampleOrganisation kExamplePortals[] = {
    {"NO991825827", "Dev innbyggerportal"},
};

class App {
 public:
  // `metrics` is the process's registry (made in main); a new one when null.
  explicit App(Config config, std::shared_ptr<prometheus::Registry> metrics = nullptr);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Prepares the data directory (mode 0700; the dev PKI when config.dev_pki, with a
  // certificate for every component) and initialises the modules of `targets` (a
  // comma-separated list, see ResolveTargets). Nothing listens yet.
  [[nodiscard]] absl::Status Init(std::string_view targets);
  // Starts serving, then starts the modules in order. Writes the client configuration files
  // when config.dev_pki.
  [[nodiscard]] absl::Status Start();
  // Drains: stops the modules in reverse order (no new work, watch streams end), refuses new
  // calls, waits for calls in flight (at most `grace`), then releases the modules in reverse
  // order (queued work finishes, databases close). Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(10));

  // The address clients should use, once started (the real port when listen used port 0).
  std::string address() const;
  // utpostctl's configuration file for an example organisation (dev PKI only):
  // utpostctl.yaml (utpostctl-<org>.yaml for the others) when this process runs the ledger,
  // else utpostctl-<targets>.yaml (utpostctl-<targets>-<org>.yaml), e.g.
  // utpostctl-registry.yaml.
  std::filesystem::path ClientConfigPath(std::string_view org_key) const;
  // The module of component `name` if it runs in this process, else null.
  service::Module* FindModule(std::string_view name) const;
  prometheus::Registry& metrics() { return *metrics_; }
  // The port of the /metrics endpoint once started (the real one when metrics.listen used
  // port 0); 0 when there is none.
  int metrics_port() const { return metrics_port_; }
  // http://host:port/metrics, or empty when there is no endpoint.
  std::string metrics_url() const;
  // The port the server listens on, once started.
  int port() const { return port_; }
  // The port of the plaintext health server once started (health.listen), else 0.
  int health_port() const { return health_port_; }

  const Config config;

 private:
  class Context;
  struct Running {
    std::string name;
    std::unique_ptr<service::Module> module;
  };

  class Scrape;

  // The server's credentials, authenticator and limits; the builder then takes services.
  [[nodiscard]] absl::Status InitServer();
  // Serves /metrics on config.metrics.listen, if set.
  [[nodiscard]] absl::Status StartMetrics();
  // Serves grpc.health.v1.Health in plaintext on config.health.listen, if set.
  [[nodiscard]] absl::Status StartHealthPort();
  // Before each scrape: the process's and the modules' gauges.
  void RefreshMetrics();

  common::SystemClock clock_;
  std::shared_ptr<prometheus::Registry> metrics_;
  const std::string in_process_token_;
  std::unique_ptr<service::Authenticator> authenticator_;
  grpc::ServerBuilder builder_;
  std::vector<std::string> service_names_;
  std::unique_ptr<Context> context_;
  std::vector<Running> modules_;  // in start order
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<ProcessMetrics> process_metrics_;
  std::mutex refresh_mu_;  // one refresh at a time
  std::shared_ptr<Scrape> scrape_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int metrics_port_ = 0;
  std::unique_ptr<AdminServiceImpl> admin_service_;
  std::unique_ptr<grpc::Server> health_server_;
  int health_port_ = 0;
  bool stopped_ = false;
};

// Reads a whole file. NOT_FOUND / UNAVAILABLE with the path in the message.
[[nodiscard]] absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path);

}  // namespace utpost::app
