// Who is calling: an organisation (a municipality's case system, through the public
// services) or a utpost component (router, courier, ..., through the internal services).
//
// With mutual TLS (the default) the identity comes from the client certificate gRPC verified
// against the configured CA (crypto::IdentityFromCertificatePem): an organisation's
// certificate names its organisation number; a component's certificate carries the URI
// urn:utpost:component:<name> and no organisation, so neither can be taken for the other.
// Within one process, components call each other over the server's in-process channel; such
// a call carries the component's name and a token that exists only in this process's memory
// (InProcessToken), so no network peer can make a call look like one.
// With --insecure (loopback only, for local experiments) the caller names itself in the
// "utpost-organisation" or "utpost-component" metadata header, trusted only because nothing
// but the local machine can connect.
#pragma once

#include <grpcpp/server_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/call_headers.h"

namespace utpost::service {

using common::kComponentHeader;
using common::kInProcessTokenHeader;
using common::kInsecureOrganisationHeader;

struct Caller {
  enum class Kind { kOrganisation, kComponent };
  Kind kind = Kind::kOrganisation;
  // The org key ("NO958935420") or the component name ("router").
  std::string name;
};

// Which callers a service admits. Public services (LetterService, RegistryService, ...) admit
// organisations only; internal services (TaskService, RegistryLookupService) admit components
// only. Health checking and reflection are not authorised (they reveal nothing).
enum class Audience { kOrganisations, kComponents };

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Who is calling. UNAUTHENTICATED if it cannot be established.
  [[nodiscard]] virtual absl::StatusOr<Caller> Identify(
      const grpc::ServerContextBase& context) const = 0;

  // The caller's name (org key or component name) if `audience` admits it; PERMISSION_DENIED
  // if the caller is of the other kind, UNAUTHENTICATED if it is unknown.
  [[nodiscard]] absl::StatusOr<std::string> Authorize(const grpc::ServerContextBase& context,
                                                      Audience audience) const;
  // Authorize(context, Audience::kOrganisations).
  [[nodiscard]] absl::StatusOr<std::string> CallerOrg(
      const grpc::ServerContextBase& context) const {
    return Authorize(context, Audience::kOrganisations);
  }
};

// A fresh random token (64 hex digits) for the in-process calls of one process.
std::string NewInProcessToken();

// Reads the verified peer certificate (crypto::IdentityFromCertificatePem); a 9-digit
// subject serialNumber names an organisation only when `accept_serial_number_org`. A
// certificate that names a component is believed only if it also chains to
// `component_ca_pem` (tls.component_ca), so that a CA trusted for organisations' certificates
// cannot make a component. Calls bearing `in_process_token` are in-process calls of the
// component they name. INVALID_ARGUMENT if `component_ca_pem` holds no certificate.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Authenticator>> NewCertificateAuthenticator(
    std::string in_process_token, std::string_view component_ca_pem,
    bool accept_serial_number_org = false);
// Reads the "utpost-organisation" or "utpost-component" header. Only for insecure loopback
// servers. In-process calls are recognised by their token as above.
std::unique_ptr<Authenticator> NewInsecureHeaderAuthenticator(std::string in_process_token);

}  // namespace utpost::service
