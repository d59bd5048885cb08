// What utpostctl prints for every command: errors (with their field violations) and JSON.
#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "absl/status/status.h"

namespace utpost::cli {

// Prints `status` on stderr, each field violation on its own line. Exit codes: 1 for errors
// of the server or the connection, 3 for a request that names a wrong field (fix the
// request, do not retry).
int Report(const absl::Status& status);

// A fresh idempotency key ("utpostctl-" and 128 random bits in hex), reused by a command's
// own retries.
std::string NewIdempotencyKey();

// Prints `message` as indented JSON with the proto field names.
void PrintJson(const google::protobuf::Message& message);

}  // namespace utpost::cli
