#include "services/common/private_dir.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/strings.h"
#include "services/common/log.h"

namespace utpost::service {

absl::Status EnsurePrivateDir(const std::filesystem::path& dir, std::string_view what) {
  std::error_code ec;
  if (dir.has_parent_path()) {
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", dir.parent_path().string(), ": ", ec.message()));
    }
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat("cannot create ", common::Av(what), " ",
                                               dir.string(), ": ", std::strerror(errno)));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot inspect ", common::Av(what), " ",
                                               dir.string(), ": ", std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(common::Av(what), " ", dir.string(), " is not a directory"));
  }
  if ((st.st_mode & 077) != 0) {
    const mode_t tightened = st.st_mode & 07700;
    if (::chmod(dir.c_str(), tightened) != 0) {
      return absl::UnavailableError(absl::StrCat("cannot restrict ", common::Av(what), " ",
                                                 dir.string(),
                                                 " to its owner: ", std::strerror(errno)));
    }
    Log(spdlog::level::warn, "took group and other permissions off a directory",
        {{"dir", dir.string()},
         {"was", absl::StrFormat("%04o", st.st_mode & 07777)},
         {"now", absl::StrFormat("%04o", tightened)}});
  }
  return absl::OkStatus();
}

}  // namespace utpost::service
