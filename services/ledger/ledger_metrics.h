// The ledger's metrics: what happens to letters, counted where the ledger applies it. Every
// count is taken after the synced write that made it durable succeeded, so a refused call, a
// failed write or a replay (an idempotent retry of SendLetter, CompleteTask or
// RecordTransition) counts nothing.
//
// Labels, all bounded: municipality is the sender's organisation key (from its certificate:
// one per organisation that may send), channel the letter's Channel, outcome its status,
// reason a StatusReason, kind a task kind; each an enum's name in lower case without its
// prefix ("delivered_digitally", "digital_mailbox", "recipient_reserved", "route").
//
//   utpost_ledger_letters_accepted_total{municipality}
//   utpost_ledger_letter_outcomes_total{municipality, channel, outcome}
//       every status a letter reaches after acceptance (routed, delivered_digitally, read,
//       queued_for_print, printed, failed, cancelled), with the channel it has then (none
//       before it has one); outcome="read" counts the read receipts.
//   utpost_ledger_paper_letters_total{municipality, reason}
//       letters queued for print, by the reason of that step (recipient_reserved, no_mailbox,
//       security_level_not_supported, digital_delivery_failed, unread_past_deadline,
//       sender_requested_print, ...).
//   utpost_ledger_accepted_to_outcome_seconds{channel, outcome}
//       from acceptance to delivered_digitally, queued_for_print and printed.
//   utpost_ledger_form_submissions_total{municipality, outcome}
//       citizen form submissions to the municipality: accepted (durably stored, encrypted),
//       fetched (leased to its case system; a submission offered again after its lease
//       expired counts again), acknowledged, rejected. Replays count nothing.
//   utpost_ledger_form_submissions_pending{municipality},
//   utpost_ledger_form_submission_oldest_due_age_seconds{municipality}
//       submissions waiting for the municipality's case system at scrape time
//       (RefreshForms), and how long the longest-waiting one not under a lease has waited.
//   utpost_ledger_tasks_due{kind}, utpost_ledger_task_oldest_due_age_seconds{kind}
//       the task queue at scrape time (RefreshQueue).
//   utpost_ledger_document_segments{state}, utpost_ledger_document_segment_bytes{kind}
//       the document segment files at scrape time (RefreshSegments): how many are sealed
//       and active, their bytes stored and the bytes of them still live.
//
// Thread-safe.
#pragma once

#include <prometheus/registry.h>

#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "storage/forms_store.h"
#include "storage/ledger_store.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::ledger {

// An enum value's name as a label: lower case without the enum's prefix.
std::string StatusLabel(v1::LetterStatus status);
std::string ChannelLabel(v1::Channel channel);
std::string ReasonLabel(v1::StatusReason reason);
std::string TaskKindLabel(storage::v1::TaskKind kind);

class LedgerMetrics {
 public:
  explicit LedgerMetrics(prometheus::Registry& registry);

  // A new letter of `municipality`, durably stored.
  void Accepted(std::string_view municipality);
  // `record` as durably written by a status change; `previous` is the status it left.
  void Transitioned(const storage::LetterRecord& record, v1::LetterStatus previous, absl::Time now);
  // A form submission of `municipality` durably reached `outcome` (accepted, fetched,
  // acknowledged, rejected); `count` submissions at once.
  void FormSubmissions(std::string_view municipality, std::string_view outcome, double count = 1);
  // Reads the task queue of every kind (LedgerStore::SummarizeDue, at most `cap` entries a
  // kind) and sets the queue gauges. A kind whose read fails keeps its last values.
  void RefreshQueue(const storage::LedgerStore& store, absl::Time now, size_t cap = 100000);
  // Sets the document segment gauges (one live-bytes read per segment).
  void RefreshSegments(const storage::Db& db);
  // Reads the pending submissions (FormsStore::SummarizePending) and sets their gauges; a
  // municipality seen before (pending at an earlier scrape, or with a submission accepted
  // since the start) with none pending now shows 0.
  void RefreshForms(const storage::FormsStore& store, absl::Time now, size_t cap = 100000);

 private:
  common::CounterVec accepted_;
  common::CounterVec outcomes_;
  common::CounterVec paper_;
  common::HistogramVec latency_;
  common::CounterVec submissions_;
  common::GaugeVec submissions_pending_;
  common::GaugeVec submission_oldest_due_;
  absl::Mutex forms_mu_;
  absl::flat_hash_set<std::string> form_municipalities_ ABSL_GUARDED_BY(forms_mu_);
  common::GaugeVec tasks_due_;
  common::GaugeVec oldest_due_;
  common::GaugeVec segments_;
  common::GaugeVec segment_bytes_;
};

}  // namespace utpost::ledger
