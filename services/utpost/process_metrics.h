// What a utpost process reports about itself, beside its modules' metrics:
//
//   utpost_store_size_bytes{store}            the files of each RocksDB store this process
//                                             runs (ledger, registry, print, mailbox_sim):
//                                             SST, blob, WAL, manifest, i.e. the directory
//   utpost_data_volume_size_bytes             the filesystem of the data directory
//   utpost_data_volume_available_bytes        ... and what an unprivileged writer may still use
//   utpost_certificate_expiry_timestamp_seconds{kind, name}
//       notAfter (Unix seconds) of each certificate this process presents or encrypts to:
//       kind="server" (name="server"), kind="component" (name = the component whose client
//       certificate it is), kind="provider" (name = the provider id).
//
// Thread-safe.
#pragma once

#include <prometheus/registry.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/metrics.h"

namespace utpost::app {

struct Config;

// The bytes of the regular files under `dir` (recursively); 0 if it does not exist. Files
// that vanish while it counts (RocksDB deletes obsolete files at any time) are skipped.
uint64_t DirectoryBytes(const std::filesystem::path& dir);

class ProcessMetrics {
 public:
  ProcessMetrics(prometheus::Registry& registry, const Config& config);

  // The stores and certificates of the components in `components` (those running here).
  // Certificates are read now: those in use are the ones read at start. A certificate that
  // cannot be read is left out and returned as the first error, to be logged.
  [[nodiscard]] absl::Status Init(const std::vector<std::string>& components);
  // Reads store and volume sizes (a directory listing per store; no RocksDB call).
  void Refresh();

 private:
  [[nodiscard]] absl::Status Certificate(const std::string& kind, const std::string& name,
                                         const std::filesystem::path& pem);

  const Config& config_;
  common::GaugeVec store_bytes_;
  prometheus::Gauge& volume_size_;
  prometheus::Gauge& volume_available_;
  common::GaugeVec expiry_;
  std::vector<std::pair<std::string, std::filesystem::path>> stores_;
};

}  // namespace utpost::app
