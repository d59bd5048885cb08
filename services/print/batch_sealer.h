// Encrypts a closed spool batch for the print provider: one CMS envelope (crypto/cms.h:
// AuthEnvelopedData, AES-256-GCM, to the provider's certificate), which
// `openssl cms -decrypt -inform DER -inkey key.pem` opens (provider.proto).
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

// A sealer to the certificate in `certificate_pem`. INVALID_ARGUMENT if it cannot receive a
// CMS envelope (crypto::CheckEncryptionCertificatePem).
[[nodiscard]] absl::StatusOr<std::unique_ptr<BatchSealer>> NewCmsBatchSealer(
    std::string_view certificate_pem);

}  // namespace utpost::print
