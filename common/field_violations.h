// Field-level errors. Validation collects every violation of a request, then turns them into
// one INVALID_ARGUMENT status that carries a google.rpc.BadRequest as its payload; the gRPC
// layer (common/grpc_status.h) sends that payload as the status details, so clients
// see each wrong field by path, e.g. "documents[1].media_type".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/rpc/error_details.pb.h"

namespace utpost::common {

// The payload type URL under which a google.rpc.BadRequest travels in an absl::Status.
inline constexpr absl::string_view kBadRequestTypeUrl = "type.googleapis.com/google.rpc.BadRequest";

// Size budgets of an error response. The details travel base64-encoded in the
// grpc-status-details-bin trailer and the message percent-encoded in grpc-message; gRPC
// clients refuse response metadata over 8 KiB by default. 4 KiB of details (5.4 KiB as
// base64) and 1 KiB of encoded message leave room for the other headers.
inline constexpr size_t kMaxStatusDetailsBytes = 4096;  // serialized google.rpc.Status
inline constexpr size_t kMaxStatusMessageBytes = 1024;  // grpc-message, percent-encoded
// Longer field paths and descriptions are cut (at a UTF-8 boundary, ending in "…"). Both
// together, percent-encoded, stay under kMaxStatusMessageBytes, so the message always names
// at least the first violation.
inline constexpr size_t kMaxViolationFieldBytes = 100;
inline constexpr size_t kMaxViolationDescriptionBytes = 200;

class FieldViolations {
 public:
  // Keeps the first kMaxKept violations (cut to the byte limits above) and counts the rest:
  // more could never be reported, so a request cannot make this grow without bound.
  static constexpr size_t kMaxKept = 1000;

  void Add(std::string field, std::string description);
  bool empty() const { return total_ == 0; }
  // Every violation added, kept or only counted.
  size_t size() const { return total_; }

  // OK if empty; otherwise a status of `code` whose payload is a serialized
  // google.rpc.BadRequest and whose message lists the violations
  // ("title: must not be empty; documents[0].filename: ...").
  //
  // All violations are reported while they fit, which they do for any ordinary request.
  // Otherwise the BadRequest holds the first ones that fit in kMaxStatusDetailsBytes
  // (counting the google.rpc.Status around it, which repeats the message), the message the
  // first ones that fit in kMaxStatusMessageBytes, and the message ends with
  // "; and <N> more (<total> in all; the details list <K>)", N being those it does not list.
  [[nodiscard]] absl::Status ToStatus(
      absl::StatusCode code = absl::StatusCode::kInvalidArgument) const;

 private:
  std::vector<std::pair<std::string, std::string>> violations_;
  size_t total_ = 0;
};

// `text` if it has at most `max_bytes` bytes; otherwise its longest prefix that ends at a
// UTF-8 character boundary and leaves room for "…", followed by "…". `max_bytes` >= 3.
std::string TruncateUtf8(absl::string_view text, size_t max_bytes);

// The length of `text` as gRPC sends it in grpc-message: bytes outside printable ASCII and
// '%' become %XX.
size_t GrpcMessageWireSize(absl::string_view text);

// `message` cut (as TruncateUtf8 does) so that it takes at most `max_wire_bytes` in
// grpc-message.
std::string TruncateGrpcMessage(absl::string_view message,
                                size_t max_wire_bytes = kMaxStatusMessageBytes);

// A status naming a single wrong field.
[[nodiscard]] absl::Status FieldError(absl::StatusCode code, std::string field,
                                      std::string description);

// The BadRequest carried by `status`, if any.
std::optional<google::rpc::BadRequest> GetBadRequest(const absl::Status& status);

}  // namespace utpost::common
