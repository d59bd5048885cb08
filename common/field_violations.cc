#include "common/field_violations.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace utpost::common {

void FieldViolations::Add(std::string field, std::string description) {
  violations_.emplace_back(std::move(field), std::move(description));
}

absl::Status FieldViolations::ToStatus(absl::StatusCode code) const {
  if (violations_.empty()) return absl::OkStatus();
  google::rpc::BadRequest bad_request;
  std::string message;
  // The details travel in a trailer, and gRPC clients refuse trailers over 8 KiB by default:
  // report the first violations and say how many more there are.
  constexpr size_t kMaxReported = 20;
  size_t reported = 0;
  for (const auto& [field, description] : violations_) {
    if (++reported > kMaxReported) {
      absl::StrAppend(&message, "; and ", violations_.size() - kMaxReported, " more");
      break;
    }
    auto* v = bad_request.add_field_violations();
    v->set_field(field);
    v->set_description(description);
    absl::StrAppend(&message, message.empty() ? "" : "; ", field, ": ", description);
  }
  absl::Status status(code, message);
  status.SetPayload(kBadRequestTypeUrl, absl::Cord(bad_request.SerializeAsString()));
  return status;
}

absl::Status FieldError(absl::StatusCode code, std::string field, std::string description) {
  FieldViolations v;
  v.Add(std::move(field), std::move(description));
  return v.ToStatus(code);
}

std::optional<google::rpc::BadRequest> GetBadRequest(const absl::Status& status) {
  auto payload = status.GetPayload(kBadRequestTypeUrl);
  if (!payload) return std::nullopt;
  google::rpc::BadRequest bad_request;
  if (!bad_request.ParseFromString(std::string(*payload))) return std::nullopt;
  return bad_request;
}

}  // namespace utpost::common
