// Channels from one utpost component to another. A component never holds a C++ pointer to
// another component's objects: it calls the other's gRPC services through one of these, and
// the same code runs whether the two share a process or not.
//   - In one process: the server's in-process channel. Each call carries the calling
//     component's name and the process's in-process token (identity.h), which the server's
//     authenticator checks.
//   - Across processes: mutual TLS with the calling component's own certificate (or, on an
//     insecure loopback deployment, plaintext with the component named in a header).
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace utpost::service {

// The largest message a component sends or receives over these channels.
inline constexpr int kMaxComponentMessageBytes = 64 << 20;

// An in-process channel to `server` whose calls are authenticated as `component`.
std::shared_ptr<grpc::Channel> InProcessComponentChannel(grpc::Server& server,
                                                         std::string component,
                                                         std::string in_process_token);

struct RemoteComponentOptions {
  // host:port of the other component's server.
  std::string address;
  // This component's name.
  std::string component;
  // Plaintext with the component named in a header (loopback deployments with --insecure).
  bool insecure = false;
  // PEM: the CA that the other server's certificate chains to, and this component's
  // certificate chain and private key.
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

// A channel to another process's server. Connects lazily; calls fail UNAVAILABLE while the
// other side is down, and the channel reconnects by itself.
std::shared_ptr<grpc::Channel> RemoteComponentChannel(const RemoteComponentOptions& options);

}  // namespace utpost::service
