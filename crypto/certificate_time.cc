#include "crypto/certificate_time.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace utpost::crypto {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

int NoPassphrase(char*, int, int, void*) { return 0; }

}  // namespace

absl::StatusOr<absl::Time> CertificateNotAfter(std::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory reading a certificate");
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  if (cert == nullptr) return absl::InvalidArgumentError("not a PEM certificate");
  // Seconds from the Unix epoch to notAfter, as OpenSSL's calendar arithmetic has it.
  std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> epoch(ASN1_TIME_set(nullptr, 0),
                                                              &ASN1_TIME_free);
  int days = 0, seconds = 0;
  if (epoch == nullptr ||
      ASN1_TIME_diff(&days, &seconds, epoch.get(), X509_get0_notAfter(cert.get())) != 1) {
    return absl::InvalidArgumentError("the certificate's notAfter does not parse");
  }
  return absl::UnixEpoch() + absl::Hours(24) * days + absl::Seconds(seconds);
}

}  // namespace utpost::crypto
