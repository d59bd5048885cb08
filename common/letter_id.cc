#include "common/letter_id.h"

#include <algorithm>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"

namespace utpost::common {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int64_t kMaxMillis = (int64_t{1} << 48) - 1;
constexpr size_t kTimeBytes = 6;

// Crockford's decoding: case-insensitive, I and L read as 1, O as 0; U and everything else
// is not a digit (-1).
int DecodeChar(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  switch (c) {
    case 'O':
      return 0;
    case 'I':
    case 'L':
      return 1;
    default:
      break;
  }
  for (int i = 10; i < 32; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}

absl::uint128 ToUint128(const LetterIdBytes& bytes) {
  absl::uint128 v = 0;
  for (uint8_t b : bytes) v = (v << 8) | b;
  return v;
}

LetterIdBytes FromUint128(absl::uint128 v) {
  LetterIdBytes bytes{};
  for (size_t i = bytes.size(); i-- > 0;) {
    bytes[i] = static_cast<uint8_t>(absl::Uint128Low64(v) & 0xff);
    v >>= 8;
  }
  return bytes;
}

void PutMillis(int64_t ms, LetterIdBytes& bytes) {
  for (size_t i = 0; i < kTimeBytes; ++i) {
    bytes[i] = static_cast<uint8_t>(ms >> (8 * (kTimeBytes - 1 - i)));
  }
}

int64_t ClampedMillis(absl::Time t) {
  // Before 1970 or after the year 10889 cannot be written in 48 bits; a clock that far off
  // still gets a well-formed id.
  return std::clamp<int64_t>(absl::ToUnixMillis(t), 0, kMaxMillis);
}

}  // namespace

std::string LetterIdGenerator::Next(absl::Time now) {
  const int64_t ms = ClampedMillis(now);
  std::lock_guard lock(mu_);
  if (ms == last_ms_) {
    // Same millisecond: the previous id plus one keeps this generator's ids strictly
    // increasing. A carry out of the 80 random bits would need about 2^79 ids in one
    // millisecond; it would move into the time field, which still keeps the order.
    last_ = FromUint128(ToUint128(last_) + 1);
  } else {
    last_ms_ = ms;
    PutMillis(ms, last_);
    for (size_t i = kTimeBytes; i < last_.size(); ++i) {
      last_[i] = absl::Uniform<uint8_t>(absl::IntervalClosedClosed, bit_gen_, 0, 255);
    }
  }
  return EncodeLetterId(last_);
}

std::string EncodeLetterId(const LetterIdBytes& bytes) {
  // 26 characters of 5 bits hold 130 bits: the first character carries only the top 3.
  const absl::uint128 v = ToUint128(bytes);
  std::string out(kLetterIdLength, '0');
  for (size_t i = 0; i < kLetterIdLength; ++i) {
    const int shift = static_cast<int>(5 * (kLetterIdLength - 1 - i));
    out[i] = kAlphabet[absl::Uint128Low64(v >> shift) & 31];
  }
  return out;
}

absl::StatusOr<LetterIdBytes> DecodeLetterId(std::string_view text) {
  if (text.size() != kLetterIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("must be ", kLetterIdLength, " characters (is ", text.size(), ")"));
  }
  absl::uint128 v = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const int digit = DecodeChar(text[i]);
    if (digit < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("character ", i + 1, " is not a Crockford base32 digit"));
    }
    // The first character holds the top 3 of 128 bits, so it is at most 7.
    if (i == 0 && digit > 7) return absl::InvalidArgumentError("is out of range (over 128 bits)");
    v = (v << 5) | static_cast<uint64_t>(digit);
  }
  return FromUint128(v);
}

absl::Time LetterIdTime(const LetterIdBytes& bytes) {
  int64_t ms = 0;
  for (size_t i = 0; i < kTimeBytes; ++i) ms = (ms << 8) | bytes[i];
  return absl::FromUnixMillis(ms);
}

LetterIdBytes MinLetterIdAt(absl::Time t) {
  // Ids carry whole milliseconds, so the first id at or after t has t rounded up.
  int64_t ms = ClampedMillis(t);
  if (ms < kMaxMillis && absl::FromUnixMillis(ms) < t) ++ms;
  LetterIdBytes bytes{};
  PutMillis(ms, bytes);
  return bytes;
}

}  // namespace utpost::common
