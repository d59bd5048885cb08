#include "services/courier/provider_channels.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace utpost::courier {
namespace {

// Envelopes arrive in chunks of 256 KiB; replies are small.
constexpr int kMaxProviderMessageBytes = 4 << 20;

bool IsComponentName(std::string_view s) {
  return !s.empty() && s.size() <= 64 && s[0] >= 'a' && s[0] <= 'z' &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
         });
}

}  // namespace

absl::StatusOr<ParsedEndpoint> ParseProviderEndpoint(std::string_view endpoint) {
  if (IsComponentName(endpoint)) return ParsedEndpoint{true, std::string(endpoint)};
  std::string_view rest = endpoint;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
    if (rest.ends_with("/")) rest.remove_suffix(1);
  }
  const size_t colon = rest.rfind(':');
  const bool bad_chars = std::any_of(rest.begin(), rest.end(), [](char c) {
    return c <= 0x20 || c > 0x7e || c == '/' || c == '@' || c == '?' || c == '#';
  });
  if (rest.empty() || bad_chars || colon == std::string_view::npos || colon == 0 ||
      colon + 1 == rest.size()) {
    return absl::InvalidArgumentError(
        "provider endpoint must be a utpost component name, host:port or https://host:port");
  }
  return ParsedEndpoint{false, std::string(rest)};
}

ProviderChannels::ProviderChannels(ComponentChannel component_channel, ProviderTls tls)
    : component_channel_(std::move(component_channel)), tls_(std::move(tls)) {}

absl::StatusOr<std::shared_ptr<grpc::Channel>> ProviderChannels::Get(std::string_view endpoint) {
  {
    std::lock_guard lock(mu_);
    auto it = channels_.find(endpoint);
    if (it != channels_.end()) return it->second;
  }
  absl::StatusOr<ParsedEndpoint> parsed = ParseProviderEndpoint(endpoint);
  if (!parsed.ok()) return parsed.status();
  std::shared_ptr<grpc::Channel> channel;
  if (parsed->component) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> c = component_channel_(parsed->target);
    if (!c.ok()) return c.status();
    channel = *std::move(c);
  } else {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = tls_.root_ca_pem;
    ssl.pem_cert_chain = tls_.cert_pem;
    ssl.pem_private_key = tls_.key_pem;
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(kMaxProviderMessageBytes);
    args.SetMaxReceiveMessageSize(kMaxProviderMessageBytes);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 10'000);
    channel = grpc::CreateCustomChannel(parsed->target, grpc::SslCredentials(ssl), args);
  }
  std::lock_guard lock(mu_);
  auto [it, inserted] = channels_.try_emplace(std::string(endpoint), std::move(channel));
  return it->second;
}

}  // namespace utpost::courier
