#include "crypto/secret.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace utpost::crypto {
// Wipes the whole buffer, not just [0, size()): a moved-from or cleared string can keep old
// bytes in its buffer (small strings live inside the object itself). Growing to capacity()
// never reallocates, so this touches exactly the memory the string owns.
void Wipe(std::string& bytes) {
  bytes.resize(bytes.capacity());
  OPENSSL_cleanse(bytes.data(), bytes.size());
  bytes.clear();
}

SecretBytes::~SecretBytes() { Wipe(bytes_); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {
  Wipe(other.bytes_);
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe(bytes_);
    bytes_ = std::move(other.bytes_);
    Wipe(other.bytes_);
  }
  return *this;
}

SecretBytes SecretBytes::Random(size_t size) {
  SecretBytes secret(size);
  size_t done = 0;
  while (done < size) {
    const size_t chunk = std::min<size_t>(size - done, INT_MAX);
    if (RAND_bytes(secret.data() + done, static_cast<int>(chunk)) != 1) {
      // Keys and nonces made after a CSPRNG failure could repeat or be guessable; carrying on
      // would silently weaken every document sealed from here on.
      char reason[256];
      ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
      std::fprintf(stderr, "utpost: FATAL: OpenSSL RAND_bytes failed (%s); aborting\n", reason);
      std::fflush(stderr);
      std::abort();
    }
    done += chunk;
  }
  return secret;
}

}  // namespace utpost::crypto
