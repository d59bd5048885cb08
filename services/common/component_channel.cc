#include "services/common/component_channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>

#include <utility>
#include <vector>

#include "common/call_headers.h"

namespace utpost::service {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Adds fixed metadata to every call of a channel.
class HeaderInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit HeaderInterceptor(const Headers& headers) : headers_(headers) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      std::multimap<std::string, std::string>* metadata = methods->GetSendInitialMetadata();
      for (const auto& header : headers_) metadata->emplace(header.first, header.second);
    }
    methods->Proceed();
  }

 private:
  const Headers& headers_;  // owned by the factory, which outlives the channel's calls
};

class HeaderInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit HeaderInterceptorFactory(Headers headers) : headers_(std::move(headers)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new HeaderInterceptor(headers_);
  }

 private:
  const Headers headers_;
};

std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> WithHeaders(
    Headers headers) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<HeaderInterceptorFactory>(std::move(headers)));
  return creators;
}

grpc::ChannelArguments ComponentChannelArguments() {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(kMaxComponentMessageBytes);
  args.SetMaxReceiveMessageSize(kMaxComponentMessageBytes);
  // Fail fast while the other side is away, and find it again quickly when it is back.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  return args;
}

}  // namespace

std::shared_ptr<grpc::Channel> InProcessComponentChannel(grpc::Server& server,
                                                         std::string component,
                                                         std::string in_process_token) {
  return server.experimental().InProcessChannelWithInterceptors(
      ComponentChannelArguments(),
      WithHeaders({{common::kComponentHeader, std::move(component)},
                   {common::kInProcessTokenHeader, std::move(in_process_token)}}));
}

std::shared_ptr<grpc::Channel> RemoteComponentChannel(const RemoteComponentOptions& options) {
  if (options.insecure) {
    return grpc::experimental::CreateCustomChannelWithInterceptors(
        options.address, grpc::InsecureChannelCredentials(), ComponentChannelArguments(),
        WithHeaders({{common::kComponentHeader, options.component}}));
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.ca_pem;
  ssl.pem_cert_chain = options.cert_pem;
  ssl.pem_private_key = options.key_pem;
  return grpc::CreateCustomChannel(options.address, grpc::SslCredentials(ssl),
                                   ComponentChannelArguments());
}

}  // namespace utpost::service
