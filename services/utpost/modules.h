// The module table behind --target, in the manner of Loki and Mimir: each row is a component
// (services/common/module.h) with the modules it needs in the same process, if any; "all" is
// every component. A component is added with its folder, its config section and one row here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/module.h"

namespace utpost::app {

using ModuleInit = absl::StatusOr<std::unique_ptr<service::Module>> (*)(service::ModuleContext&);

struct ModuleSpec {
  std::string name;               // as --target and component certificates spell it
  std::vector<std::string> deps;  // modules that must run in the same process, before it
  std::string description;
  ModuleInit init;
};

// The components of this build, in start order (a module comes after its deps).
const std::vector<ModuleSpec>& Modules();

// The modules that `targets` names, a comma-separated list of components or "all", with
// their deps, in start order, each once. INVALID_ARGUMENT for an unknown or empty target,
// listing the valid ones.
[[nodiscard]] absl::StatusOr<std::vector<const ModuleSpec*>> ResolveTargets(
    std::string_view targets);

// Text for --list-targets: each target, what it runs and what it needs.
std::string DescribeTargets();

}  // namespace utpost::app
