#include "crypto/internal.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace utpost::crypto::internal {

std::string DrainOpenSslErrors() {
  const unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return "no OpenSSL error detail";
  char reason[256];
  ERR_error_string_n(first, reason, sizeof(reason));
  return reason;
}

absl::Status ErrnoError(int error, absl::string_view what, const std::filesystem::path& path) {
  return absl::ErrnoToStatus(error, absl::StrCat(what, " ", path.string()));
}

}  // namespace utpost::crypto::internal
