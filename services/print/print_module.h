// The print component as a module of a utpost process (services/common/module.h). It serves
// nothing: from Start on it calls the ledger's TaskService and the registry's
// RegistryLookupService through the component channels, and the print provider's
// PrintProviderService through the component channels when print.provider_endpoint names a
// component (e.g. "mailbox-sim"), else over mutual TLS to host:port with print's component
// certificate. Its spool is a RocksDB of its own (print.data_dir), sealed with the key
// store's key (key_dir), so a print process needs the key directory like the ledger.
//
// Metrics (registered at init, on the process's registry):
//   utpost_print_batches{state="open|closed|submitted|finishing"}   gauge
//   utpost_print_spool_backlog_letters                              gauge
//   utpost_print_letters_spooled_total                              counter
//   utpost_print_letters_total{outcome="printed|failed|not_printable"}  counter
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "services/common/module.h"
#include "services/print/print_config.h"
#include "services/print/print_worker.h"

namespace utpost::print {

inline constexpr char kPrintComponent[] = "print";

// Reads config.print (checked by app::Finalize). Registers no service.
[[nodiscard]] absl::StatusOr<std::unique_ptr<service::Module>> NewPrintModule(
    service::ModuleContext& context);

}  // namespace utpost::print
