// absl::Status -> grpc::Status, in one place. The code and message carry over; a
// google.rpc.BadRequest payload (common/field_violations.h) travels as the status details
// (a serialized google.rpc.Status in the "grpc-status-details-bin" trailer), which every
// gRPC client library can decode. Messages and details are cut to the budgets of
// common/field_violations.h, so that every client can read the response.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace utpost::common {

grpc::Status ToGrpcStatus(const absl::Status& status);

// The inverse, for clients: keeps code, message and a BadRequest detail as payload.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace utpost::common
