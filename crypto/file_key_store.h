// A KeyStore backed by a directory of 32-byte AES-256 keys, one file per key:
//   <dir>/kek-<id>.key   (mode 0600, raw 32 bytes; <id> is 4 or more decimal digits, e.g. 0001)
// The highest id is the current key; every key in the directory can unwrap. Rotation adds a
// key with the next id; old keys stay until every data key they wrapped has been rewrapped or
// destroyed. Wrapping is AES-256-GCM: wrapped = nonce (12) || ciphertext || tag (16).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/key_store.h"

namespace utpost::crypto {

class FileKeyStore final : public KeyStore {
 public:
  // Loads every key in `dir`. FAILED_PRECONDITION if there is none, or a key file is not 32
  // bytes, or is readable by group or others.
  // Also FAILED_PRECONDITION (naming the file) if a key file grants group or others any
  // permission at all, or is named kek-*.key with an id that is not canonical (ids are
  // zero-padded to four digits, with no further leading zeros: "0001", "10000"). Other files,
  // such as the hidden temporary files of an interrupted rotation, are ignored.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<FileKeyStore>> Open(
      const std::filesystem::path& dir);

  // Creates `dir` (mode 0700) with a first key if it holds no key yet. Returns the current
  // key id either way. Only for a database that holds nothing yet (and for tests): a key
  // made for a database that has data would silently take the place of a missing one.
  [[nodiscard]] static absl::StatusOr<std::string> EnsureKey(const std::filesystem::path& dir);

  // Creates `dir` (mode 0700) with a first key, and returns its id. ALREADY_EXISTS (naming
  // the key) if `dir` holds a key already: use Rotate to add one.
  [[nodiscard]] static absl::StatusOr<std::string> CreateFirstKey(const std::filesystem::path& dir);

  // Adds a key with the next id (written to a temporary file, fsynced, renamed). Returns
  // its id. A store opened earlier does not see it until reopened.
  // FAILED_PRECONDITION if `dir` holds no key yet (EnsureKey makes the first). The rename
  // never replaces an existing key file; concurrent rotations each get their own id.
  [[nodiscard]] static absl::StatusOr<std::string> Rotate(const std::filesystem::path& dir);

  absl::StatusOr<WrappedKey> Wrap(const SecretBytes& data_key, std::string_view aad) const override;
  absl::StatusOr<SecretBytes> Unwrap(const WrappedKey& wrapped,
                                     std::string_view aad) const override;
  std::string CurrentKeyId() const override { return current_; }
  std::vector<std::string> KeyIds() const override;
  absl::StatusOr<std::string> CheckValue(std::string_view kek_id) const override;

 private:
  FileKeyStore() = default;
  std::map<std::string, SecretBytes> keys_;
  std::string current_;
};

}  // namespace utpost::crypto
