// Where registry entries come from in bulk. The development seed is one source; a national
// contact register (Norway's Kontakt- og reservasjonsregisteret, Denmark's register of
// citizens exempt from Digital Post) is another, plugged in by implementing this interface
// and handing it to Registry::ImportFrom, which validates and writes its entries exactly as
// rows of RegistryService.Import.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "utpost/v1/registry.pb.h"

namespace utpost::registry {

class RegistrySource {
 public:
  virtual ~RegistrySource() = default;

  // A short name for logs and reports, e.g. "dev-seed", "krr".
  virtual std::string name() const = 0;

  // Calls `sink` with each entry, providers before the entries that name them. Stops at the
  // first error `sink` returns and returns it; otherwise returns the source's own errors
  // (UNAVAILABLE for a register that cannot be reached), or OK when every entry was given.
  // Not called concurrently.
  [[nodiscard]] virtual absl::Status ForEach(
      const std::function<absl::Status(v1::RegistryEntry)>& sink) = 0;
};

}  // namespace utpost::registry
