// When a certificate stops being valid.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace utpost::crypto {

// The notAfter time of the first certificate in `pem`. INVALID_ARGUMENT if there is none or
// it does not parse.
[[nodiscard]] absl::StatusOr<absl::Time> CertificateNotAfter(std::string_view pem);

}  // namespace utpost::crypto
