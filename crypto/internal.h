// Small helpers shared by the crypto library's implementation files. Not part of its API.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace utpost::crypto::internal {

// Takes every queued OpenSSL error off this thread's queue, so that a failure here is not
// reported again by an unrelated call later, and describes the first one.
std::string DrainOpenSslErrors();

// Closes a file descriptor when it goes out of scope (error paths); Release() hands it back.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// `errno` as a status: "<what> <path>: <strerror>".
[[nodiscard]] absl::Status ErrnoError(int error, absl::string_view what,
                                      const std::filesystem::path& path);

}  // namespace utpost::crypto::internal
