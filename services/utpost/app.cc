#include "services/utpost/app.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/dev_pki.h"
#include "services/common/component_channel.h"
#include "services/common/grpc_metrics.h"
#include "services/common/log.h"
#include "services/common/private_dir.h"
#include "services/common/server_reflection.h"
#include "services/ledger/form_service.h"
#include "services/ledger/letter_service.h"
#include "services/utpost/admin_service.h"
#include "services/utpost/modules.h"

namespace utpost::app {

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  std::stringstream content;
  content << in.rdbuf();
  if (in.bad()) return absl::UnavailableError(absl::StrCat("error reading ", path.string()));
  return content.str();
}

namespace {

constexpr int kMaxConcurrentStreams = 100;

// The memory quota of the transport: two messages at the receive limit and a margin for
// everything else the transport allocates (call arenas, read buffers of idle connections).
int64_t TransportQuotaBytes(int64_t max_receive) { return 2 * max_receive + (16 << 20); }

// What one caller can make the transport hold, whatever it sends. See README.md, "Worst case
// memory per request", for the figures; hostile_transport_test measures them.
//
// * Compression. gRPC inflates a compressed message whole before it checks the size limit
//   against it: 1 MiB of gzip became 1 GiB of memory. No client of utpost needs to compress
//   (letters are mostly PDFs, which are compressed already), so the server accepts none: with
//   gzip and deflate disabled, a call whose grpc-encoding names one is answered UNIMPLEMENTED
//   ("Compression algorithm 'gzip' is disabled") as soon as its headers arrive, before any
//   message byte is looked at. A compressed-flag message without grpc-encoding is refused as
//   well. Uncompressed calls are unaffected, and responses are never compressed.
// * Declared lengths. gRPC 1.51's HTTP/2 transport reads the 5-byte prefix of a message and
//   opens the stream's flow-control window to the declared length, without comparing it to
//   the receive limit; the limit is applied only once the whole message is there. There is no
//   hook for an application to refuse earlier. What bounds such a stream is the resource
//   quota below: read buffers are charged to it, and when it is used up the transport's
//   reclaimer cancels a stream (RESOURCE_EXHAUSTED "Buffers full"; measured: the stream is
//   ended after about the quota's worth of data).
// * Streams. At most kMaxConcurrentStreams calls at once per connection; further streams are
//   refused by HTTP/2 (REFUSED_STREAM), and together they draw on the same quota.
void LimitTransportMemory(grpc::ServerBuilder& builder, int64_t max_receive) {
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_DEFLATE, false);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, false);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams);
  grpc::ResourceQuota quota("utpost-server");
  quota.Resize(static_cast<size_t>(TransportQuotaBytes(max_receive)));
  builder.SetResourceQuota(quota);
}

}  // namespace

// What the exposer collects: the registry, after the gauges read off state are refreshed.
class App::Scrape final : public prometheus::Collectable {
 public:
  explicit Scrape(App& app) : app_(app) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    app_.RefreshMetrics();
    return app_.metrics_->Collect();
  }

 private:
  App& app_;
};

// What the process shares with its modules (services/common/module.h).
class App::Context final : public service::ModuleContext {
 public:
  explicit Context(App& app) : app_(app) {}

  const Config& config() const override { return app_.config; }
  const common::Clock& clock() const override { return app_.clock_; }
  prometheus::Registry& metrics() override { return *app_.metrics_; }
  const service::Authenticator& authenticator() const override { return *app_.authenticator_; }

  void AddService(grpc::Service* service, std::string full_name) override {
    app_.builder_.RegisterService(service);
    app_.service_names_.push_back(std::move(full_name));
  }

  bool RunsHere(std::string_view component) const override {
    return std::find(targets_.begin(), targets_.end(), component) != targets_.end();
  }

  absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelTo(std::string_view to,
                                                           std::string_view from) override {
    if (RunsHere(to)) {
      if (app_.server_ == nullptr) {
        return absl::FailedPreconditionError("channels between components exist from Start on");
      }
      return service::InProcessComponentChannel(*app_.server_, std::string(from),
                                                app_.in_process_token_);
    }
    const Config& config = app_.config;
    auto address = config.components.addresses.find(std::string(to));
    if (address == config.components.addresses.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("component '", common::Av(to),
                       "' does not run in this process and its address is "
                       "not configured (components.addresses.",
                       common::Av(to), " or --component-address ", common::Av(to), "=host:port)"));
    }
    return RemoteChannel(address->second, from);
  }

  absl::StatusOr<std::vector<LedgerChannel>> LedgerChannels(std::string_view from) override {
    const Config& config = app_.config;
    if (config.shards.empty()) return ModuleContext::LedgerChannels(from);
    std::vector<LedgerChannel> channels;
    for (const common::Shard& shard : config.shards) {
      absl::StatusOr<std::shared_ptr<grpc::Channel>> channel;
      if (RunsHere("ledger") && shard.name == config.shard) {
        channel = ChannelTo("ledger", from);
      } else {
        channel = RemoteChannel(shard.address, from);
      }
      if (!channel.ok()) return channel.status();
      channels.push_back({shard.name, *std::move(channel)});
    }
    return channels;
  }

  std::vector<std::string> targets_;

 private:
  // Mutual TLS to `address` with `from`'s component certificate.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> RemoteChannel(const std::string& address,
                                                               std::string_view from) {
    const Config& config = app_.config;
    service::RemoteComponentOptions options;
    options.address = address;
    options.component = std::string(from);
    options.insecure = config.insecure;
    if (!config.insecure) {
      const std::filesystem::path dir =
          config.InData(config.components.certs_dir) / std::string(from);
      UTPOST_ASSIGN_OR_RETURN(options.ca_pem, ReadFile(dir / "ca.pem"));
      UTPOST_ASSIGN_OR_RETURN(options.cert_pem, ReadFile(dir / "client.pem"));
      UTPOST_ASSIGN_OR_RETURN(options.key_pem, ReadFile(dir / "client.key"));
    }
    return service::RemoteComponentChannel(options);
  }

  App& app_;
};

App::App(Config config_in, std::shared_ptr<prometheus::Registry> metrics)
    : config(std::move(config_in)),
      metrics_(metrics != nullptr ? std::move(metrics) : std::make_shared<prometheus::Registry>()),
      in_process_token_(service::NewInProcessToken()),
      context_(std::make_unique<Context>(*this)) {}

App::~App() { Stop(); }

absl::Status App::InitServer() {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (config.insecure) {
    credentials = grpc::InsecureServerCredentials();
    authenticator_ = service::NewInsecureHeaderAuthenticator(in_process_token_);
    service::Log(spdlog::level::warn, "serving plaintext without client authentication",
                 {{"listen", config.listen}});
  } else {
    grpc::SslServerCredentialsOptions options(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    UTPOST_ASSIGN_OR_RETURN(options.pem_root_certs, ReadFile(config.InData(config.tls.ca)));
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    UTPOST_ASSIGN_OR_RETURN(pair.private_key, ReadFile(config.InData(config.tls.key)));
    UTPOST_ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(config.InData(config.tls.cert)));
    options.pem_key_cert_pairs.push_back(std::move(pair));
    credentials = grpc::SslServerCredentials(options);
    UTPOST_ASSIGN_OR_RETURN(const std::string component_ca,
                            ReadFile(config.InData(config.tls.component_ca)));
    UTPOST_ASSIGN_OR_RETURN(
        authenticator_, service::NewCertificateAuthenticator(in_process_token_, component_ca,
                                                             config.tls.accept_serial_number_org));
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();  // v1alpha
  service::AddServerReflectionV1(builder_);
  builder_.AddListeningPort(config.listen, credentials, &port_);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(service::NewGrpcMetricsInterceptor(*metrics_));
  builder_.experimental().SetInterceptorCreators(std::move(interceptors));
  // The largest request is a SendLetter at the letter limit or a SubmitForm at the
  // submission limit (other methods take less).
  const int64_t max_receive =
      std::min<int64_t>(static_cast<int64_t>(std::max(
                            ledger::LetterServiceImpl::MaxSendLetterBytes(config.ledger.limits),
                            ledger::FormServiceImpl::MaxSubmitFormBytes(config.forms))),
                        std::numeric_limits<int>::max());
  builder_.SetMaxReceiveMessageSize(static_cast<int>(max_receive));
  LimitTransportMemory(builder_, max_receive);
  // Keep idle watch streams alive through proxies and notice dead peers.
  builder_.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  builder_.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  builder_.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder_.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  return absl::OkStatus();
}

absl::Status App::Init(std::string_view targets) {
  UTPOST_ASSIGN_OR_RETURN(std::vector<const ModuleSpec*> modules, ResolveTargets(targets));
  // Letters, keys (by default) and private keys of the dev PKI live here: owner only.
  UTPOST_RETURN_IF_ERROR(service::EnsurePrivateDir(config.data_dir, "data directory"));
  if (config.dev_pki) {
    // The dev CA's key goes to crypto::DevCaDir (data/pki-ca), beside the served PKI; once
    // every certificate exists it is not opened again.
    std::vector<crypto::DevOrganisation> orgs;
    for (const auto& org : kExampleOrganisations) orgs.push_back({org.org_key, org.name});
    for (const auto& org : kExamplePortals) orgs.push_back({org.org_key, org.name});
    std::vector<std::string> components;
    for (const ModuleSpec& m : Modules()) components.push_back(m.name);
    UTPOST_RETURN_IF_ERROR(crypto::EnsureDevPki(config.InData("pki"), orgs, components));
  }
  UTPOST_RETURN_IF_ERROR(InitServer());
  for (const ModuleSpec* spec : modules) context_->targets_.push_back(spec->name);
  process_metrics_ = std::make_unique<ProcessMetrics>(*metrics_, config);
  for (const ModuleSpec* spec : modules) {
    absl::StatusOr<std::unique_ptr<service::Module>> module = spec->init(*context_);
    if (!module.ok()) {
      return absl::Status(module.status().code(),
                          absl::StrCat("module ", spec->name, ": ", module.status().message()));
    }
    modules_.push_back({spec->name, *std::move(module)});
  }
  // Checkpoints of every store of this process (utpost/v1/admin.proto).
  admin_service_ = std::make_unique<AdminServiceImpl>(
      *authenticator_, config.backup.dir, config.backup.operators,
      [this](const std::filesystem::path& dir)
          -> absl::StatusOr<std::vector<service::StoreCheckpoint>> {
        std::vector<service::StoreCheckpoint> all;
        for (Running& running : modules_) {
          UTPOST_ASSIGN_OR_RETURN(std::vector<service::StoreCheckpoint> stores,
                                  running.module->Checkpoint(dir));
          all.insert(all.end(), stores.begin(), stores.end());
        }
        return all;
      },
      clock_);
  builder_.RegisterService(admin_service_.get());
  service_names_.push_back(v1::AdminService::service_full_name());
  return absl::OkStatus();
}

service::Module* App::FindModule(std::string_view name) const {
  for (const Running& running : modules_) {
    if (running.name == name) return running.module.get();
  }
  return nullptr;
}

std::string App::address() const {
  std::string host = config.listen.substr(0, config.listen.rfind(':'));
  return absl::StrCat(host, ":", port_);
}

std::filesystem::path App::ClientConfigPath(std::string_view org_key) const {
  std::string name = "utpostctl";
  if (FindModule("ledger") == nullptr) {
    absl::StrAppend(&name, "-", absl::StrJoin(context_->targets_, "+"));
  }
  if (org_key != kExampleOrganisations[0].org_key) absl::StrAppend(&name, "-", common::Av(org_key));
  return config.InData(absl::StrCat(name, ".yaml"));
}

absl::Status App::Start() {
  server_ = builder_.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen, " (address in use or not local?)"));
  }
  for (const auto& name : service_names_) {
    server_->GetHealthCheckService()->SetServingStatus(name, true);
  }
  // utpostctl's configuration, naming this process's address. A process that runs the ledger
  // writes utpostctl.yaml (what utpostctl reads by default); one that does not writes
  // utpostctl-<targets>.yaml, so that a registry or router process sharing the data directory
  // never points utpostctl away from the ledger.
  if (config.dev_pki) {
    // utpostctl's configuration: paths relative to the file's own directory.
    std::vector<ExampleOrganisation> identities(std::begin(kExampleOrganisations),
                                                std::end(kExampleOrganisations));
    identities.insert(identities.end(), std::begin(kExamplePortals), std::end(kExamplePortals));
    for (const auto& org : identities) {
      const std::filesystem::path client_dir = crypto::DevClientDir("pki", org.org_key);
      std::string text =
          absl::StrCat("# Written by utpost at start-up (dev PKI), for utpostctl (--config).\n",
                       "# Identity: ", org.name, " (", org.org_key, ")\n", "address: ", address(),
                       "\n", "ca: ", (client_dir / "ca.pem").string(), "\n",
                       "cert: ", (client_dir / "client.pem").string(), "\n",
                       "key: ", (client_dir / "client.key").string(), "\n");
      // A portal submits forms to the first example municipality unless told otherwise.
      const bool portal =
          std::any_of(std::begin(kExamplePortals), std::end(kExamplePortals),
                      [&](const ExampleOrganisation& p) {
                        return std::string_view(p.org_key) == std::string_view(org.org_key);
                      });
      if (portal) absl::StrAppend(&text, "municipality: ", kExampleOrganisations[0].org_key, "\n");
      std::vector<std::filesystem::path> paths = {ClientConfigPath(org.org_key)};
      // The default identity also under its own name, for `utpostctl --as <org>`.
      if (paths[0].filename() == "utpostctl.yaml") {
        paths.push_back(config.InData(absl::StrCat("utpostctl-", org.org_key, ".yaml")));
      }
      for (const std::filesystem::path& path : paths) {
        std::ofstream out(path, std::ios::trunc);
        out << text;
        if (!out) return absl::UnavailableError("cannot write the utpostctl configuration");
      }
    }
  }
  for (Running& running : modules_) {
    absl::Status status = running.module->Start();
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("module ", running.name, ": ", status.message()));
    }
  }
  UTPOST_RETURN_IF_ERROR(StartMetrics());
  UTPOST_RETURN_IF_ERROR(StartHealthPort());
  service::Log(spdlog::level::info, "serving",
               {{"address", address()},
                {"metrics", metrics_url().empty() ? "off" : metrics_url()},
                {"health", health_port_ == 0 ? "off" : absl::StrCat("port ", health_port_)},
                {"tls", config.insecure ? "off" : "mutual"},
                {"components", absl::StrJoin(context_->targets_, ",")}});
  return absl::OkStatus();
}

absl::Status App::StartHealthPort() {
  if (config.health.listen.empty()) return absl::OkStatus();
  // No service of our own: gRPC's default health service (enabled for every server, see
  // InitServer) is all this server offers, besides gRPC's reflection plugin, which describes
  // only what this server offers. No credentials: it tells whether the process serves, and
  // nothing else.
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.health.listen, grpc::InsecureServerCredentials(), &health_port_);
  builder.SetMaxReceiveMessageSize(4 << 10);
  health_server_ = builder.BuildAndStart();
  if (health_server_ == nullptr || health_port_ == 0 ||
      health_server_->GetHealthCheckService() == nullptr) {
    health_server_.reset();
    health_port_ = 0;
    return absl::UnavailableError(
        absl::StrCat("health.listen: cannot listen on ", config.health.listen));
  }
  // Every module has started: the process is ready for what it serves.
  grpc::HealthCheckServiceInterface& health = *health_server_->GetHealthCheckService();
  health.SetServingStatus(true);
  for (const auto& name : service_names_) health.SetServingStatus(name, true);
  return absl::OkStatus();
}

absl::Status App::StartMetrics() {
  if (absl::Status s = process_metrics_->Init(context_->targets_); !s.ok()) {
    service::Log(spdlog::level::warn, "a certificate's expiry is not reported",
                 {{"error", std::string(s.message())}});
  }
  if (config.metrics.listen.empty()) return absl::OkStatus();
  try {
    // Two threads: a scrape never waits behind a slow one for long.
    exposer_ = std::make_unique<prometheus::Exposer>(config.metrics.listen, 2);
  } catch (const std::exception& e) {
    // civetweb reports a port it cannot bind as an exception; it stops here.
    return absl::UnavailableError(absl::StrCat("metrics.listen: cannot serve /metrics on ",
                                               config.metrics.listen, ": ", e.what()));
  }
  const std::vector<int> ports = exposer_->GetListeningPorts();
  if (ports.empty()) {
    exposer_.reset();
    return absl::UnavailableError(
        absl::StrCat("metrics.listen: cannot serve /metrics on ", config.metrics.listen));
  }
  metrics_port_ = ports.front();
  scrape_ = std::make_shared<Scrape>(*this);
  exposer_->RegisterCollectable(scrape_);
  return absl::OkStatus();
}

void App::RefreshMetrics() {
  std::lock_guard lock(refresh_mu_);
  if (process_metrics_ != nullptr) process_metrics_->Refresh();
  for (Running& running : modules_) running.module->RefreshMetrics();
}

std::string App::metrics_url() const {
  if (metrics_port_ == 0) return "";
  std::string host = config.metrics.listen.substr(0, config.metrics.listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  return absl::StrCat("http://", host, ":", metrics_port_, "/metrics");
}

void App::Stop(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  // Probes see NOT_SERVING at once (for a pod: taken out of its Services' endpoints), and keep
  // getting answers until the drain is over.
  if (health_server_ != nullptr) health_server_->GetHealthCheckService()->Shutdown();
  // No scrape reads a module from here on (the exposer's threads are joined).
  exposer_.reset();
  for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) it->module->Stop();
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
    server_->Wait();
  }
  // A checkpoint being taken reads the modules: it ends before they go.
  if (admin_service_ != nullptr) admin_service_->Shutdown();
  // In reverse order: each module finishes its queued work and closes its storage while the
  // server object still exists (queued calls answer through it).
  while (!modules_.empty()) modules_.pop_back();
  server_.reset();
  if (health_server_ != nullptr) {
    health_server_->Shutdown(std::chrono::system_clock::now());
    health_server_->Wait();
    health_server_.reset();
  }
  service::Log(spdlog::level::info, "stopped");
}

}  // namespace utpost::app
