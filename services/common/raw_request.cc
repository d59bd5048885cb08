#include "services/common/raw_request.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>
#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "google/protobuf/stubs/logging.h"
#include "services/common/log.h"

namespace utpost::service {

absl::Status ParseRequest(const grpc::ByteBuffer& raw, google::protobuf::Message& message,
                          const RequestLimits& limits) {
  const size_t size = raw.Length();
  if (size > limits.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("request of ", size,
                                                   " bytes is larger than the ", limits.max_bytes,
                                                   " bytes this method accepts"));
  }
  {
    grpc::ByteBuffer copy(raw);  // shares the slices; the reader consumes its own view
    grpc::ProtoBufferReader reader(&copy);
    if (!reader.status().ok()) return absl::InvalidArgumentError("request could not be read");
    absl::Status checked = common::CheckWire(reader, static_cast<int64_t>(size),
                                             *message.GetDescriptor(), limits.wire);
    if (!checked.ok()) return checked;
  }
  grpc::ByteBuffer copy(raw);
  grpc::ProtoBufferReader reader(&copy);
  if (!message.ParseFromZeroCopyStream(&reader)) {
    // CheckWire accepts only what parses; reaching this is a gap in it, not the caller's
    // fault alone, so it is logged.
    Log(spdlog::level::warn, "request passed the wire check but did not parse",
        {{"message", message.GetDescriptor()->full_name()}});
    return absl::InvalidArgumentError(
        absl::StrCat("request could not be parsed as ", message.GetDescriptor()->name()));
  }
  return absl::OkStatus();
}

absl::Status SerializeResponse(const google::protobuf::Message& message, grpc::ByteBuffer& raw) {
  bool own_buffer = false;
  grpc::Status s = grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::Message>(
      message, &raw, &own_buffer);
  if (!s.ok())
    return absl::InternalError(absl::StrCat("serializing the response: ", s.error_message()));
  return absl::OkStatus();
}

namespace {

std::string NewErrorId() {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return "unavailable";
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)));
}

}  // namespace

grpc::Status Reply(std::string_view method, std::string_view organisation,
                   const absl::Status& status) {
  const char* generic = nullptr;
  spdlog::level::level_enum level = spdlog::level::err;
  switch (status.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      generic = "internal error";
      break;
    case absl::StatusCode::kDataLoss:
      generic = "stored data could not be read";
      break;
    case absl::StatusCode::kUnavailable:
      generic = "temporarily unavailable; retry with backoff";
      level = spdlog::level::warn;
      break;
    default:
      return common::ToGrpcStatus(status);
  }
  const std::string error_id = NewErrorId();
  Log(level, level == spdlog::level::err ? "request failed" : "request failed, retryable",
      {{"method", method},
       {"organisation", organisation},
       {"error_id", error_id},
       {"error", status.ToString()}});
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      absl::StrCat(generic, " (error id ", error_id,
                                   "; the server's log has the detail under this id)"));
}

void RouteProtobufLogs() {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel level, const char* filename,
                                     int line, const std::string& message) {
    const spdlog::level::level_enum spd =
        level >= google::protobuf::LOGLEVEL_ERROR ? spdlog::level::warn : spdlog::level::debug;
    Log(spd, "protobuf", {{"detail", message}, {"source", absl::StrCat(filename, ":", line)}});
  });
}

}  // namespace utpost::service
