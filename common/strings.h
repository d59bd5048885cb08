// Debian's Abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW
// is 0, for ABI stability), which does not convert from std::string_view. utpost's
// interfaces use std::string_view; Av() crosses into Abseil's (StrCat, Status, ...).
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace utpost::common {

constexpr absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace utpost::common
