// Validation of TaskService requests, in one place. Every violation is reported at once, each
// with its field path, as INVALID_ARGUMENT carrying a google.rpc.BadRequest. Pure: no I/O,
// thread-safe; `now` is the ledger's clock.
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/ledger/lease_token.h"
#include "utpost/internal/v1/tasks.pb.h"

namespace utpost::ledger {

inline constexpr uint32_t kMaxLeaseTasks = 1000;
inline constexpr absl::Duration kMinLeaseFor = absl::Seconds(1);
inline constexpr absl::Duration kMaxLeaseFor = absl::Hours(1);
inline constexpr int kMaxNextTasks = 4;
// How far ahead a retry or a next task may be scheduled.
inline constexpr absl::Duration kMaxRetryAhead = absl::Hours(7 * 24);
inline constexpr absl::Duration kMaxNextTaskAhead = absl::Hours(366 * 24);
inline constexpr int kMaxDetailChars = 1000;
inline constexpr int kMaxFailureReasonChars = 1000;
inline constexpr int kMaxWorkerChars = 128;
inline constexpr size_t kMaxProviderIdChars = 64;

// Fields: kind, max_tasks, lease_for, worker.
[[nodiscard]] absl::Status ValidateLeaseTasks(const internal::v1::LeaseTasksRequest& request);

// The request's lease token, or INVALID_ARGUMENT. Fields: lease_token, transition,
// transition.expected_status, transition.status, transition.reason, transition.channel,
// transition.detail, transition.provider_id, next_tasks, next_tasks[i].kind,
// next_tasks[i].due_time, next_tasks[i].reason, next_tasks[i].detail.
// A transition must be allowed by the status table, must not be a cancellation (only the
// sender cancels), must name a channel when it routes, and one into a terminal status takes
// no next tasks; provider_id only with DELIVERED_DIGITALLY or QUEUED_FOR_PRINT. With status
// unset (the letter keeps its status) reason, channel, detail and provider_id must be unset.
// A next task's reason is only for PRINT, and required there when the status is kept.
[[nodiscard]] absl::StatusOr<LeaseToken> ValidateCompleteTask(
    const internal::v1::CompleteTaskRequest& request, absl::Time now);

// The request's lease token, or INVALID_ARGUMENT. Fields: lease_token, retry_at, reason.
[[nodiscard]] absl::StatusOr<LeaseToken> ValidateFailTask(
    const internal::v1::FailTaskRequest& request, absl::Time now);

// The letter id, or INVALID_ARGUMENT. Fields: letter_id, transition (and its fields as
// above; status required, provider_id must be empty), provider_id.
[[nodiscard]] absl::StatusOr<common::LetterIdBytes> ValidateRecordTransition(
    const internal::v1::RecordTransitionRequest& request);

// The request's lease token, or INVALID_ARGUMENT. Field: lease_token.
[[nodiscard]] absl::StatusOr<LeaseToken> ValidateReadDocuments(
    const internal::v1::ReadDocumentsRequest& request);

}  // namespace utpost::ledger
