#include "services/courier/courier_module.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "crypto/cms.h"
#include "services/common/log.h"
#include "services/utpost/config.h"

namespace utpost::courier {
namespace {

constexpr char kLedger[] = "ledger";
constexpr char kRegistry[] = "registry";

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

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", path.string()));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class CmsWriter final : public EnvelopeWriter {
 public:
  explicit CmsWriter(std::unique_ptr<crypto::CmsEnvelopeWriter> writer)
      : writer_(std::move(writer)) {}
  absl::Status Write(std::string_view plaintext) override { return writer_->Write(plaintext); }
  absl::Status Finish() override { return writer_->Finish(); }

 private:
  std::unique_ptr<crypto::CmsEnvelopeWriter> writer_;
};

}  // namespace

EnvelopeWriterFactory CmsEnvelopes() {
  return [](std::string_view certificate_pem, std::function<absl::Status(std::string_view)> sink)
             -> absl::StatusOr<std::unique_ptr<EnvelopeWriter>> {
    absl::StatusOr<std::unique_ptr<crypto::CmsEnvelopeWriter>> writer =
        crypto::CmsEnvelopeWriter::Create(certificate_pem, std::move(sink));
    if (!writer.ok()) return writer.status();
    return std::make_unique<CmsWriter>(*std::move(writer));
  };
}

CourierModule::CourierModule(service::ModuleContext& context, CourierConfig config)
    : context_(context), config_(std::move(config)), metrics_(context.metrics()) {}

CourierModule::~CourierModule() { Stop(); }

absl::Status CourierModule::Start() {
  if (!couriers_.empty()) return absl::FailedPreconditionError("courier module started before");
  UTPOST_ASSIGN_OR_RETURN(std::vector<service::ModuleContext::LedgerChannel> ledgers,
                          context_.LedgerChannels(kCourierComponent));
  UTPOST_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> registry,
                          context_.ChannelTo(kRegistry, kCourierComponent));
  const app::Config& app = context_.config();
  ProviderTls tls;
  if (!app.insecure) {
    // The courier's component certificate is its client certificate towards providers.
    const std::filesystem::path dir = app.InData(app.components.certs_dir) / kCourierComponent;
    UTPOST_ASSIGN_OR_RETURN(tls.cert_pem, ReadFile(dir / "client.pem"));
    UTPOST_ASSIGN_OR_RETURN(tls.key_pem, ReadFile(dir / "client.key"));
  }
  if (!config_.provider_ca.empty()) {
    UTPOST_ASSIGN_OR_RETURN(tls.root_ca_pem, ReadFile(app.InData(config_.provider_ca)));
  }
  channels_ = std::make_unique<ProviderChannels>(
      [this](std::string_view component) {
        return context_.ChannelTo(component, kCourierComponent);
      },
      std::move(tls));
  ProviderChannels* channels = channels_.get();
  // One courier per ledger shard: each leases that shard's tasks; receipts about another
  // shard's letters are recorded there.
  for (size_t i = 0; i < ledgers.size(); ++i) {
    CourierConfig config = config_;
    config.name = WorkerName(config_.name);
    auto courier = std::make_unique<Courier>(
        config, ledgers[i].channel, registry,
        [channels](
            std::string_view endpoint) -> absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> {
          absl::StatusOr<std::shared_ptr<grpc::Channel>> c = channels->Get(endpoint);
          if (!c.ok()) return c.status();
          return std::shared_ptr<grpc::ChannelInterface>(*std::move(c));
        },
        CmsEnvelopes(), context_.clock(), &metrics_);
    std::vector<std::shared_ptr<grpc::ChannelInterface>> others;
    for (size_t k = 0; k < ledgers.size(); ++k) {
      if (k != i) others.push_back(ledgers[k].channel);
    }
    courier->SetOtherLedgers(std::move(others));
    UTPOST_RETURN_IF_ERROR(courier->Start());
    couriers_.push_back(std::move(courier));
    service::Log(spdlog::level::info, "courier started",
                 {{"worker", config.name},
                  {"shard", ledgers[i].shard},
                  {"workers", absl::StrCat(config.workers)},
                  {"max_in_flight", absl::StrCat(config.max_in_flight)},
                  {"ledger", context_.RunsHere(kLedger) ? "in-process" : "remote"},
                  {"registry", context_.RunsHere(kRegistry) ? "in-process" : "remote"}});
  }
  return absl::OkStatus();
}

namespace {

void Add(CourierStats& sum, const CourierStats& s) {
  sum.leased += s.leased;
  sum.delivered += s.delivered;
  sum.provider_replays += s.provider_replays;
  sum.to_print += s.to_print;
  sum.failed += s.failed;
  sum.retried += s.retried;
  sum.dropped += s.dropped;
  sum.permanent_errors += s.permanent_errors;
  sum.transient_errors += s.transient_errors;
  sum.backed_off += s.backed_off;
  sum.busy += s.busy;
  sum.unread_to_print += s.unread_to_print;
  sum.unread_read += s.unread_read;
  sum.receipts_recorded += s.receipts_recorded;
  sum.receipts_refused += s.receipts_refused;
  sum.receipts_kept += s.receipts_kept;
  sum.completion_errors += s.completion_errors;
}

}  // namespace

void CourierModule::Stop() {
  if (couriers_.empty()) return;
  CourierStats sum;
  for (auto& courier : couriers_) {
    courier->Stop();
    Add(sum, courier->stats());
  }
  last_stats_ = sum;
  couriers_.clear();
  channels_.reset();
}

CourierStats CourierModule::stats() const {
  if (couriers_.empty()) return last_stats_;
  CourierStats sum;
  for (const auto& courier : couriers_) Add(sum, courier->stats());
  return sum;
}

absl::StatusOr<std::unique_ptr<service::Module>> NewCourierModule(service::ModuleContext& context) {
  const CourierConfig& config = context.config().courier;
  UTPOST_RETURN_IF_ERROR(ValidateCourierConfig(config));
  return std::make_unique<CourierModule>(context, config);
}

}  // namespace utpost::courier
