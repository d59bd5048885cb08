#include "services/ledger/task_validation.h"

#include "absl/strings/str_cat.h"
#include "common/field_violations.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "common/text_rules.h"
#include "services/ledger/letter_status.h"
#include "services/ledger/send_letter_validation.h"

namespace utpost::ledger {
namespace {

using common::FromProto;
using common::IsValidTimestamp;

using common::CheckText;
using common::FieldViolations;

bool IsKnownKind(int kind) {
  return kind != internal::v1::TASK_KIND_UNSPECIFIED && internal::v1::TaskKind_IsValid(kind);
}

// Checks the token; on success stores it in `token`.
void CheckToken(FieldViolations& v, const std::string& text, LeaseToken& token) {
  if (text.empty()) {
    v.Add("lease_token", "is required");
    return;
  }
  absl::StatusOr<LeaseToken> decoded = DecodeLeaseToken(text);
  if (!decoded.ok()) {
    v.Add("lease_token", "is not a lease token this server issued");
    return;
  }
  token = *decoded;
}

// True for 1..64 characters of [a-z0-9-].
bool IsProviderId(const std::string& id) {
  if (id.empty() || id.size() > kMaxProviderIdChars) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool IsValidStatus(int s) {
  return s != v1::LETTER_STATUS_UNSPECIFIED && v1::LetterStatus_IsValid(s);
}

// `keep_allowed`: the status may be unset (a completion that keeps the letter's status).
void CheckTransition(FieldViolations& v, const internal::v1::Transition& t, bool has_next_tasks,
                     bool keep_allowed) {
  const bool expected_ok = IsValidStatus(t.expected_status());
  if (!expected_ok) v.Add("transition.expected_status", "is not a letter status");
  if (keep_allowed && t.status() == v1::LETTER_STATUS_UNSPECIFIED) {
    // The letter keeps its status: nothing else of a status change may be said.
    if (t.reason() != v1::STATUS_REASON_UNSPECIFIED) {
      v.Add("transition.reason", "must be unset when transition.status is unset");
    }
    if (t.channel() != v1::CHANNEL_UNSPECIFIED) {
      v.Add("transition.channel", "must be unset when transition.status is unset");
    }
    if (!t.detail().empty()) {
      v.Add("transition.detail", "must be empty when transition.status is unset");
    }
    if (!t.provider_id().empty()) {
      v.Add("transition.provider_id", "must be empty when transition.status is unset");
    }
    return;
  }
  const bool status_ok = IsValidStatus(t.status());
  if (!status_ok) {
    v.Add("transition.status", "is not a letter status");
  } else if (t.status() == v1::LETTER_STATUS_CANCELLED) {
    v.Add("transition.status", "only the sender cancels a letter (LetterService.CancelLetter)");
  } else if (expected_ok && !IsAllowedTransition(t.expected_status(), t.status())) {
    v.Add("transition.status",
          absl::StrCat("a letter cannot go from ", v1::LetterStatus_Name(t.expected_status()),
                       " to ", v1::LetterStatus_Name(t.status())));
  } else if (IsTerminal(t.status()) && has_next_tasks) {
    v.Add("next_tasks", absl::StrCat("must be empty: ", v1::LetterStatus_Name(t.status()),
                                     " is final and a final letter has no tasks"));
  }
  if (t.reason() == v1::STATUS_REASON_UNSPECIFIED || !v1::StatusReason_IsValid(t.reason())) {
    v.Add("transition.reason", "is not a status reason");
  }
  if (!v1::Channel_IsValid(t.channel())) {
    v.Add("transition.channel", "is not a channel");
  } else if (t.status() == v1::LETTER_STATUS_ROUTED && t.channel() == v1::CHANNEL_UNSPECIFIED) {
    v.Add("transition.channel", "is required when the letter is routed");
  }
  CheckText(v, "transition.detail", t.detail(), 0, kMaxDetailChars);
  if (!t.provider_id().empty()) {
    if (!IsProviderId(t.provider_id())) {
      v.Add("transition.provider_id",
            absl::StrCat("must be 1 to ", kMaxProviderIdChars, " characters of [a-z0-9-]"));
    } else if (t.status() != v1::LETTER_STATUS_DELIVERED_DIGITALLY &&
               t.status() != v1::LETTER_STATUS_QUEUED_FOR_PRINT) {
      v.Add("transition.provider_id",
            "is only for a letter handed to a provider (DELIVERED_DIGITALLY, QUEUED_FOR_PRINT)");
    }
  }
}

}  // namespace

absl::Status ValidateLeaseTasks(const internal::v1::LeaseTasksRequest& request) {
  FieldViolations v;
  if (!IsKnownKind(request.kind())) {
    v.Add("kind", "is not a task kind");
  } else if (request.kind() == internal::v1::TASK_KIND_RETENTION) {
    v.Add("kind", "RETENTION tasks are the ledger's own");
  }
  if (request.max_tasks() < 1 || request.max_tasks() > kMaxLeaseTasks) {
    v.Add("max_tasks", absl::StrCat("must be between 1 and ", kMaxLeaseTasks));
  }
  const google::protobuf::Duration& d = request.lease_for();
  if (d.nanos() < 0 || d.nanos() > 999'999'999 || d.seconds() < 0 ||
      absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos()) < kMinLeaseFor ||
      absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos()) > kMaxLeaseFor) {
    v.Add("lease_for", "must be between 1 second and 1 hour");
  }
  if (request.worker().size() > static_cast<size_t>(kMaxWorkerChars)) {
    v.Add("worker", absl::StrCat("must be at most ", kMaxWorkerChars, " characters"));
  } else {
    for (char c : request.worker()) {
      if (c < 0x20 || c > 0x7e) {
        v.Add("worker", "must be printable ASCII");
        break;
      }
    }
  }
  return v.ToStatus();
}

absl::StatusOr<LeaseToken> ValidateCompleteTask(const internal::v1::CompleteTaskRequest& request,
                                                absl::Time now) {
  FieldViolations v;
  LeaseToken token;
  CheckToken(v, request.lease_token(), token);
  if (!request.has_transition()) {
    v.Add("transition", "is required");
  } else {
    CheckTransition(v, request.transition(), request.next_tasks_size() > 0,
                    /*keep_allowed=*/true);
  }
  if (request.next_tasks_size() > kMaxNextTasks) {
    v.Add("next_tasks", absl::StrCat("must have at most ", kMaxNextTasks, " tasks (has ",
                                     request.next_tasks_size(), ")"));
  } else {
    for (int i = 0; i < request.next_tasks_size(); ++i) {
      const internal::v1::NextTask& next = request.next_tasks(i);
      const std::string field = absl::StrCat("next_tasks[", i, "]");
      if (!IsKnownKind(next.kind())) {
        v.Add(field + ".kind", "is not a task kind");
      } else if (next.kind() == internal::v1::TASK_KIND_RETENTION) {
        v.Add(field + ".kind", "RETENTION tasks are the ledger's own");
      }
      if (!v1::StatusReason_IsValid(next.reason())) {
        v.Add(field + ".reason", "is not a status reason");
      } else if (next.kind() == internal::v1::TASK_KIND_PRINT) {
        if (next.reason() == v1::STATUS_REASON_UNSPECIFIED && request.has_transition() &&
            request.transition().status() == v1::LETTER_STATUS_UNSPECIFIED) {
          v.Add(field + ".reason",
                "is required for a PRINT task queued without a status change (why it goes to "
                "print)");
        }
      } else if (next.reason() != v1::STATUS_REASON_UNSPECIFIED) {
        v.Add(field + ".reason", "is only for a PRINT task");
      }
      CheckText(v, field + ".detail", next.detail(), 0, kMaxDetailChars);
      if (next.has_due_time()) {
        if (!IsValidTimestamp(next.due_time())) {
          v.Add(absl::StrCat("next_tasks[", i, "].due_time"), "is not a valid timestamp");
        } else if (FromProto(next.due_time()) > now + kMaxNextTaskAhead) {
          v.Add(absl::StrCat("next_tasks[", i, "].due_time"), "must be at most 366 days ahead");
        }
      }
    }
  }
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  return token;
}

absl::StatusOr<LeaseToken> ValidateFailTask(const internal::v1::FailTaskRequest& request,
                                            absl::Time now) {
  FieldViolations v;
  LeaseToken token;
  CheckToken(v, request.lease_token(), token);
  if (!IsValidTimestamp(request.retry_at())) {
    v.Add("retry_at", "is not a valid timestamp");
  } else if (FromProto(request.retry_at()) > now + kMaxRetryAhead) {
    v.Add("retry_at", "must be at most 7 days ahead");
  }
  CheckText(v, "reason", request.reason(), 0, kMaxFailureReasonChars);
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  return token;
}

absl::StatusOr<LeaseToken> ValidateReadDocuments(
    const internal::v1::ReadDocumentsRequest& request) {
  FieldViolations v;
  LeaseToken token;
  CheckToken(v, request.lease_token(), token);
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  return token;
}

absl::StatusOr<common::LetterIdBytes> ValidateRecordTransition(
    const internal::v1::RecordTransitionRequest& request) {
  FieldViolations v;
  absl::StatusOr<common::LetterIdBytes> id = common::DecodeLetterId(request.letter_id());
  if (!id.ok()) v.Add("letter_id", std::string(id.status().message()));
  if (!request.has_transition()) {
    v.Add("transition", "is required");
  } else {
    CheckTransition(v, request.transition(), /*has_next_tasks=*/false, /*keep_allowed=*/false);
    if (!request.transition().provider_id().empty()) {
      v.Add("transition.provider_id", "must be empty: the reporting provider is provider_id");
    }
  }
  if (!IsProviderId(request.provider_id())) {
    v.Add("provider_id",
          absl::StrCat("is required: 1 to ", kMaxProviderIdChars, " characters of [a-z0-9-]"));
  }
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  return *id;
}

}  // namespace utpost::ledger
