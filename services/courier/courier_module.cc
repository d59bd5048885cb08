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
  if (courier_ != nullptr) return absl::FailedPreconditionError("courier module started before");
  UTPOST_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> tasks,
                          context_.ChannelTo(kLedger, kCourierComponent));
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
  CourierConfig config = config_;
  config.name = WorkerName(config_.name);
  ProviderChannels* channels = channels_.get();
  courier_ = std::make_unique<Courier>(
      config, std::move(tasks), std::move(registry),
      [channels](
          std::string_view endpoint) -> absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> {
        absl::StatusOr<std::shared_ptr<grpc::Channel>> c = channels->Get(endpoint);
        if (!c.ok()) return c.status();
        return std::shared_ptr<grpc::ChannelInterface>(*std::move(c));
      },
      CmsEnvelopes(), context_.clock(), &metrics_);
  UTPOST_RETURN_IF_ERROR(courier_->Start());
  service::Log(spdlog::level::info, "courier started",
               {{"worker", config.name},
                {"workers", absl::StrCat(config.workers)},
                {"max_in_flight", absl::StrCat(config.max_in_flight)},
                {"ledger", context_.RunsHere(kLedger) ? "in-process" : "remote"},
                {"registry", context_.RunsHere(kRegistry) ? "in-process" : "remote"}});
  return absl::OkStatus();
}

void CourierModule::Stop() {
  if (courier_ == nullptr) return;
  courier_->Stop();
  last_stats_ = courier_->stats();
  courier_.reset();
  channels_.reset();
}

CourierStats CourierModule::stats() const {
  return courier_ != nullptr ? courier_->stats() : last_stats_;
}

absl::StatusOr<std::unique_ptr<service::Module>> NewCourierModule(service::ModuleContext& context) {
  const CourierConfig& config = context.config().courier;
  UTPOST_RETURN_IF_ERROR(ValidateCourierConfig(config));
  return std::make_unique<CourierModule>(context, config);
}

}  // namespace utpost::courier
