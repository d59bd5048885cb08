#include "services/mailbox_sim/mailbox_sim_config.h"

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace utpost::mailbox_sim {
namespace {

bool Share(double s) { return s >= 0 && s <= 1; }
bool InRange(absl::Duration d, absl::Duration hi) { return d >= absl::ZeroDuration() && d <= hi; }

}  // namespace

absl::Status ValidateBehaviour(const SimBehaviour& b, std::string_view prefix) {
  auto bad = [&](std::string_view key, std::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat(common::Av(prefix), common::Av(key), ": ", common::Av(rule)));
  };
  if (!Share(b.fail_share)) return bad("fail_share", "must be 0..1");
  if (!Share(b.reject_share)) return bad("reject_share", "must be 0..1");
  if (!Share(b.read_share)) return bad("read_share", "must be 0..1");
  if (!InRange(b.delay, absl::Seconds(60))) return bad("delay", "must be 0s..60s");
  if (!InRange(b.read_delay, absl::Hours(24 * 30))) return bad("read_delay", "must be 0s..30d");
  if (!InRange(b.print_delay, absl::Hours(24 * 30))) {
    return bad("print_delay", "must be 0s..30d");
  }
  return absl::OkStatus();
}

absl::Status ValidateMailboxSimConfig(const MailboxSimConfig& c) {
  auto bad = [](std::string_view key, std::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("mailbox_sim.", common::Av(key), ": ", common::Av(rule)));
  };
  if (c.max_document_bytes < 1024 || c.max_document_bytes > (1ull << 30)) {
    return bad("max_document_bytes", "must be 1024..1073741824");
  }
  if (c.max_batch_bytes < 1024 || c.max_batch_bytes > (2ull << 30) - 1) {
    return bad("max_batch_bytes", "must be 1024..2147483647");
  }
  if (c.max_streams < 1 || c.max_streams > 256) return bad("max_streams", "must be 1..256");
  if (c.worker_threads < 1 || c.worker_threads > 256) {
    return bad("worker_threads", "must be 1..256");
  }
  if (c.max_queued_requests < 1) return bad("max_queued_requests", "must be positive");
  return ValidateBehaviour(c.behaviour, "mailbox_sim.");
}

}  // namespace utpost::mailbox_sim
