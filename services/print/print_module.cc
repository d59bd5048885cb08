#include "services/print/print_module.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/dev_provider_cert.h"
#include "crypto/file_key_store.h"
#include "services/common/component_channel.h"
#include "services/common/log.h"
#include "services/common/private_dir.h"
#include "services/utpost/config.h"
#include "storage/checkpoint.h"

namespace utpost::print {
namespace {

constexpr char kLedger[] = "ledger";
constexpr char kRegistry[] = "registry";

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", common::Av(what), " ", path.string()));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

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

class PrintModule final : public service::Module {
 public:
  PrintModule(service::ModuleContext& context, PrintConfig config)
      : context_(context), config_(std::move(config)) {
    auto& batches = prometheus::BuildGauge()
                        .Name("utpost_print_batches")
                        .Help("Print batches in the spool by state")
                        .Register(context.metrics());
    open_ = &batches.Add({{"state", "open"}});
    closed_ = &batches.Add({{"state", "closed"}});
    submitted_ = &batches.Add({{"state", "submitted"}});
    finishing_ = &batches.Add({{"state", "finishing"}});
    backlog_ = &prometheus::BuildGauge()
                    .Name("utpost_print_spool_backlog_letters")
                    .Help("Letters in the print spool not yet printed or failed")
                    .Register(context.metrics())
                    .Add({});
    spooled_ = &prometheus::BuildCounter()
                    .Name("utpost_print_letters_spooled_total")
                    .Help("Letters queued for print in a spool batch")
                    .Register(context.metrics())
                    .Add({});
    auto& outcomes = prometheus::BuildCounter()
                         .Name("utpost_print_letters_total")
                         .Help("Letters print finished, by outcome")
                         .Register(context.metrics());
    printed_ = &outcomes.Add({{"outcome", "printed"}});
    failed_ = &outcomes.Add({{"outcome", "failed"}});
    not_printable_ = &outcomes.Add({{"outcome", "not_printable"}});
  }
  ~PrintModule() override { Stop(); }

  // The spool's RocksDB to <dir>/print; with ledger shards, each shard's spool to
  // <dir>/print/<shard>, as under print.data_dir.
  absl::StatusOr<std::vector<service::StoreCheckpoint>> Checkpoint(
      const std::filesystem::path& dir) override {
    std::vector<service::StoreCheckpoint> stores;
    for (Lane& lane : lanes_) {
      const std::filesystem::path sub = lane.shard.empty()
                                            ? std::filesystem::path(kPrintComponent)
                                            : std::filesystem::path(kPrintComponent) / lane.shard;
      std::error_code ec;
      std::filesystem::create_directories((dir / sub).parent_path(), ec);
      UTPOST_ASSIGN_OR_RETURN(const uint64_t bytes,
                              storage::CheckpointTo(lane.store->raw(), dir / sub));
      stores.push_back({sub.string(), bytes});
    }
    return stores;
  }

  absl::Status Start() override {
    if (!lanes_.empty()) return absl::FailedPreconditionError("print module started before");
    const app::Config& app = context_.config();
    UTPOST_RETURN_IF_ERROR(service::EnsurePrivateDir(config_.data_dir, "print spool directory"));
    absl::StatusOr<std::unique_ptr<crypto::FileKeyStore>> keys =
        crypto::FileKeyStore::Open(app.ledger.key_dir);
    if (!keys.ok()) {
      return absl::Status(keys.status().code(),
                          absl::StrCat(keys.status().message(),
                                       " (print seals its spool with the ledger's keys: key_dir)"));
    }
    keys_ = *std::move(keys);
    if (app.dev_pki &&
        config_.provider_certificate ==
            crypto::DevProviderDir(app.InData("pki/providers"), config_.provider_id) / "cert.pem") {
      // The dev print provider (the mailbox simulator serves it) gets its key pair made here
      // if the simulator has not made it yet; both keep existing files.
      UTPOST_RETURN_IF_ERROR(crypto::EnsureDevProviderCertificate(app.InData("pki/providers"),
                                                                  config_.provider_id,
                                                                  "utpost dev print")
                                 .status());
    }
    UTPOST_ASSIGN_OR_RETURN(std::string cert,
                            ReadFile(config_.provider_certificate, "print.provider_certificate"));
    UTPOST_ASSIGN_OR_RETURN(sealer_, NewCmsBatchSealer(cert));
    UTPOST_ASSIGN_OR_RETURN(std::vector<service::ModuleContext::LedgerChannel> ledgers,
                            context_.LedgerChannels(kPrintComponent));
    UTPOST_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> registry,
                            context_.ChannelTo(kRegistry, kPrintComponent));
    // One worker per ledger shard, each with a spool of its own (print.data_dir, or
    // print.data_dir/<shard> with shards): a batch holds one shard's letters, whose outcomes
    // go back to that shard.
    const bool sharded = !app.shards.empty();
    for (service::ModuleContext::LedgerChannel& ledger : ledgers) {
      Lane lane;
      lane.shard = sharded ? ledger.shard : "";
      const std::filesystem::path spool =
          sharded ? config_.data_dir / ledger.shard : config_.data_dir;
      UTPOST_RETURN_IF_ERROR(service::EnsurePrivateDir(spool, "print spool directory"));
      UTPOST_ASSIGN_OR_RETURN(lane.store, SpoolStore::Open(spool, *keys_));
      ProviderChannelFn provider =
          [this]() -> absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> {
        return ProviderChannel();
      };
      PrintConfig config = config_;
      config.name = WorkerName(config_.name);
      lane.worker = std::make_unique<PrintWorker>(config, std::move(ledger.channel), registry,
                                                  std::move(provider), *lane.store, *sealer_,
                                                  context_.clock());
      UTPOST_RETURN_IF_ERROR(lane.worker->Start());
      service::Log(spdlog::level::info, "print started",
                   {{"worker", config.name},
                    {"shard", ledger.shard},
                    {"provider_id", config_.provider_id},
                    {"provider_endpoint", config_.provider_endpoint},
                    {"data_dir", spool.string()}});
      lanes_.push_back(std::move(lane));
    }
    metrics_thread_ = std::thread([this] { UpdateMetrics(); });
    return absl::OkStatus();
  }

  void Stop() override {
    if (lanes_.empty()) return;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (metrics_thread_.joinable()) metrics_thread_.join();
    for (Lane& lane : lanes_) lane.worker->Stop();
    Publish();
    lanes_.clear();
  }

 private:
  // A component endpoint through the component channels; host:port over mutual TLS with
  // print's component certificate.
  absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> ProviderChannel() {
    const app::Config& app = context_.config();
    if (IsComponentEndpoint(config_.provider_endpoint)) {
      UTPOST_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                              context_.ChannelTo(config_.provider_endpoint, kPrintComponent));
      return channel;
    }
    const std::filesystem::path dir = app.InData(app.components.certs_dir) / kPrintComponent;
    grpc::SslCredentialsOptions tls;
    UTPOST_ASSIGN_OR_RETURN(
        tls.pem_root_certs,
        ReadFile(config_.provider_ca.empty() ? dir / "ca.pem" : config_.provider_ca,
                 "print.provider_ca"));
    UTPOST_ASSIGN_OR_RETURN(tls.pem_cert_chain, ReadFile(dir / "client.pem", "certificate"));
    UTPOST_ASSIGN_OR_RETURN(tls.pem_private_key, ReadFile(dir / "client.key", "key"));
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(service::kMaxComponentMessageBytes);
    args.SetMaxReceiveMessageSize(service::kMaxComponentMessageBytes);
    return grpc::CreateCustomChannel(config_.provider_endpoint, grpc::SslCredentials(tls), args);
  }

  // Every few seconds: the spool's gauges and the worker's counters to the registry.
  void UpdateMetrics() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      Publish();
      lock.lock();
      cv_.wait_for(lock, std::chrono::seconds(5), [this] { return stopping_; });
    }
  }

  void Publish() {
    SpoolGauges g;
    PrintStats s;
    for (Lane& lane : lanes_) {
      const SpoolGauges lg = lane.worker->gauges();
      g.open += lg.open;
      g.closed += lg.closed;
      g.submitted += lg.submitted;
      g.finishing += lg.finishing;
      g.backlog += lg.backlog;
      const PrintStats ls = lane.worker->stats();
      s.spooled += ls.spooled;
      s.letters_printed += ls.letters_printed;
      s.letters_failed += ls.letters_failed;
      s.not_printable += ls.not_printable;
    }
    open_->Set(g.open);
    closed_->Set(g.closed);
    submitted_->Set(g.submitted);
    finishing_->Set(g.finishing);
    backlog_->Set(static_cast<double>(g.backlog));
    auto advance = [](prometheus::Counter* c, uint64_t total) {
      if (static_cast<double>(total) > c->Value())
        c->Increment(static_cast<double>(total) - c->Value());
    };
    advance(spooled_, s.spooled);
    advance(printed_, s.letters_printed);
    advance(failed_, s.letters_failed);
    advance(not_printable_, s.not_printable);
  }

  service::ModuleContext& context_;
  const PrintConfig config_;
  // A spool and its worker, for one ledger shard ("" without shards).
  struct Lane {
    std::string shard;
    std::unique_ptr<SpoolStore> store;
    std::unique_ptr<PrintWorker> worker;
  };
  std::unique_ptr<crypto::FileKeyStore> keys_;
  std::unique_ptr<BatchSealer> sealer_;
  std::vector<Lane> lanes_;
  prometheus::Gauge* open_;
  prometheus::Gauge* closed_;
  prometheus::Gauge* submitted_;
  prometheus::Gauge* finishing_;
  prometheus::Gauge* backlog_;
  prometheus::Counter* spooled_;
  prometheus::Counter* printed_;
  prometheus::Counter* failed_;
  prometheus::Counter* not_printable_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread metrics_thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<service::Module>> NewPrintModule(service::ModuleContext& context) {
  const PrintConfig& config = context.config().print;
  UTPOST_RETURN_IF_ERROR(ValidatePrintConfig(config));
  return std::make_unique<PrintModule>(context, config);
}

}  // namespace utpost::print
