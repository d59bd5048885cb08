// Configuration of the ledger component.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "services/ledger/send_letter_validation.h"

namespace utpost::ledger {

// How long a letter's documents are kept after its final outcome (config `ledger.retention`).
// The final outcome: a terminal status (READ, PRINTED, FAILED; a cancelled letter's documents
// are destroyed at once), or DELIVERED_DIGITALLY for a letter without print_if_unread_after.
// Then its document keys are destroyed (crypto-shredding); its history stays.
struct RetentionConfig {
  // The period (`period`); zero keeps documents forever.
  absl::Duration period = absl::Hours(365 * 24);
  // Periods of particular organisations (`organisations`, by org key, e.g. "NO958935420").
  std::map<std::string, absl::Duration, std::less<>> per_organisation;
  // How often the ledger's retention worker looks for due RETENTION tasks (`poll_interval`),
  // and how many it takes at once (`batch_size`).
  absl::Duration poll_interval = absl::Seconds(30);
  int batch_size = 100;

  absl::Duration PeriodFor(std::string_view org_key) const {
    auto it = per_organisation.find(org_key);
    return it == per_organisation.end() ? period : it->second;
  }
};

struct LedgerConfig {
  // RocksDB directory of the ledger.
  std::filesystem::path data_dir;
  // Directory of the file key store (key-encryption keys).
  std::filesystem::path key_dir;
  // Limits on one letter.
  LetterLimits limits;
  // Threads that run ledger work (encryption, synced writes). Synced writes block, and
  // concurrent writes share syncs, so this is sized for concurrency, not for cores.
  int worker_threads = 32;
  // Requests waiting for a worker before new ones are refused with RESOURCE_EXHAUSTED.
  int max_queued_requests = 256;
  // Threads and queue of the internal TaskService (router, courier, print), apart from the
  // public services' so that neither can crowd out the other. A completion holds its thread
  // through its synced write, and the router alone keeps many in flight: with 8 threads the
  // courier's calls queued behind the router's and delivery ran at half the rate (README,
  // "Delivery" benchmark).
  int task_worker_threads = 32;
  int max_queued_task_requests = 512;
  // TaskService.ReadDocuments streams open at once; more are refused with RESOURCE_EXHAUSTED.
  // Each holds at most one document opened (up to limits.max_total_bytes) and one chunk.
  int max_document_reads = 16;
  // Document bytes held by requests in progress (queued or running) before new ones are
  // refused with RESOURCE_EXHAUSTED. Bounds memory under overload.
  uint64_t max_inflight_bytes = 512ull << 20;
  // Requests (queued or running) one organisation may have at once; more are refused with
  // RESOURCE_EXHAUSTED, so one case system's burst cannot starve the others.
  int max_inflight_per_organisation = 128;
  // Open WatchLetterEvents streams per organisation (one stream carries all its events).
  int max_watch_streams_per_organisation = 16;
  // Letters scanned at most for one ListLetters page (bounds the work of a filtered page).
  int list_max_scan = 2000;
  // Retention of documents after a letter's final outcome.
  RetentionConfig retention;
};

}  // namespace utpost::ledger
