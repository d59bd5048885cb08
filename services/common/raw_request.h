// Requests as the handlers receive them: raw bytes (grpc::ByteBuffer), parsed by the server
// itself. gRPC's own parsing answers every undecodable request UNIMPLEMENTED with an empty
// message, which tells a client the method does not exist; parsing here answers
// INVALID_ARGUMENT naming the field (common/wire_check.h), refuses requests that would
// amplify before any object is built, and keeps protobuf's complaints out of stderr.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "common/wire_check.h"
#include "google/protobuf/message.h"

namespace utpost::service {

struct RequestLimits {
  // The largest request, in bytes on the wire (after gRPC's framing).
  uint64_t max_bytes = 64 << 10;
  common::WireLimits wire;
};

// Parses `raw` into `message`. INVALID_ARGUMENT if it is larger than limits.max_bytes, or does
// not parse, or exceeds the wire limits; the field is named where it can be.
[[nodiscard]] absl::Status ParseRequest(const grpc::ByteBuffer& raw,
                                        google::protobuf::Message& message,
                                        const RequestLimits& limits);

// Serializes `message` into `raw`. INTERNAL if protobuf refuses (a message over 2 GiB).
[[nodiscard]] absl::Status SerializeResponse(const google::protobuf::Message& message,
                                             grpc::ByteBuffer& raw);

// The status a caller sees for `status`, the outcome of `method` for `organisation`.
// Errors that are the server's own (INTERNAL, DATA_LOSS, UNKNOWN, UNAVAILABLE from the
// logic) are logged here, once, with their detail and a fresh error id, and answered with a
// generic message carrying that id: file paths and library messages stay in the log. The
// caller's own mistakes are answered as they are, and not logged.
grpc::Status Reply(std::string_view method, std::string_view organisation,
                   const absl::Status& status);

// Sends protobuf's own log lines (for example about invalid UTF-8 when a client parses)
// through the structured log instead of stderr. Call once at start-up.
void RouteProtobufLogs();

}  // namespace utpost::service
