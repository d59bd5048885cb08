#include "services/common/grpc_metrics.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/support/interceptor.h>

#include <chrono>
#include <string>
#include <utility>

#include "common/metrics.h"

namespace utpost::service {
namespace {

const char* const kCodeNames[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

const char* CodeName(grpc::StatusCode code) {
  const int index = static_cast<int>(code);
  if (index < 0 || index >= static_cast<int>(std::size(kCodeNames))) return "UNKNOWN";
  return kCodeNames[index];
}

// "/utpost.v1.LetterService/SendLetter" -> {"utpost.v1.LetterService", "SendLetter"} if the
// method is compiled in, else {"unknown", "unknown"}.
std::pair<std::string, std::string> MethodLabels(const char* path) {
  const std::string_view full = path == nullptr ? std::string_view() : std::string_view(path);
  const size_t slash = full.rfind('/');
  if (full.size() < 3 || full[0] != '/' || slash == 0 || slash == std::string_view::npos) {
    return {"unknown", "unknown"};
  }
  std::string service(full.substr(1, slash - 1));
  std::string method(full.substr(slash + 1));
  const google::protobuf::ServiceDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  if (descriptor == nullptr || descriptor->FindMethodByName(method) == nullptr) {
    return {"unknown", "unknown"};
  }
  return {std::move(service), std::move(method)};
}

struct GrpcMetrics {
  explicit GrpcMetrics(prometheus::Registry& registry)
      : handled(registry, "utpost_grpc_server_handled_total",
                "gRPC calls completed by the server, by service, method and status code",
                {"service", "method", "code"}),
        seconds(registry, "utpost_grpc_server_handling_seconds",
                "Time from the start of a gRPC call to its status, by service and method",
                {"service", "method"}) {}
  common::CounterVec handled;
  common::HistogramVec seconds;
};

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcMetrics& metrics, const char* method)
      : metrics_(metrics), method_(method), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      const auto [service, method] = MethodLabels(method_);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_.handled.Inc({service, method, CodeName(status.error_code())});
      metrics_.seconds.Observe({service, method}, seconds);
    }
    methods->Proceed();
  }

 private:
  GrpcMetrics& metrics_;
  const char* method_;
  const std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(prometheus::Registry& registry) : metrics_(registry) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info->method());
  }

 private:
  GrpcMetrics metrics_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewGrpcMetricsInterceptor(
    prometheus::Registry& registry) {
  return std::make_unique<MetricsInterceptorFactory>(registry);
}

}  // namespace utpost::service
