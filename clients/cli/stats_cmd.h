// `utpostctl stats share|benefits|paper-recipients|report`: the caller's channel statistics
// (utpost/v1/stats.proto) as a table, CSV or JSON, and the HTML report for a council.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "clients/cpp/utpost_client.h"

namespace utpost::cli {

struct StatsCommand {
  CLI::App* stats = nullptr;
  CLI::App* share = nullptr;
  CLI::App* benefits = nullptr;
  CLI::App* paper_recipients = nullptr;
  CLI::App* report = nullptr;
  std::string out;
  std::string name;
  std::string from;
  std::string to;
  std::string by = "month";
  std::string format = "table";
  int max_letters = 100000;
};

// Adds the `stats` subcommand to `cli`.
std::unique_ptr<StatsCommand> AddStatsCommand(CLI::App& cli);

// Runs it once parsed; returns the exit code (0 done, 1 error of the server or connection,
// 3 a wrong field). `json` (the global `-o json`) is the same as --format json.
int RunStatsCommand(StatsCommand& command, const client::ConnectionOverrides& connection, bool json,
                    int timeout_seconds);

}  // namespace utpost::cli
