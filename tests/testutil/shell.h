// Runs a shell command as a user would, for tests of the command-line tools.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace utpost::testutil {

struct ShellResult {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string out;     // stdout and stderr
};

// Runs `command` with /bin/sh, stderr merged into stdout.
inline ShellResult Shell(const std::string& command) {
  ShellResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.out.append(buffer.data(), n);
  }
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace utpost::testutil
