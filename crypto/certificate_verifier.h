// Checks that a certificate was issued under a given CA, apart from what the TLS stack
// trusts. The server's TLS layer accepts client certificates from every CA in tls.ca (the CAs
// that issue organisations' certificates, and the one that issues components'); a
// certificate that claims to be a utpost component must in addition chain to the component
// CA (tls.component_ca), so that no CA trusted for organisations can issue a component.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"

namespace utpost::crypto {

class CertificateVerifier {
 public:
  // `ca_pem`: one or more PEM certificates, the only trust anchors. INVALID_ARGUMENT if none
  // can be read.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<CertificateVerifier>> FromCaPem(
      std::string_view ca_pem);
  ~CertificateVerifier();

  // OK if `leaf_pem` chains to one of the anchors, with `chain_pem` (the certificates the peer
  // presented, PEM, may be empty) as untrusted intermediates; UNAUTHENTICATED otherwise.
  // Validity periods are checked; purposes are not (the TLS stack did).
  [[nodiscard]] absl::Status Verify(std::string_view leaf_pem, std::string_view chain_pem) const;

 private:
  struct Store;
  explicit CertificateVerifier(std::unique_ptr<Store> store);
  std::unique_ptr<Store> store_;
};

}  // namespace utpost::crypto
