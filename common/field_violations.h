// Field-level errors. Validation collects every violation of a request, then turns them into
// one INVALID_ARGUMENT status that carries a google.rpc.BadRequest as its payload; the gRPC
// layer (services/common/grpc_status.h) sends that payload as the status details, so clients
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

class FieldViolations {
 public:
  void Add(std::string field, std::string description);
  bool empty() const { return violations_.empty(); }
  size_t size() const { return violations_.size(); }

  // OK if empty; otherwise a status of `code` whose message lists every violation
  // ("title: must not be empty; documents[0].filename: ...") and whose payload is the
  // serialized google.rpc.BadRequest. At most the first 20 violations are reported (the
  // message says how many more there were), so the details fit gRPC's default trailer limit.
  [[nodiscard]] absl::Status ToStatus(
      absl::StatusCode code = absl::StatusCode::kInvalidArgument) const;

 private:
  std::vector<std::pair<std::string, std::string>> violations_;
};

// A status naming a single wrong field.
[[nodiscard]] absl::Status FieldError(absl::StatusCode code, std::string field,
                                      std::string description);

// The BadRequest carried by `status`, if any.
std::optional<google::rpc::BadRequest> GetBadRequest(const absl::Status& status);

}  // namespace utpost::common
