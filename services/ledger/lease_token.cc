#include "services/ledger/lease_token.h"

#include <cstring>

#include "absl/strings/escaping.h"
#include "common/field_violations.h"
#include "common/strings.h"
#include "storage/keys.h"

namespace utpost::ledger {
namespace {

constexpr char kVersion = 1;
constexpr size_t kTokenBytes = 1 + 16 + 16 + 4;

}  // namespace

std::string EncodeLeaseToken(const LeaseToken& token) {
  std::string raw;
  raw.reserve(kTokenBytes);
  raw.push_back(kVersion);
  raw.append(reinterpret_cast<const char*>(token.task_id.data()), token.task_id.size());
  raw.append(reinterpret_cast<const char*>(token.letter_id.data()), token.letter_id.size());
  storage::keys::AppendU32(raw, token.attempt);
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<LeaseToken> DecodeLeaseToken(std::string_view text) {
  std::string raw;
  // A token longer than any this server writes is refused before it is decoded.
  // Only the spelling EncodeLeaseToken writes: the decoder accepts padding and skips white
  // space, which would give one token many spellings.
  if (text.size() > 64 || !absl::WebSafeBase64Unescape(common::Av(text), &raw) ||
      raw.size() != kTokenBytes || raw[0] != kVersion ||
      absl::WebSafeBase64Escape(raw) != common::Av(text)) {
    return common::FieldError(absl::StatusCode::kInvalidArgument, "lease_token",
                              "is not a lease token this server issued");
  }
  LeaseToken token;
  std::memcpy(token.task_id.data(), raw.data() + 1, 16);
  std::memcpy(token.letter_id.data(), raw.data() + 17, 16);
  token.attempt = storage::keys::ReadU32(std::string_view(raw).substr(33));
  return token;
}

}  // namespace utpost::ledger
