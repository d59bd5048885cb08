// `utpostctl registry get|put|delete|import`: manage the recipient registry (for
// organisations named as registry administrators). See registry_rows.h for the fields of a
// row, in files and flags alike.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clients/cpp/utpost_client.h"

namespace utpost::cli {

struct RegistryCommand {
  CLI::App* registry = nullptr;
  CLI::App* get = nullptr;
  CLI::App* put = nullptr;
  CLI::App* del = nullptr;
  CLI::App* import = nullptr;
  std::string id;
  std::string provider;
  std::string json;
  std::map<std::string, std::string> values;  // put's flags, by row field
  std::vector<std::string> postal_lines;
  bool reserved = false;
  std::string file;
  std::string format;
  bool skip_bad_rows = false;
};

// Adds the `registry` subcommand to `cli`.
std::unique_ptr<RegistryCommand> AddRegistryCommand(CLI::App& cli);

// Runs it once parsed; returns the exit code (0 done, 1 error of the server or connection,
// 3 a wrong field or bad rows).
int RunRegistryCommand(RegistryCommand& command, const client::ConnectionOverrides& connection,
                       bool json_output, int timeout_seconds);

}  // namespace utpost::cli
