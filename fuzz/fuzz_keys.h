// A real FileKeyStore holding one fixed, publicly known key-encryption key, for the
// sealed-record harness and the seed generator: documents the generator seals, the harness
// can open. Never a key for data.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/file_key_store.h"

namespace utpost::fuzz {

// The key's id in the store.
inline constexpr char kFuzzKekId[] = "0001";

// The letter id whose additional authenticated data the seeds are sealed with.
inline constexpr char kFuzzLetterId[] = "01HV2Z8Q3K5N7R9T1W3Y5A7C9E";

// Writes the fixed key to a fresh temporary directory, loads it, and removes the directory:
// the store keeps the key in memory. INTERNAL if the temporary directory cannot be made.
[[nodiscard]] inline absl::StatusOr<std::unique_ptr<crypto::FileKeyStore>> OpenFuzzKeyStore() {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string pattern = (fs::temp_directory_path(ec) / "utpost-fuzz-keys-XXXXXX").string();
  if (ec || ::mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError("cannot make a temporary key directory");
  }
  const fs::path dir = pattern;
  const fs::path file = dir / (std::string("kek-") + kFuzzKekId + ".key");
  unsigned char key[32];
  for (int i = 0; i < 32; ++i) key[i] = static_cast<unsigned char>(0xA0 + i);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  const bool written = fd >= 0 && ::write(fd, key, sizeof(key)) == sizeof(key);
  if (fd >= 0) ::close(fd);
  absl::StatusOr<std::unique_ptr<crypto::FileKeyStore>> store =
      written ? crypto::FileKeyStore::Open(dir)
              : absl::InternalError("cannot write the temporary key file");
  fs::remove_all(dir, ec);
  return store;
}

}  // namespace utpost::fuzz
