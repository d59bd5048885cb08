#include "services/print/batch_sealer.h"

#include <utility>

#include "common/status_macros.h"
#include "crypto/cms.h"
#include "crypto/dev_provider_cert.h"

namespace utpost::print {
namespace {

class CmsBatchSealer final : public BatchSealer {
 public:
  explicit CmsBatchSealer(std::string certificate_pem)
      : certificate_pem_(std::move(certificate_pem)) {}

  absl::StatusOr<std::string> Seal(std::string_view plaintext) const override {
    return crypto::CmsEncrypt(certificate_pem_, plaintext);
  }

 private:
  const std::string certificate_pem_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BatchSealer>> NewCmsBatchSealer(std::string_view certificate_pem) {
  UTPOST_RETURN_IF_ERROR(crypto::CheckEncryptionCertificatePem(certificate_pem));
  return std::unique_ptr<BatchSealer>(new CmsBatchSealer(std::string(certificate_pem)));
}

}  // namespace utpost::print
