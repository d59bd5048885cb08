// Peak memory of the test process, for tests that bound what a request can make the server
// (running in the same process) hold.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace utpost::testutil {

// AddressSanitizer keeps freed memory in quarantine and maps shadow memory, so under it the
// resident size says nothing about the code being tested: memory bounds are checked only
// without it (the sanitizer build still runs every request for its own checks).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kRssIsMeaningful = false;
#else
inline constexpr bool kRssIsMeaningful = true;
#endif

// A field of /proc/self/status in bytes ("VmHWM", "VmRSS"); -1 if absent.
inline int64_t ProcStatusBytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  }
  return -1;
}

// Peak resident-size growth of this process while `body` runs. Resets the high-water mark
// first (writing 5 to clear_refs sets VmHWM to the current RSS).
template <typename Body>
int64_t PeakRssGrowth(Body body) {
  std::ofstream("/proc/self/clear_refs") << "5";
  const int64_t before = ProcStatusBytes("VmRSS");
  body();
  return ProcStatusBytes("VmHWM") - before;
}

}  // namespace utpost::testutil
