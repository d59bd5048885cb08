// SHA-256 and GMAC over data fed in pieces, and HMAC-SHA256.
#pragma once

#include <string>
#include <string_view>

#include "crypto/secret.h"

struct evp_md_ctx_st;
struct evp_mac_ctx_st;

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

// GMAC (NIST SP 800-38D: AES-256-GCM authenticating only, nothing encrypted): a 16-byte tag
// under a secret key. Its hash is GHASH, computed with the CPU's carry-less multiply, about
// three times as fast as SHA-256 with the SHA instructions. A nonce must never be used twice
// with the same key: then a tag reveals nothing about the key, nor about the data to whoever
// does not hold the key.
class Gmac {
 public:
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kNonceBytes = 12;
  static constexpr size_t kTagBytes = 16;

  // `key` must hold kKeyBytes and `nonce` kNonceBytes (callers check what they read from disk).
  Gmac(const SecretBytes& key, std::string_view nonce);
  ~Gmac();
  Gmac(const Gmac&) = delete;
  Gmac& operator=(const Gmac&) = delete;

  void Update(std::string_view data);
  // The kTagBytes tag. The object must not be updated afterwards.
  std::string Finish();

 private:
  evp_mac_ctx_st* ctx_;
};

// HMAC-SHA256 of `data` under `key`: 32 bytes. Aborts only if OpenSSL itself is broken.
std::string HmacSha256(const SecretBytes& key, std::string_view data);

}  // namespace utpost::crypto
