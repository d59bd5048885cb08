#include "services/utpost/modules.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/strings.h"
#include "services/courier/courier_module.h"
#include "services/ledger/ledger_module.h"
#include "services/mailbox_sim/mailbox_sim_module.h"
#include "services/print/print_module.h"
#include "services/registry/registry_module.h"
#include "services/router/router_module.h"

namespace utpost::app {
namespace {

constexpr char kAll[] = "all";

}  // namespace

const std::vector<ModuleSpec>& Modules() {
  static const std::vector<ModuleSpec> kModules = {
      {ledger::kLedgerComponent,
       {},
       "letters, documents, status events, tasks (RocksDB); serves LetterService and the "
       "internal TaskService",
       &ledger::NewLedgerModule},
      {registry::kRegistryComponent,
       {},
       "recipients (digital mailbox, reservation, postal address, organisation inbox) and "
       "mailbox providers, hashed and sealed in its own RocksDB; serves RegistryService and "
       "the internal RegistryLookupService",
       &registry::NewRegistryModule},
      {router::kRouterComponent,
       {},
       "decides each accepted letter's channel: leases ROUTE tasks from the ledger, looks "
       "recipients up in the registry (stateless; any number of replicas)",
       &router::NewRouterModule},
      {mailbox_sim::kMailboxSimComponent,
       {},
       "development and test mailbox and print providers: serves MailboxProviderService and "
       "PrintProviderService for every provider id it has a key for (data/pki/providers), "
       "keeps envelopes in its own RocksDB; behaviour set at run time with utpostctl "
       "mailbox-sim",
       &mailbox_sim::NewMailboxSimModule},
      {courier::kCourierComponent,
       {},
       "delivers routed letters to digital mailboxes and organisation inboxes: leases DELIVER "
       "and CHECK_UNREAD tasks, encrypts each document to the provider (CMS), pulls read "
       "receipts (stateless; any number of replicas)",
       &courier::NewCourierModule},
      {print::kPrintComponent,
       {},
       "prints and posts: leases PRINT tasks, spools each letter with an address cover page "
       "(sealed, its own RocksDB), sends closed batches CMS-encrypted to the print provider "
       "and records PRINTED when it confirms",
       &print::NewPrintModule},
  };
  return kModules;
}

absl::StatusOr<std::vector<const ModuleSpec*>> ResolveTargets(std::string_view targets) {
  const std::vector<ModuleSpec>& modules = Modules();
  std::set<std::string> wanted;
  auto invalid = [&](absl::string_view why) {
    std::vector<std::string> names = {kAll};
    for (const ModuleSpec& m : modules) names.push_back(m.name);
    return absl::InvalidArgumentError(
        absl::StrCat(why, "; targets: ", absl::StrJoin(names, ", "),
                     " (several separated by commas, e.g. --target=ledger,registry)"));
  };
  for (absl::string_view part : absl::StrSplit(common::Av(targets), ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) return invalid("empty target");
    if (part == kAll) {
      for (const ModuleSpec& m : modules) wanted.insert(m.name);
      continue;
    }
    bool known = false;
    for (const ModuleSpec& m : modules) known = known || m.name == part;
    if (!known) return invalid(absl::StrCat("unknown target '", part, "'"));
    wanted.insert(std::string(part));
  }
  // Deps join the set; the table's order is the start order (a module follows its deps).
  for (auto it = modules.rbegin(); it != modules.rend(); ++it) {
    if (wanted.count(it->name)) wanted.insert(it->deps.begin(), it->deps.end());
  }
  std::vector<const ModuleSpec*> order;
  for (const ModuleSpec& m : modules) {
    if (wanted.count(m.name)) order.push_back(&m);
  }
  return order;
}

std::string DescribeTargets() {
  std::string out;
  std::vector<std::string> names;
  for (const ModuleSpec& m : Modules()) {
    names.push_back(m.name);
    absl::StrAppend(&out, m.name, "\n    ", m.description, "\n");
    if (!m.deps.empty()) absl::StrAppend(&out, "    needs: ", absl::StrJoin(m.deps, ", "), "\n");
  }
  absl::StrAppend(&out, kAll, "\n    every component in one process (", absl::StrJoin(names, ", "),
                  ")\nSeveral targets run in one process when separated by commas, e.g. "
                  "--target=ledger,registry.\n");
  return out;
}

}  // namespace utpost::app
