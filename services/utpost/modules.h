// The module graph behind --target, in the manner of Loki and Mimir: each module names the
// modules it needs; a target is a module a user may start; "all" is just another module that
// needs every component. Resolving a target yields its modules in dependency order.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace utpost::app {

struct App;

struct ModuleSpec {
  std::string name;
  std::vector<std::string> deps;
  std::string description;
  bool is_target;                  // may be named by --target
  absl::Status (*init)(App& app);  // wires the module into `app`
};

// The modules of this build, in no particular order.
const std::vector<ModuleSpec>& Modules();

// The modules `target` needs, dependencies first, each once. INVALID_ARGUMENT for an unknown
// target or one that is not user-visible, listing the valid targets.
[[nodiscard]] absl::StatusOr<std::vector<const ModuleSpec*>> ResolveTarget(std::string_view target);

// Text for --list-targets: each target, what it runs and what it depends on.
std::string DescribeTargets();

}  // namespace utpost::app
