// ListLetters page tokens (services/ledger/page_token.h) on arbitrary bytes.
//
// Input: 8 bytes of filter hash, then the token. Invariants: decoding never crashes; a
// token that decodes re-encodes to exactly the same string (one spelling per token); a
// refusal is INVALID_ARGUMENT naming "page_token"; any id and hash survive encoding and
// decoding, and the token is refused for any other hash.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/field_violations.h"
#include "fuzz/fuzz_check.h"
#include "services/ledger/page_token.h"

namespace utpost::fuzz {
namespace {

void CheckRefusal(const absl::Status& status) {
  UTPOST_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  const std::optional<google::rpc::BadRequest> details = common::GetBadRequest(status);
  UTPOST_FUZZ_CHECK(details.has_value() && details->field_violations_size() == 1);
  UTPOST_FUZZ_CHECK(details->field_violations(0).field() == "page_token");
}

void FuzzPageToken(uint64_t filter_hash, std::string_view token) {
  absl::StatusOr<common::LetterIdBytes> id = ledger::DecodePageToken(token, filter_hash);
  if (id.ok()) {
    UTPOST_FUZZ_CHECK(ledger::EncodePageToken(*id, filter_hash) == token);
  } else {
    CheckRefusal(id.status());
  }

  if (token.size() >= 24) {
    common::LetterIdBytes last{};
    std::memcpy(last.data(), token.data(), last.size());
    uint64_t hash = 0;
    std::memcpy(&hash, token.data() + last.size(), sizeof(hash));
    const std::string encoded = ledger::EncodePageToken(last, hash);
    absl::StatusOr<common::LetterIdBytes> decoded = ledger::DecodePageToken(encoded, hash);
    UTPOST_FUZZ_CHECK(decoded.ok() && *decoded == last);
    absl::StatusOr<common::LetterIdBytes> other = ledger::DecodePageToken(encoded, hash + 1);
    UTPOST_FUZZ_CHECK(!other.ok());
    CheckRefusal(other.status());
  }
}

}  // namespace
}  // namespace utpost::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint64_t filter_hash = 0;
  if (size < sizeof(filter_hash)) return 0;
  std::memcpy(&filter_hash, data, sizeof(filter_hash));
  utpost::fuzz::FuzzPageToken(filter_hash,
                              std::string_view(reinterpret_cast<const char*>(data) + 8, size - 8));
  return 0;
}
