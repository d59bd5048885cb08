// Channels from the courier to mailbox providers, one per registry endpoint, made on first
// use and kept.
//   - An endpoint that is a utpost component's name (lower-case letters, digits and '-',
//     e.g. "mailbox-sim") is reached as that component: in-process when it runs in this
//     process, else mutual TLS to components.addresses (ModuleContext::ChannelTo).
//   - Anything else, "host:port" or "https://host:port[/]", is a provider outside utpost:
//     TLS with the courier's component certificate as client certificate and the
//     configured roots (courier.provider_ca; the system's when empty).
// Thread-safe.
#pragma once

#include <grpcpp/channel.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace utpost::courier {

// The courier's credentials for providers outside utpost. Empty root_ca_pem: the system's
// roots.
struct ProviderTls {
  std::string root_ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

// How an endpoint is reached.
struct ParsedEndpoint {
  bool component = false;  // a utpost component's name
  std::string target;      // the component's name, or host:port
};

// INVALID_ARGUMENT for an endpoint that is neither (e.g. "http://...", an empty port).
[[nodiscard]] absl::StatusOr<ParsedEndpoint> ParseProviderEndpoint(std::string_view endpoint);

class ProviderChannels {
 public:
  using ComponentChannel =
      std::function<absl::StatusOr<std::shared_ptr<grpc::Channel>>(std::string_view component)>;

  ProviderChannels(ComponentChannel component_channel, ProviderTls tls);

  // The channel for `endpoint`. INVALID_ARGUMENT (ParseProviderEndpoint), or the component
  // channel's error (FAILED_PRECONDITION: no address configured). Errors are not cached.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::Channel>> Get(std::string_view endpoint);

 private:
  const ComponentChannel component_channel_;
  const ProviderTls tls_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>, std::less<>> channels_;
};

}  // namespace utpost::courier
