// Who is calling. With mutual TLS (the default) the organisation comes from the client
// certificate gRPC verified against the configured CA. With --insecure (loopback only, for
// local experiments) the caller names its organisation in the "utpost-organisation" metadata
// header, which is trusted only because nothing but the local machine can connect.
#pragma once

#include <grpcpp/server_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace utpost::service {

inline constexpr char kInsecureOrganisationHeader[] = "utpost-organisation";

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The caller's org key ("NO958935420"). UNAUTHENTICATED if it cannot be established.
  [[nodiscard]] virtual absl::StatusOr<std::string> CallerOrg(
      const grpc::ServerContextBase& context) const = 0;
};

// Reads the verified peer certificate (crypto::OrgKeyFromCertificatePem); a 9-digit subject
// serialNumber names the organisation only when `accept_serial_number_org`.
std::unique_ptr<Authenticator> NewCertificateAuthenticator(bool accept_serial_number_org = false);
// Reads the "utpost-organisation" header. Only for insecure loopback servers.
std::unique_ptr<Authenticator> NewInsecureHeaderAuthenticator();

}  // namespace utpost::service
