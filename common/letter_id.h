// Letter ids: 128 bits, 48-bit big-endian Unix milliseconds then 80 random bits (the ULID
// layout), written as 26 characters of Crockford base32. Ids sort by creation time both as
// text and as their 16-byte binary form, so RocksDB keys built from them are time-ordered.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace utpost::common {

inline constexpr size_t kLetterIdLength = 26;
using LetterIdBytes = std::array<uint8_t, 16>;

// A new id for `now`, with 80 bits from OpenSSL-independent randomness (absl::BitGen seeded
// from the OS). Ids made in the same millisecond by one generator are strictly increasing.
// Thread-safe.
class LetterIdGenerator {
 public:
  std::string Next(absl::Time now);

 private:
  std::mutex mu_;
  int64_t last_ms_ = -1;  // guarded by mu_
  LetterIdBytes last_{};  // guarded by mu_
  absl::BitGen bit_gen_;  // guarded by mu_: absl::BitGen is not thread-safe
};

// The 26-character text form of `bytes`.
std::string EncodeLetterId(const LetterIdBytes& bytes);

// The 16 bytes as a string, e.g. a key for common::KeyedMutex.
inline std::string IdBytesKey(const LetterIdBytes& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Parses the text form (case-insensitive; I, L -> 1 and O -> 0 as Crockford allows).
// INVALID_ARGUMENT if it is not 26 valid characters or overflows 128 bits.
[[nodiscard]] absl::StatusOr<LetterIdBytes> DecodeLetterId(std::string_view text);

// The millisecond timestamp in an id.
absl::Time LetterIdTime(const LetterIdBytes& bytes);

// The smallest id whose time is >= t (random part all zero). For time-range scans.
LetterIdBytes MinLetterIdAt(absl::Time t);

}  // namespace utpost::common
