// Configuration of the mailbox simulator (config section `mailbox_sim:`). Every field has a
// working default; ValidateMailboxSimConfig says which values are out of range. The
// behaviour fields give the behaviour at start; MailboxSimControlService changes it while
// the simulator runs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace utpost::mailbox_sim {

// How a refused delivery is answered.
enum class RejectKind {
  kMailboxClosed,  // FAILED_PRECONDITION "mailbox closed (simulated)"
  kInvalid,        // INVALID_ARGUMENT "letter refused by the provider (simulated)"
};

struct SimBehaviour {
  // Share of deliveries and batch submissions answered UNAVAILABLE, 0..1 (`fail_share`).
  double fail_share = 0;
  // Share refused permanently, 0..1 (`reject_share`), answered as `reject` says
  // (`mailbox_closed` or `invalid`).
  double reject_share = 0;
  RejectKind reject = RejectKind::kMailboxClosed;
  // Wait before every provider call is answered, 0..60 s (`delay`).
  absl::Duration delay = absl::ZeroDuration();
  // Every provider call answered UNAVAILABLE (`down`).
  bool down = false;
  // Share of delivered letters that get a READ receipt, 0..1 (`read_share`), read_delay
  // after delivery, 0..30 days (`read_delay`).
  double read_share = 1;
  absl::Duration read_delay = absl::Seconds(30);
  // Time from a batch's submission to PRINTED, 0..30 days (`print_delay`).
  absl::Duration print_delay = absl::Seconds(10);
};

struct MailboxSimConfig {
  // Its own RocksDB (`data_dir`, relative to the process's data_dir; default mailbox-sim).
  std::filesystem::path data_dir;
  // Where the providers' keys are (`providers_dir`, default pki/providers): the simulator
  // serves every provider id <id> with a <providers_dir>/<id>/key.pem.
  std::filesystem::path providers_dir;
  // Make the dev providers' certificates and keys (dev, dev-substantial, dev-print) when
  // missing. Set from dev_pki.
  bool make_dev_providers = false;
  // Serve MailboxSimControlService to organisations. Set from dev_pki.
  bool serve_control = false;
  // Largest CMS envelope of one document (`max_document_bytes`). A document is held in
  // memory once while it is checked, so memory stays below
  // max_streams x max_document_bytes. 1 KiB..1 GiB.
  uint64_t max_document_bytes = 64ull << 20;
  // Largest CMS envelope of a print batch (`max_batch_bytes`); held twice (envelope and
  // content) while it is checked. 1 KiB..2 GiB.
  uint64_t max_batch_bytes = 256ull << 20;
  // Deliver and SubmitBatch streams open at once (`max_streams`); more are refused with
  // RESOURCE_EXHAUSTED. 1..256. As many as the courier sends one provider by default
  // (courier.max_in_flight_per_provider), so that the simulator is not what a demo waits on.
  int max_streams = 16;
  // Threads that do the work (decryption, synced writes, the delay) (`worker_threads`),
  // and work items waiting for them (`max_queued_requests`).
  int worker_threads = 8;
  int max_queued_requests = 256;
  SimBehaviour behaviour;
};

// INVALID_ARGUMENT naming the first field out of range by its config key, e.g.
// "mailbox_sim.fail_share: must be 0..1".
[[nodiscard]] absl::Status ValidateMailboxSimConfig(const MailboxSimConfig& config);
// The same checks for a behaviour alone (`prefix` names it in messages).
[[nodiscard]] absl::Status ValidateBehaviour(const SimBehaviour& behaviour,
                                             std::string_view prefix);

}  // namespace utpost::mailbox_sim
