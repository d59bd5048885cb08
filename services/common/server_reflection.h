// grpc.reflection.v1.ServerReflection, which gRPC 1.51 does not ship (it serves only
// grpc.reflection.v1alpha): current grpcurl, Postman and gRPC UI ask for v1 first.
//
// Answers from the descriptors compiled into the process, and only about the services the
// server offers and the files they use (transitively): not every schema linked in, such as
// the storage records. Per request: at most kMaxRequestBytes (longer requests end the stream
// with INVALID_ARGUMENT) and at most kMaxFilesPerResponse files (more are answered with an
// ErrorResponse of RESOURCE_EXHAUSTED).
#pragma once

#include <grpcpp/server_builder.h>

namespace utpost::service {

inline constexpr size_t kMaxReflectionRequestBytes = 4096;
inline constexpr size_t kMaxReflectionFilesPerResponse = 64;

// Adds grpc.reflection.v1.ServerReflection to the server `builder` builds. The service lives
// as long as that server and lists the services the server has when it starts.
void AddServerReflectionV1(grpc::ServerBuilder& builder);

}  // namespace utpost::service
