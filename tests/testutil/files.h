// File helpers for tests: unique temporary directories and reading what landed on disk.
// Light (GoogleTest only), so unit tests of low layers can use them.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace utpost::testutil {

// A fresh directory under the test temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "utpost");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A fresh directory under the test temp dir; the caller removes it (TempDir does that itself).
std::filesystem::path MakeTempDir(std::string_view prefix = "utpost");

// The whole content of a file ("" and a test failure if it cannot be read).
std::string ReadAll(const std::filesystem::path& path);

// The permission bits of a file (07777 mask).
mode_t ModeOf(const std::filesystem::path& path);

// Every file under `dir` whose bytes contain `needle`.
std::vector<std::filesystem::path> FilesContaining(const std::filesystem::path& dir,
                                                   std::string_view needle);

}  // namespace utpost::testutil
