// A development PKI made on first start so that `make run` serves mutual TLS out of the box:
//   <dir>/ca.pem                         the dev CA's certificate: all that serving needs
//   <dir>/server.pem, server.key         server cert, SAN DNS:localhost, IP:127.0.0.1, IP:::1
//   <dir>/clients/<org key>/client.pem, client.key, ca.pem   one client cert per organisation,
//       subject O=<name>, organizationIdentifier=NTRNO-<orgnr> (or NTRDK-<cvr>), 2 years
//   <dir>/components/<name>/client.pem, client.key, ca.pem   one client cert per component
//       (ledger, registry, router, ...): subject CN=utpost <name>, no organisation, and the
//       subjectAltName URI urn:utpost:component:<name> (see IdentityFromCertificatePem)
//   <dir>-ca/ca.pem, ca.key              the dev CA (ECDSA P-256, 10 years), beside <dir>,
//       not in it: its key is read only here, and only when a certificate must be issued
// Private keys are written with mode 0600. Existing files are kept, so it is safe to call on
// every start; once every file exists, the CA key is not opened. A CA key left in <dir> by
// an earlier release is moved to DevCaDir(dir). Not for production: there, certificates
// come from the operator's CA.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace utpost::crypto {

struct DevOrganisation {
  std::string org_key;  // "NO958935420" or "DK12345678"
  std::string name;     // e.g. "Oslo kommune"
};

// `components` are component names (ValidComponentName).
[[nodiscard]] absl::Status EnsureDevPki(const std::filesystem::path& dir,
                                        const std::vector<DevOrganisation>& organisations,
                                        const std::vector<std::string>& components = {});

// Where EnsureDevPki keeps the dev CA for the PKI in `dir`: its sibling <dir>-ca, e.g.
// data/pki-ca for data/pki.
std::filesystem::path DevCaDir(const std::filesystem::path& dir);

// Where EnsureDevPki put the client files of `org_key`.
std::filesystem::path DevClientDir(const std::filesystem::path& dir, std::string_view org_key);

// Where EnsureDevPki put the client files of component `name`.
std::filesystem::path DevComponentDir(const std::filesystem::path& dir, std::string_view name);

// A component certificate names its component as a subjectAltName URI with this prefix.
inline constexpr char kComponentUriPrefix[] = "urn:utpost:component:";

// True if `name` may name a component: 1..32 characters of [a-z0-9-], starting with a letter.
bool ValidComponentName(std::string_view name);

// Who a verified client certificate speaks for: an organisation or a utpost component.
struct CertificateIdentity {
  enum class Kind { kOrganisation, kComponent };
  Kind kind = Kind::kOrganisation;
  // The org key ("NO958935420") or the component name ("router").
  std::string name;
};

// The identity of a certificate. A component certificate carries exactly one subjectAltName
// URI urn:utpost:component:<name> and names no organisation; an organisation's certificate
// names its organisation (OrgKeyFromCertificatePem) and carries no such URI. A certificate
// that names both, or several components, is UNAUTHENTICATED: it can never be taken for
// either. Only reads the certificate: it must already have been verified.
[[nodiscard]] absl::StatusOr<CertificateIdentity> IdentityFromCertificatePem(
    std::string_view pem, bool accept_serial_number_org = false);

// The organisation a certificate speaks for, as an org key ("NO958935420"), read from the
// subject's organizationIdentifier (OID 2.5.4.97, "NTRNO-<orgnr>" or "NTRDK-<cvr>").
// Only when `accept_serial_number_org` (config tls.accept_serial_number_org, off by default)
// and the subject has no organizationIdentifier: a 9-digit subject serialNumber (OID 2.5.4.5)
// with a valid check digit, as older Norwegian enterprise certificates carry it. Off by
// default because serialNumber means different things to different CAs (a person's or a
// device's number, a CA's own sequence): only a CA known to put the organisation number
// there should be trusted with it.
// UNAUTHENTICATED if the certificate cannot be parsed or names no valid organisation.
// Only reads the subject: the certificate must already have been verified (by the TLS stack,
// against the trusted CA) before its organisation is believed.
[[nodiscard]] absl::StatusOr<std::string> OrgKeyFromCertificatePem(
    std::string_view pem, bool accept_serial_number_org = false);

}  // namespace utpost::crypto
