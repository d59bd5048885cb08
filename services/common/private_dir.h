// Directories that hold data, keys or private keys: the owner's only.
#pragma once

#include <filesystem>
#include <string_view>

#include "absl/status/status.h"

namespace utpost::service {

// Creates `dir` with mode 0700 (parents with the default mode), or takes away every
// permission of group and others from an existing one, saying so in the log. `what` names
// the directory in messages ("ledger directory").
[[nodiscard]] absl::Status EnsurePrivateDir(const std::filesystem::path& dir,
                                            std::string_view what);

}  // namespace utpost::service
