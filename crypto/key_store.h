// Key-encryption keys (KEKs). Data keys are stored only wrapped by a KEK; the KEK itself
// never leaves the key store (a file store for development and small installations; a KMS or
// HSM store implements the same interface).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/secret.h"

namespace utpost::crypto {

// A data key wrapped by the KEK named `kek_id`.
struct WrappedKey {
  std::string kek_id;
  std::string wrapped;  // opaque to callers
};

class KeyStore {
 public:
  virtual ~KeyStore() = default;

  // Wraps `data_key` with the newest KEK, bound to `aad` (the same aad is needed to unwrap).
  // Thread-safe. Errors: UNAVAILABLE if the store cannot be reached.
  [[nodiscard]] virtual absl::StatusOr<WrappedKey> Wrap(const SecretBytes& data_key,
                                                        std::string_view aad) const = 0;

  // Unwraps a key wrapped by any KEK this store holds, old or new. Thread-safe.
  // Errors: NOT_FOUND (unknown kek_id: a rotated-out key was deleted), DATA_LOSS (the
  // wrapped key or aad does not authenticate).
  [[nodiscard]] virtual absl::StatusOr<SecretBytes> Unwrap(const WrappedKey& wrapped,
                                                           std::string_view aad) const = 0;

  // The id of the KEK new wraps use.
  virtual std::string CurrentKeyId() const = 0;

  // The ids of every KEK this store holds (the current one among them).
  virtual std::vector<std::string> KeyIds() const = 0;

  // The key check value of KEK `kek_id`: 16 bytes, equal for equal keys, different (but for
  // a negligible chance) for different keys, and revealing nothing about the key (see
  // crypto::KeyCheckValue). A database records it to notice a key that was replaced.
  // Errors: NOT_FOUND (unknown kek_id), UNAVAILABLE if the store cannot be reached.
  [[nodiscard]] virtual absl::StatusOr<std::string> CheckValue(std::string_view kek_id) const = 0;
};

}  // namespace utpost::crypto
