// ListLetters page tokens: the last letter id of a page and a hash of the request's filters,
// so a token cannot be reused with other filters. Opaque to clients: web-safe base64 of
// id (16 bytes) || filter hash (8 bytes, big-endian), the same on every machine. Pure: no
// I/O, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/letter_id.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::ledger {

// A hash of the request's filters (statuses, accepted_after, accepted_before); page_size and
// page_token do not count. Equal filters, equal hash.
uint64_t FilterHash(const v1::ListLettersRequest& request);

// The token that continues a listing after `last`, for requests whose FilterHash is
// `filter_hash`.
std::string EncodePageToken(const common::LetterIdBytes& last, uint64_t filter_hash);

// The letter id in `token`. INVALID_ARGUMENT (field "page_token") if `token` is not a token
// this server issued, spelt exactly as issued, or was issued for a request with another
// filter hash.
[[nodiscard]] absl::StatusOr<common::LetterIdBytes> DecodePageToken(std::string_view token,
                                                                    uint64_t filter_hash);

}  // namespace utpost::ledger
