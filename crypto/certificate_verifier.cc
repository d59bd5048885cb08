#include "crypto/certificate_verifier.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "absl/strings/str_cat.h"
#include "crypto/internal.h"

namespace utpost::crypto {
namespace {

template <auto kFree>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
void FreeCertificates(STACK_OF(X509) * certs) { sk_X509_pop_free(certs, X509_free); }
using StackPtr = std::unique_ptr<STACK_OF(X509), Deleter<FreeCertificates>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;

// Every certificate in `pem`, in order.
StackPtr ReadAll(std::string_view pem) {
  StackPtr certs(sk_X509_new_null());
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (certs == nullptr || bio == nullptr) return certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(certs.get(), cert);
  }
  ERR_clear_error();  // the end of the input reads as an error
  return certs;
}

}  // namespace

struct CertificateVerifier::Store {
  std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>> store{X509_STORE_new()};
};

CertificateVerifier::CertificateVerifier(std::unique_ptr<Store> store) : store_(std::move(store)) {}
CertificateVerifier::~CertificateVerifier() = default;

absl::StatusOr<std::unique_ptr<CertificateVerifier>> CertificateVerifier::FromCaPem(
    std::string_view ca_pem) {
  auto store = std::make_unique<Store>();
  StackPtr anchors = ReadAll(ca_pem);
  if (store->store == nullptr || anchors == nullptr || sk_X509_num(anchors.get()) == 0) {
    return absl::InvalidArgumentError("no CA certificate could be read");
  }
  for (int i = 0; i < sk_X509_num(anchors.get()); ++i) {
    if (X509_STORE_add_cert(store->store.get(), sk_X509_value(anchors.get(), i)) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("CA certificate not usable: ", internal::DrainOpenSslErrors()));
    }
  }
  return std::unique_ptr<CertificateVerifier>(new CertificateVerifier(std::move(store)));
}

absl::Status CertificateVerifier::Verify(std::string_view leaf_pem,
                                         std::string_view chain_pem) const {
  StackPtr leaf = ReadAll(leaf_pem);
  if (leaf == nullptr || sk_X509_num(leaf.get()) == 0) {
    return absl::UnauthenticatedError("client certificate cannot be read");
  }
  StackPtr chain = ReadAll(chain_pem);
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store_->store.get(),
                                            sk_X509_value(leaf.get(), 0), chain.get()) != 1) {
    return absl::InternalError(absl::StrCat("certificate check: ", internal::DrainOpenSslErrors()));
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::UnauthenticatedError(
        absl::StrCat("certificate is not issued under the component CA (",
                     X509_verify_cert_error_string(error), ")"));
  }
  return absl::OkStatus();
}

}  // namespace utpost::crypto
