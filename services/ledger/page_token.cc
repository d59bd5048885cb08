#include "services/ledger/page_token.h"

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/field_violations.h"
#include "common/strings.h"
#include "crypto/digest.h"
#include "storage/keys.h"

namespace utpost::ledger {

uint64_t FilterHash(const v1::ListLettersRequest& request) {
  std::string filters;
  for (int s : request.statuses()) absl::StrAppend(&filters, s, ",");
  absl::StrAppend(&filters, "|", request.accepted_after().seconds(), ".",
                  request.accepted_after().nanos(), "|", request.accepted_before().seconds(), ".",
                  request.accepted_before().nanos());
  crypto::Sha256 sha;
  sha.Update(filters);
  const std::string digest = sha.Finish();
  return storage::keys::ReadU64(digest);  // big-endian, the same on every machine
}

std::string EncodePageToken(const common::LetterIdBytes& last, uint64_t filter_hash) {
  std::string raw(reinterpret_cast<const char*>(last.data()), last.size());
  storage::keys::AppendU64(raw, filter_hash);
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<common::LetterIdBytes> DecodePageToken(std::string_view token,
                                                      uint64_t filter_hash) {
  std::string raw;
  // Only the spelling EncodePageToken writes: the decoder skips white space, which would give
  // one token many spellings.
  if (!absl::WebSafeBase64Unescape(common::Av(token), &raw) ||
      raw.size() != 16 + sizeof(uint64_t) || absl::WebSafeBase64Escape(raw) != common::Av(token)) {
    return common::FieldError(absl::StatusCode::kInvalidArgument, "page_token",
                              "is not a token this server issued");
  }
  if (storage::keys::ReadU64(std::string_view(raw).substr(16)) != filter_hash) {
    return common::FieldError(absl::StatusCode::kInvalidArgument, "page_token",
                              "was issued for other filters");
  }
  common::LetterIdBytes id{};
  std::memcpy(id.data(), raw.data(), id.size());
  return id;
}

}  // namespace utpost::ledger
