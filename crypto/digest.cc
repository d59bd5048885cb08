#include "crypto/digest.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <cstdlib>

namespace utpost::crypto {
namespace {
// SHA-256 cannot fail short of memory exhaustion or a broken OpenSSL; neither is recoverable.
void Check(int ok, const char* what) {
  if (ok != 1) {
    std::fprintf(stderr, "fatal: OpenSSL SHA-256 %s failed\n", what);
    std::abort();
  }
}
}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  Check(ctx_ != nullptr, "alloc");
  Check(EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr), "init");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Update(std::string_view data) {
  Check(EVP_DigestUpdate(ctx_, data.data(), data.size()), "update");
}

std::string Sha256::Finish() {
  std::string out(32, '\0');
  unsigned int len = 0;
  Check(EVP_DigestFinal_ex(ctx_, reinterpret_cast<unsigned char*>(out.data()), &len), "final");
  return out;
}

std::string HmacSha256(const SecretBytes& key, std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  const unsigned char* mac = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                  reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                                  reinterpret_cast<unsigned char*>(out.data()), &len);
  Check(mac != nullptr && len == 32 ? 1 : 0, "HMAC");
  return out;
}

}  // namespace utpost::crypto
