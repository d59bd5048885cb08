#include "services/utpost/modules.h"

#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"
#include "services/utpost/app.h"

namespace utpost::app {

const std::vector<ModuleSpec>& Modules() {
  // Routing, delivery, print and the mailbox simulator join this table as they are built;
  // "all" then depends on them too.
  static const std::vector<ModuleSpec> kModules = {
      {"server", {}, "gRPC server: mTLS, health checking, reflection", false, &InitServer},
      {"ledger",
       {"server"},
       "letters, documents, status events, tasks (RocksDB); serves LetterService",
       true,
       &InitLedger},
      {"all", {"ledger"}, "every component in one process", true, nullptr},
  };
  return kModules;
}

absl::StatusOr<std::vector<const ModuleSpec*>> ResolveTarget(std::string_view target) {
  const auto& modules = Modules();
  auto find = [&](std::string_view name) -> const ModuleSpec* {
    for (const auto& m : modules) {
      if (m.name == name) return &m;
    }
    return nullptr;
  };
  const ModuleSpec* root = find(target);
  if (root == nullptr || !root->is_target) {
    std::vector<std::string> targets;
    for (const auto& m : modules) {
      if (m.is_target) targets.push_back(m.name);
    }
    return absl::InvalidArgumentError(absl::StrCat("unknown target '", common::Av(target),
                                                   "'; targets: ", absl::StrJoin(targets, ", ")));
  }
  std::vector<const ModuleSpec*> order;
  std::set<std::string_view> visited;
  std::set<std::string_view> on_path;
  std::function<absl::Status(const ModuleSpec&)> visit = [&](const ModuleSpec& m) -> absl::Status {
    if (visited.count(m.name)) return absl::OkStatus();
    if (!on_path.insert(m.name).second) {
      return absl::InternalError(absl::StrCat("module dependency cycle at ", m.name));
    }
    for (const auto& dep : m.deps) {
      const ModuleSpec* d = find(dep);
      if (d == nullptr) return absl::InternalError(absl::StrCat("unknown module ", dep));
      absl::Status s = visit(*d);
      if (!s.ok()) return s;
    }
    on_path.erase(m.name);
    visited.insert(m.name);
    order.push_back(&m);
    return absl::OkStatus();
  };
  absl::Status s = visit(*root);
  if (!s.ok()) return s;
  return order;
}

std::string DescribeTargets() {
  std::string out;
  for (const auto& m : Modules()) {
    absl::StrAppend(&out, m.is_target ? "" : "(internal) ", m.name, "\n    ", m.description, "\n");
    if (!m.deps.empty()) absl::StrAppend(&out, "    needs: ", absl::StrJoin(m.deps, ", "), "\n");
  }
  return out;
}

}  // namespace utpost::app
