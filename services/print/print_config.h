// Configuration of the print component (config section `print:`). Every field has a working
// default for development; ValidatePrintConfig says which values are out of range.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace utpost::print {

struct PrintConfig {
  // The spool's RocksDB (`data_dir`), relative to the top-level data_dir unless absolute.
  std::filesystem::path data_dir = "print";
  // The print provider (`provider_id`): sent as "utpost-provider-id" with every call to it
  // and recorded as the letters' provider. 1..64 characters of [a-z0-9-].
  std::string provider_id = "dev-print";
  // Where the provider serves (`provider_endpoint`): a utpost component's name (reached
  // through the component channels, e.g. "mailbox-sim") or host:port (mutual TLS with
  // print's component certificate).
  std::string provider_endpoint = "mailbox-sim";
  // PEM certificate batches are encrypted to (`provider_certificate`), relative to data_dir
  // unless absolute.
  std::filesystem::path provider_certificate = "pki/providers/dev-print/cert.pem";
  // PEM CA that a host:port provider's server certificate must chain to (`provider_ca`);
  // empty: the components' CA. Relative to data_dir unless absolute.
  std::filesystem::path provider_ca;
  // The country letters are posted in (`home_country`): the cover page shows the country
  // only of addresses elsewhere. ISO 3166-1 alpha-2.
  std::string home_country = "NO";

  // A batch closes when it has `batch_max_letters` letters (1..100000), when its letters
  // reach `batch_max_bytes` (1 MiB..1 GiB; it bounds the memory a batch takes while it is
  // encrypted and sent, about twice this), or `batch_window` after it was opened if it has
  // any letter (1 s..7 days).
  uint32_t batch_max_letters = 500;
  uint64_t batch_max_bytes = uint64_t{64} << 20;
  absl::Duration batch_window = absl::Minutes(10);

  // PRINT tasks leased at once (`lease_batch`, 1..100) and for how long (`lease_for`,
  // 1 s..1 h; long enough to read the documents of lease_batch letters one after another).
  uint32_t lease_batch = 8;
  absl::Duration lease_for = absl::Minutes(2);
  // Wait after a lease found nothing (`poll_interval`, 10 ms..60 s).
  absl::Duration poll_interval = absl::Seconds(1);
  // How often a submitted batch's state is asked for (`status_poll_interval`, 100 ms..1 h).
  absl::Duration status_poll_interval = absl::Seconds(10);
  // Deadline of each unary RPC (`rpc_timeout`, 100 ms..60 s) and of each stream of
  // documents or batch (`stream_timeout`, 1 s..1 h).
  absl::Duration rpc_timeout = absl::Seconds(5);
  absl::Duration stream_timeout = absl::Minutes(2);
  // Retry delays of a batch the provider could not take (`backoff_min`, `backoff_max`):
  // min(backoff_min x 2^n, backoff_max) x a random factor in [0.5, 1).
  absl::Duration backoff_min = absl::Seconds(1);
  absl::Duration backoff_max = absl::Minutes(5);

  // Most pages of one document, and how far a page may be from A4 (`max_pages`, 1..10000;
  // `page_tolerance_mm`, 0..20), when print checks a document itself (a letter accepted
  // before the ledger checked printability).
  uint32_t max_pages = 300;
  double page_tolerance_mm = 3.0;

  // The worker name sent with LeaseTasks (`name`), 1..128 printable ASCII characters.
  std::string name = "print";
};

// INVALID_ARGUMENT naming the first field out of range by its config key, e.g.
// "print.batch_max_letters: must be 1..100000".
[[nodiscard]] absl::Status ValidatePrintConfig(const PrintConfig& config);

// True if `endpoint` names a utpost component rather than host:port.
bool IsComponentEndpoint(const std::string& endpoint);

}  // namespace utpost::print
