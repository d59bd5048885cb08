#include "services/ledger/ledger_metrics.h"

#include "absl/strings/ascii.h"
#include "common/proto_time.h"
#include "common/strings.h"

namespace utpost::ledger {
namespace {

std::string EnumLabel(const std::string& name, std::string_view prefix) {
  std::string_view rest = name;
  if (rest.starts_with(prefix)) rest.remove_prefix(prefix.size());
  if (rest.empty()) return "none";
  return absl::AsciiStrToLower(std::string(rest));
}

}  // namespace

std::string StatusLabel(v1::LetterStatus status) {
  if (status == v1::LETTER_STATUS_UNSPECIFIED) return "none";
  return EnumLabel(v1::LetterStatus_Name(status), "LETTER_STATUS_");
}

std::string ChannelLabel(v1::Channel channel) {
  if (channel == v1::CHANNEL_UNSPECIFIED) return "none";
  return EnumLabel(v1::Channel_Name(channel), "CHANNEL_");
}

std::string ReasonLabel(v1::StatusReason reason) {
  if (reason == v1::STATUS_REASON_UNSPECIFIED) return "none";
  return EnumLabel(v1::StatusReason_Name(reason), "STATUS_REASON_");
}

std::string TaskKindLabel(storage::v1::TaskKind kind) {
  return EnumLabel(storage::v1::TaskKind_Name(kind), "TASK_KIND_");
}

LedgerMetrics::LedgerMetrics(prometheus::Registry& registry)
    : accepted_(registry, "utpost_ledger_letters_accepted_total",
                "Letters accepted (durably stored), by sending municipality", {"municipality"}),
      outcomes_(registry, "utpost_ledger_letter_outcomes_total",
                "Letters reaching a status after acceptance, by municipality, channel and status",
                {"municipality", "channel", "outcome"}),
      paper_(registry, "utpost_ledger_paper_letters_total",
             "Letters queued for print, by municipality and the reason they went to paper",
             {"municipality", "reason"}),
      latency_(registry, "utpost_ledger_accepted_to_outcome_seconds",
               "Time from a letter's acceptance to its delivery, queueing for print or printing",
               {"channel", "outcome"}),
      submissions_(registry, "utpost_ledger_form_submissions_total",
                   "Citizen form submissions by receiving municipality and outcome (accepted, "
                   "fetched, acknowledged, rejected)",
                   {"municipality", "outcome"}),
      submissions_pending_(registry, "utpost_ledger_form_submissions_pending",
                           "Form submissions waiting for the receiving municipality's case system "
                           "(fetched or not), by municipality; counted up to 100000 in all",
                           {"municipality"}),
      submission_oldest_due_(
          registry, "utpost_ledger_form_submission_oldest_due_age_seconds",
          "How long the longest-waiting form submission of a municipality, not under a fetch "
          "lease, has been due (0: none due)",
          {"municipality"}),
      tasks_due_(registry, "utpost_ledger_tasks_due",
                 "Tasks due and waiting for a worker (new, retried, or with an expired lease), "
                 "by kind; counted up to 100000",
                 {"kind"}),
      oldest_due_(registry, "utpost_ledger_task_oldest_due_age_seconds",
                  "How long the longest-waiting due task of a kind has been due (0: none due)",
                  {"kind"}),
      segments_(registry, "utpost_ledger_document_segments",
                "Document segment files, by state (sealed, active)", {"state"}),
      segment_bytes_(registry, "utpost_ledger_document_segment_bytes",
                     "Bytes of the document segment files (stored), and of them the bytes "
                     "that letters' documents still need (live); stored minus live is space "
                     "a sealed segment gives back when nothing in it is live any more",
                     {"kind"}) {}

void LedgerMetrics::RefreshSegments(const storage::Db& db) {
  double sealed = 0, active = 0, stored = 0, live = 0;
  for (const storage::SegmentInfo& segment : db.segments().Segments()) {
    (segment.sealed ? sealed : active) += 1;
    stored += static_cast<double>(segment.bytes);
    absl::StatusOr<uint64_t> bytes = db.SegmentLiveBytes(segment.id);
    if (!bytes.ok()) return;  // keep the last values
    live += static_cast<double>(*bytes);
  }
  segments_.Set({"sealed"}, sealed);
  segments_.Set({"active"}, active);
  segment_bytes_.Set({"stored"}, stored);
  segment_bytes_.Set({"live"}, live);
}

void LedgerMetrics::Accepted(std::string_view municipality) { accepted_.Inc({municipality}); }

void LedgerMetrics::FormSubmissions(std::string_view municipality, std::string_view outcome,
                                    double count) {
  if (count <= 0) return;
  submissions_.Inc({municipality, outcome}, count);
  // Its queue gauges show from now on, also when its case system empties the queue before
  // the next scrape.
  absl::MutexLock lock(&forms_mu_);
  if (!form_municipalities_.contains(common::Av(municipality))) {
    form_municipalities_.insert(std::string(municipality));
  }
}

void LedgerMetrics::Transitioned(const storage::LetterRecord& record, v1::LetterStatus previous,
                                 absl::Time now) {
  const v1::LetterStatus status = record.status();
  if (status == previous) return;
  const std::string channel = ChannelLabel(record.channel());
  const std::string outcome = StatusLabel(status);
  outcomes_.Inc({record.sender(), channel, outcome});
  if (status == v1::LETTER_STATUS_QUEUED_FOR_PRINT) {
    paper_.Inc({record.sender(), ReasonLabel(record.reason())});
  }
  if (status == v1::LETTER_STATUS_DELIVERED_DIGITALLY ||
      status == v1::LETTER_STATUS_QUEUED_FOR_PRINT || status == v1::LETTER_STATUS_PRINTED) {
    const double seconds = absl::ToDoubleSeconds(now - common::FromProto(record.accepted_time()));
    latency_.Observe({channel, outcome}, std::max(seconds, 0.0));
  }
}

void LedgerMetrics::RefreshQueue(const storage::LedgerStore& store, absl::Time now, size_t cap) {
  for (int k = storage::v1::TaskKind_MIN; k <= storage::v1::TaskKind_MAX; ++k) {
    const auto kind = static_cast<storage::v1::TaskKind>(k);
    if (kind == storage::v1::TASK_KIND_UNSPECIFIED || !storage::v1::TaskKind_IsValid(k)) continue;
    absl::StatusOr<storage::LedgerStore::DueSummary> summary =
        store.SummarizeDue(static_cast<uint8_t>(k), now, cap);
    if (!summary.ok()) continue;
    const std::string label = TaskKindLabel(kind);
    tasks_due_.Set({label}, static_cast<double>(summary->due));
    double age = 0;
    if (summary->earliest_ms) {
      age = std::max(0.0, absl::ToDoubleSeconds(now - absl::FromUnixMillis(*summary->earliest_ms)));
    }
    oldest_due_.Set({label}, age);
  }
}

void LedgerMetrics::RefreshForms(const storage::FormsStore& store, absl::Time now, size_t cap) {
  absl::StatusOr<storage::FormsStore::PendingSummaries> summaries =
      store.SummarizePending(absl::ToUnixMillis(now), cap);
  if (!summaries.ok()) return;
  absl::MutexLock lock(&forms_mu_);
  for (const auto& [municipality, summary] : summaries->by_municipality) {
    form_municipalities_.insert(municipality);
  }
  for (const std::string& municipality : form_municipalities_) {
    auto found = summaries->by_municipality.find(municipality);
    double pending = 0;
    double age = 0;
    if (found != summaries->by_municipality.end()) {
      pending = static_cast<double>(found->second.pending);
      if (found->second.earliest_due_ms) {
        age = std::max(
            0.0, absl::ToDoubleSeconds(now - absl::FromUnixMillis(*found->second.earliest_due_ms)));
      }
    }
    submissions_pending_.Set({municipality}, pending);
    submission_oldest_due_.Set({municipality}, age);
  }
}

}  // namespace utpost::ledger
