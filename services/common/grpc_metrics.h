// gRPC server metrics, taken in one place for every service of the process: a server
// interceptor (gRPC's experimental interceptor API) sees each call start and its status
// leave, whatever the handler (unary through unary_call.h, streaming, health, reflection).
//
//   utpost_grpc_server_handled_total{service, method, code}
//   utpost_grpc_server_handling_seconds{service, method}   from the call's start to its status
//
// Labels are bounded: a method counts under its own name only if the process's generated
// descriptor pool knows it (a fixed set compiled in); any other path counts as
// service="unknown", method="unknown". code is the gRPC status code's name (OK, NOT_FOUND...).
#pragma once

#include <grpcpp/support/server_interceptor.h>
#include <prometheus/registry.h>

#include <memory>

namespace utpost::service {

// An interceptor factory for ServerBuilder::experimental().SetInterceptorCreators. The
// registry must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewGrpcMetricsInterceptor(
    prometheus::Registry& registry);

}  // namespace utpost::service
