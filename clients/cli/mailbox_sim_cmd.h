// `utpostctl mailbox-sim fail|reject|slow|down|up|read|print|reset|status`: steer and inspect
// the mailbox simulator (utpost --target=mailbox-sim, development only) through
// utpost.sim.v1.MailboxSimControlService:
//   fail --share 0.5              answer half of the deliveries UNAVAILABLE
//   reject --share 1 [--kind closed|invalid]   refuse deliveries permanently
//   slow --delay 2s               answer every provider call 2 s late
//   down | up                     every provider call UNAVAILABLE, or back to normal
//   read --share 0.5 [--delay 1m] READ receipts for half of the letters, a minute later
//   print --delay 10s             batches PRINTED 10 s after submission
//   reset --provider dev          the provider follows the default behaviour again
//   status [--list]               letters, duplicates, receipts and batches per provider id
// `--provider <id>` changes one provider id only; without it, the default of all.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "clients/cpp/utpost_client.h"

namespace utpost::cli {

struct MailboxSimCommand {
  CLI::App* command = nullptr;
  CLI::App* fail = nullptr;
  CLI::App* reject = nullptr;
  CLI::App* slow = nullptr;
  CLI::App* down = nullptr;
  CLI::App* up = nullptr;
  CLI::App* read = nullptr;
  CLI::App* print = nullptr;
  CLI::App* reset = nullptr;
  CLI::App* status = nullptr;
  std::string provider;
  double share = 0;
  std::string kind = "closed";
  std::string delay;
  bool list = false;
};

// Adds the `mailbox-sim` subcommand to `cli`.
std::unique_ptr<MailboxSimCommand> AddMailboxSimCommand(CLI::App& cli);

// Runs it once parsed; returns the exit code (0 done, 1 error of the server or connection,
// 3 a wrong argument).
int RunMailboxSimCommand(MailboxSimCommand& command, const client::ConnectionOverrides& connection,
                         bool json_output, int timeout_seconds);

}  // namespace utpost::cli
