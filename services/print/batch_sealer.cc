#include "services/print/batch_sealer.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <climits>

namespace utpost::print {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct CmsFree {
  void operator()(CMS_ContentInfo* c) const { CMS_ContentInfo_free(c); }
};
struct StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
};

class CmsBatchSealer final : public BatchSealer {
 public:
  explicit CmsBatchSealer(std::unique_ptr<X509, X509Free> cert) : cert_(std::move(cert)) {}

  absl::StatusOr<std::string> Seal(std::string_view plaintext) const override {
    if (plaintext.size() > static_cast<size_t>(INT_MAX)) {
      return absl::InvalidArgumentError("print batch too large to encrypt");
    }
    std::unique_ptr<BIO, BioFree> in(
        BIO_new_mem_buf(plaintext.data(), static_cast<int>(plaintext.size())));
    std::unique_ptr<STACK_OF(X509), StackFree> recipients(sk_X509_new_null());
    if (in == nullptr || recipients == nullptr ||
        sk_X509_push(recipients.get(), cert_.get()) <= 0) {
      return absl::InternalError("print batch: out of memory");
    }
    std::unique_ptr<CMS_ContentInfo, CmsFree> cms(
        CMS_encrypt(recipients.get(), in.get(), EVP_aes_256_cbc(), CMS_BINARY));
    if (cms == nullptr) {
      ERR_clear_error();
      return absl::InternalError("print batch: CMS encryption failed");
    }
    std::unique_ptr<BIO, BioFree> out(BIO_new(BIO_s_mem()));
    if (out == nullptr || i2d_CMS_bio(out.get(), cms.get()) != 1) {
      ERR_clear_error();
      return absl::InternalError("print batch: cannot write the CMS envelope");
    }
    char* data = nullptr;
    const long size = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<size_t>(size));
  }

 private:
  std::unique_ptr<X509, X509Free> cert_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BatchSealer>> NewCmsBatchSealer(std::string_view certificate_pem) {
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(certificate_pem.data(), static_cast<int>(certificate_pem.size())));
  if (bio == nullptr) return absl::InternalError("out of memory");
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("print provider certificate is not a PEM certificate");
  }
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  if (key == nullptr || !(EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "EC"))) {
    return absl::InvalidArgumentError("print provider certificate needs an RSA or EC key");
  }
  return std::unique_ptr<BatchSealer>(new CmsBatchSealer(std::move(cert)));
}

}  // namespace utpost::print
