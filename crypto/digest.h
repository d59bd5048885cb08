// SHA-256 over data fed in pieces.
#pragma once

#include <string>
#include <string_view>

#include "crypto/secret.h"

struct evp_md_ctx_st;

namespace utpost::crypto {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  // The 32-byte digest. The object must not be updated afterwards.
  std::string Finish();

 private:
  evp_md_ctx_st* ctx_;
};

// HMAC-SHA256 of `data` under `key`: 32 bytes. Aborts only if OpenSSL itself is broken.
std::string HmacSha256(const SecretBytes& key, std::string_view data);

}  // namespace utpost::crypto
