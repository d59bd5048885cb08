#include "services/utpost/process_metrics.h"

#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "crypto/certificate_time.h"
#include "services/utpost/app.h"
#include "services/utpost/config.h"

namespace utpost::app {

uint64_t DirectoryBytes(const std::filesystem::path& dir) {
  std::error_code ec;
  uint64_t total = 0;
  auto it = std::filesystem::recursive_directory_iterator(
      dir, std::filesystem::directory_options::skip_permission_denied, ec);
  if (ec) return 0;
  for (; it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec) || file_ec) continue;
    const uintmax_t size = it->file_size(file_ec);
    if (!file_ec) total += size;
  }
  return total;
}

ProcessMetrics::ProcessMetrics(prometheus::Registry& registry, const Config& config)
    : config_(config),
      store_bytes_(registry, "utpost_store_size_bytes",
                   "Bytes of the files of each RocksDB store this process runs", {"store"}),
      volume_size_(prometheus::BuildGauge()
                       .Name("utpost_data_volume_size_bytes")
                       .Help("Size of the filesystem that holds the data directory")
                       .Register(registry)
                       .Add({})),
      volume_available_(prometheus::BuildGauge()
                            .Name("utpost_data_volume_available_bytes")
                            .Help("Bytes still available to utpost on the data directory's "
                                  "filesystem")
                            .Register(registry)
                            .Add({})),
      expiry_(registry, "utpost_certificate_expiry_timestamp_seconds",
              "When each certificate in use stops being valid (notAfter, Unix seconds)",
              {"kind", "name"}) {}

absl::Status ProcessMetrics::Certificate(const std::string& kind, const std::string& name,
                                         const std::filesystem::path& pem_path) {
  UTPOST_ASSIGN_OR_RETURN(const std::string pem, ReadFile(pem_path));
  absl::StatusOr<absl::Time> not_after = crypto::CertificateNotAfter(pem);
  if (!not_after.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(pem_path.string(), ": ", not_after.status().message()));
  }
  expiry_.Set({kind, name}, static_cast<double>(absl::ToUnixSeconds(*not_after)));
  return absl::OkStatus();
}

absl::Status ProcessMetrics::Init(const std::vector<std::string>& components) {
  absl::Status first;
  auto keep = [&first](absl::Status s) {
    if (first.ok()) first = std::move(s);
  };
  if (!config_.insecure) keep(Certificate("server", "server", config_.InData(config_.tls.cert)));
  for (const std::string& name : components) {
    if (name == "ledger") stores_.emplace_back("ledger", config_.ledger.data_dir);
    if (name == "registry") stores_.emplace_back("registry", config_.registry.data_dir);
    if (name == "print") stores_.emplace_back("print", config_.print.data_dir);
    if (name == "mailbox-sim") stores_.emplace_back("mailbox_sim", config_.mailbox_sim.data_dir);
    const std::filesystem::path client =
        config_.InData(config_.components.certs_dir) / name / "client.pem";
    std::error_code ec;
    // A component that calls no other (the ledger in its own process) may have no client
    // certificate.
    if (!config_.insecure && std::filesystem::exists(client, ec)) {
      keep(Certificate("component", name, client));
    }
    if (name == "print") {
      keep(Certificate("provider", config_.print.provider_id, config_.print.provider_certificate));
    }
  }
  return first;
}

void ProcessMetrics::Refresh() {
  for (const auto& [store, dir] : stores_) {
    store_bytes_.Set({store}, static_cast<double>(DirectoryBytes(dir)));
  }
  std::error_code ec;
  const std::filesystem::space_info space = std::filesystem::space(config_.data_dir, ec);
  if (!ec) {
    volume_size_.Set(static_cast<double>(space.capacity));
    volume_available_.Set(static_cast<double>(space.available));
  }
}

}  // namespace utpost::app
