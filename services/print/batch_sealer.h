// Encrypts a closed spool batch for the print provider: CMS (RFC 5652) EnvelopedData in DER,
// AES-256 content encryption, the content key transported to the provider's certificate
// (provider.proto: `openssl cms -decrypt -inform DER -inkey key.pem` opens it).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace utpost::print {

class BatchSealer {
 public:
  virtual ~BatchSealer() = default;
  // The envelope of `plaintext`. Thread-safe.
  [[nodiscard]] virtual absl::StatusOr<std::string> Seal(std::string_view plaintext) const = 0;
};

// A sealer to the certificate in `certificate_pem`. INVALID_ARGUMENT if it is not a PEM
// certificate with an RSA or EC key.
[[nodiscard]] absl::StatusOr<std::unique_ptr<BatchSealer>> NewCmsBatchSealer(
    std::string_view certificate_pem);

}  // namespace utpost::print
