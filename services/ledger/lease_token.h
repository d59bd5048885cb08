// Lease tokens: what a worker gives back to prove it holds a task's lease. Opaque to workers:
// web-safe base64 (unpadded) of a fixed byte layout, all integers big-endian:
//   version (1, = 1) || task id (16) || letter id (16) || attempt (4)
// `attempt` is the lease's generation (TaskRecord.attempt when it was granted): only the
// newest lease of a task is current. The letter id lets a completion retried after its task
// is gone find the letter, and with it whether the completion already happened.
// Not a secret: only components may call TaskService, and a component may lease any task.
// Pure: no I/O, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/letter_id.h"

namespace utpost::ledger {

struct LeaseToken {
  common::LetterIdBytes task_id{};
  common::LetterIdBytes letter_id{};
  uint32_t attempt = 0;
};

std::string EncodeLeaseToken(const LeaseToken& token);

// INVALID_ARGUMENT (field "lease_token") unless `text` is a token EncodeLeaseToken wrote,
// spelt exactly as written.
[[nodiscard]] absl::StatusOr<LeaseToken> DecodeLeaseToken(std::string_view text);

}  // namespace utpost::ledger
