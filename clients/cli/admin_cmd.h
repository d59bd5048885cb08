// `utpostctl admin checkpoint`: a checkpoint of a live server's stores, for backups
// (utpost/v1/admin.proto). Only the server's backup.operators may take one.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>

#include "clients/cpp/utpost_client.h"

namespace utpost::cli {

struct AdminCommand {
  CLI::App* admin = nullptr;
  CLI::App* checkpoint = nullptr;
  uint32_t keep = 0;
};

std::unique_ptr<AdminCommand> AddAdminCommand(CLI::App& cli);

// Runs it once parsed; the exit code (0 done, 1 error of the server or connection, 3 a
// wrong flag).
int RunAdminCommand(AdminCommand& command, const client::ConnectionOverrides& connection, bool json,
                    int timeout_seconds);

}  // namespace utpost::cli
