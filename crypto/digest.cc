#include "crypto/digest.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <cstdlib>

namespace utpost::crypto {
namespace {
// SHA-256 and GMAC cannot fail short of memory exhaustion, a broken OpenSSL or a caller's
// broken precondition; none is recoverable.
void Check(int ok, const char* what) {
  if (ok != 1) {
    std::fprintf(stderr, "fatal: OpenSSL %s failed\n", what);
    std::abort();
  }
}

// Fetched once: fetching looks the algorithm up in OpenSSL's provider tables, under a lock.
EVP_MAC* GmacAlgorithm() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "GMAC", nullptr);
  Check(mac != nullptr ? 1 : 0, "GMAC fetch");
  return mac;
}
}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  Check(ctx_ != nullptr, "SHA-256 alloc");
  Check(EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr), "SHA-256 init");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Update(std::string_view data) {
  Check(EVP_DigestUpdate(ctx_, data.data(), data.size()), "SHA-256 update");
}

std::string Sha256::Finish() {
  std::string out(32, '\0');
  unsigned int len = 0;
  Check(EVP_DigestFinal_ex(ctx_, reinterpret_cast<unsigned char*>(out.data()), &len),
        "SHA-256 final");
  return out;
}

Gmac::Gmac(const SecretBytes& key, std::string_view nonce)
    : ctx_(EVP_MAC_CTX_new(GmacAlgorithm())) {
  Check(ctx_ != nullptr ? 1 : 0, "GMAC alloc");
  Check(key.size() == kKeyBytes && nonce.size() == kNonceBytes ? 1 : 0, "GMAC key or nonce size");
  char cipher[] = "AES-256-GCM";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0),
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_IV, const_cast<char*>(nonce.data()),
                                        nonce.size()),
      OSSL_PARAM_construct_end()};
  Check(EVP_MAC_init(ctx_, key.data(), key.size(), params), "GMAC init");
}

Gmac::~Gmac() { EVP_MAC_CTX_free(ctx_); }

void Gmac::Update(std::string_view data) {
  Check(EVP_MAC_update(ctx_, reinterpret_cast<const unsigned char*>(data.data()), data.size()),
        "GMAC update");
}

std::string Gmac::Finish() {
  std::string out(kTagBytes, '\0');
  size_t len = 0;
  Check(EVP_MAC_final(ctx_, reinterpret_cast<unsigned char*>(out.data()), &len, out.size()),
        "GMAC final");
  Check(len == kTagBytes ? 1 : 0, "GMAC tag size");
  return out;
}

std::string HmacSha256(const SecretBytes& key, std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  const unsigned char* mac = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                  reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                                  reinterpret_cast<unsigned char*>(out.data()), &len);
  Check(mac != nullptr && len == 32 ? 1 : 0, "HMAC-SHA256");
  return out;
}

}  // namespace utpost::crypto
