// Key material in memory: wiped (OPENSSL_cleanse) when destroyed, never copied implicitly,
// never printed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace utpost::crypto {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t size) : bytes_(size, '\0') {}
  explicit SecretBytes(std::string_view bytes) : bytes_(bytes) {}
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // Fresh random bytes from OpenSSL's CSPRNG. Aborts if the CSPRNG fails (it cannot be
  // used safely after that).
  static SecretBytes Random(size_t size);

  size_t size() const { return bytes_.size(); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(bytes_.data()); }
  uint8_t* data() { return reinterpret_cast<uint8_t*>(bytes_.data()); }
  std::string_view view() const { return bytes_; }

 private:
  std::string bytes_;
};

// Overwrites all of `bytes`' buffer with zeros in a way the compiler cannot elide
// (OPENSSL_cleanse) and leaves it empty; for plaintext that should not linger in freed memory.
void Wipe(std::string& bytes);

}  // namespace utpost::crypto
