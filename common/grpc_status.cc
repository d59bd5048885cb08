#include "common/grpc_status.h"

#include "absl/strings/cord.h"
#include "common/field_violations.h"
#include "common/shards.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace utpost::common {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  // Whatever made the status, the response must stay within what clients accept
  // (kMaxStatusMessageBytes, kMaxStatusDetailsBytes).
  std::string message = TruncateGrpcMessage(status.message());
  // A google.rpc.ErrorInfo (a few short strings, e.g. the shard to call instead) travels on
  // its own.
  if (auto info = status.GetPayload(kErrorInfoTypeUrl)) {
    google::rpc::ErrorInfo error_info;
    if (error_info.ParseFromString(std::string(*info))) {
      google::rpc::Status details;
      details.set_code(static_cast<int>(status.code()));
      details.set_message(message);
      details.add_details()->PackFrom(error_info);
      if (details.ByteSizeLong() <= kMaxStatusDetailsBytes) {
        return grpc::Status(code, std::move(message), details.SerializeAsString());
      }
    }
  }
  std::optional<google::rpc::BadRequest> bad_request = GetBadRequest(status);
  if (!bad_request) return grpc::Status(code, std::move(message));
  google::rpc::Status details;
  details.set_code(static_cast<int>(status.code()));
  details.set_message(message);
  details.add_details()->PackFrom(*bad_request);
  // FieldViolations keeps within the budget; a BadRequest made elsewhere loses its last
  // violations until it fits.
  while (details.ByteSizeLong() > kMaxStatusDetailsBytes &&
         bad_request->field_violations_size() > 0) {
    bad_request->mutable_field_violations()->RemoveLast();
    details.mutable_details(0)->PackFrom(*bad_request);
  }
  return grpc::Status(code, std::move(message), details.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status result(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  google::rpc::Status details;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details())) {
    for (const auto& any : details.details()) {
      google::rpc::BadRequest bad_request;
      google::rpc::ErrorInfo error_info;
      if (any.Is<google::rpc::BadRequest>() && any.UnpackTo(&bad_request)) {
        result.SetPayload(kBadRequestTypeUrl, absl::Cord(bad_request.SerializeAsString()));
      } else if (any.Is<google::rpc::ErrorInfo>() && any.UnpackTo(&error_info)) {
        result.SetPayload(kErrorInfoTypeUrl, absl::Cord(error_info.SerializeAsString()));
      }
    }
  }
  return result;
}

}  // namespace utpost::common
