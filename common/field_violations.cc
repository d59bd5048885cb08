#include "common/field_violations.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace utpost::common {

namespace {

constexpr absl::string_view kEllipsis = "\u2026";

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }

size_t WireSize(char c) {
  const auto b = static_cast<unsigned char>(c);
  return (b < 0x20 || b > 0x7e || b == '%') ? 3 : 1;
}

// How much a length-delimited field of `length` bytes adds to a message: tag, length, bytes.
size_t FieldSize(size_t length) {
  size_t varint = 1;
  for (size_t rest = length >> 7; rest != 0; rest >>= 7) ++varint;
  return 1 + varint + length;
}

}  // namespace

std::string TruncateUtf8(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t cut = max_bytes >= kEllipsis.size() ? max_bytes - kEllipsis.size() : 0;
  while (cut > 0 && IsContinuationByte(text[cut])) --cut;
  return absl::StrCat(text.substr(0, cut), kEllipsis);
}

size_t GrpcMessageWireSize(absl::string_view text) {
  size_t size = 0;
  for (char c : text) size += WireSize(c);
  return size;
}

std::string TruncateGrpcMessage(absl::string_view message, size_t max_wire_bytes) {
  if (GrpcMessageWireSize(message) <= max_wire_bytes) return std::string(message);
  const size_t budget = max_wire_bytes - std::min(max_wire_bytes, GrpcMessageWireSize(kEllipsis));
  size_t cut = 0;
  for (size_t used = 0; cut < message.size() && used + WireSize(message[cut]) <= budget; ++cut) {
    used += WireSize(message[cut]);
  }
  while (cut > 0 && cut < message.size() && IsContinuationByte(message[cut])) --cut;
  return absl::StrCat(message.substr(0, cut), kEllipsis);
}

void FieldViolations::Add(std::string field, std::string description) {
  ++total_;
  if (violations_.size() >= kMaxKept) return;
  if (field.size() > kMaxViolationFieldBytes) field = TruncateUtf8(field, kMaxViolationFieldBytes);
  if (description.size() > kMaxViolationDescriptionBytes) {
    description = TruncateUtf8(description, kMaxViolationDescriptionBytes);
  }
  violations_.emplace_back(std::move(field), std::move(description));
}

absl::Status FieldViolations::ToStatus(absl::StatusCode code) const {
  if (total_ == 0) return absl::OkStatus();

  // The message: as many violations as fit, leaving room for the count at the end.
  constexpr size_t kTailRoom = 96;
  std::string message;
  size_t in_message = 0;
  size_t message_wire = 0;
  for (const auto& [field, description] : violations_) {
    const std::string entry = absl::StrCat(message.empty() ? "" : "; ", field, ": ", description);
    const size_t wire = GrpcMessageWireSize(entry);
    const bool last = in_message + 1 == total_;
    if (message_wire + wire > kMaxStatusMessageBytes - (last ? 0 : kTailRoom)) break;
    message += entry;
    message_wire += wire;
    ++in_message;
  }

  // The details: a google.rpc.Status{code, message, details: [Any{type_url, BadRequest}]}.
  // Its size is computed as violations are added; the message gets its tail afterwards, so
  // room for the tail is kept here too.
  const size_t fixed = FieldSize(1) /* code */ + FieldSize(message.size() + kTailRoom) +
                       FieldSize(kBadRequestTypeUrl.size());
  google::rpc::BadRequest bad_request;
  size_t bad_request_size = 0;
  for (const auto& [field, description] : violations_) {
    const size_t violation_size =
        FieldSize(FieldSize(field.size()) + FieldSize(description.size()));
    // Any.value and Status.details are length-delimited around the BadRequest.
    if (fixed + FieldSize(FieldSize(kBadRequestTypeUrl.size()) +
                          FieldSize(bad_request_size + violation_size)) >
        kMaxStatusDetailsBytes) {
      break;
    }
    auto* v = bad_request.add_field_violations();
    v->set_field(field);
    v->set_description(description);
    bad_request_size += violation_size;
  }
  const size_t in_details = static_cast<size_t>(bad_request.field_violations_size());

  if (in_message < total_) {
    absl::StrAppend(&message, message.empty() ? "" : "; ", "and ", total_ - in_message, " more (",
                    total_, " in all; the details list ", in_details, ")");
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
