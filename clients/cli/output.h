// What utpostctl prints for every command: errors (with their field violations) and JSON.
#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "absl/status/status.h"
#include "utpost/v1/letters.pb.h"
#include "utpost/v1/money.pb.h"

namespace utpost::cli {

// Prints `status` on stderr, each field violation on its own line. Exit codes: 1 for errors
// of the server or the connection, 3 for a request that names a wrong field (fix the
// request, do not retry).
int Report(const absl::Status& status);

// A fresh idempotency key ("utpostctl-" and 128 random bits in hex), reused by a command's
// own retries.
std::string NewIdempotencyKey();

// A status reason as the tables print it: "recipient_reserved" for
// STATUS_REASON_RECIPIENT_RESERVED.
std::string ReasonName(v1::StatusReason reason);

// An amount with two decimals and no currency: 4010 minor units -> "40.10".
std::string Amount(const v1::Money& money);

// Prints `message` as indented JSON with the proto field names.
void PrintJson(const google::protobuf::Message& message);

}  // namespace utpost::cli
