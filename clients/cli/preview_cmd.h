// `utpostctl preview recipients.csv`: how a batch of letters would be routed, before anything
// is sent (LetterService.PreviewRoutes, in calls of 1000 recipients whose answers are added).
//
// The file: one recipient per line, either a bare identifier (11 digits national id /
// D-number, 9 org number, 10 or DDMMYY-SSSS CPR, 8 CVR) or CSV with a header row that names
// an `id` column (also `identifier` or `recipient`). An optional `has_address` column
// (true/false, yes/no, 1/0; empty is false) says whether the letter would carry its own postal
// address; --with-address says so for every row. Other columns are ignored, so a case
// system's export can be used as it is. Blank lines and lines starting with '#' are skipped.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/cpp/utpost_client.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::cli {

// One recipient of the file.
struct PreviewLine {
  uint64_t line = 0;       // 1-based line in the file
  std::string identifier;  // as written
  v1::PreviewRecipient recipient;
};

// Reads every recipient of `in`. INVALID_ARGUMENT with a violation per bad line ("line 7":
// what is wrong), at most `max_recipients` recipients.
[[nodiscard]] absl::StatusOr<std::vector<PreviewLine>> ReadPreviewFile(std::istream& in,
                                                                       bool with_address,
                                                                       uint64_t max_recipients);

// Adds `part` (the answer for the next recipients) to `total`: routes appended, counts,
// reasons and costs summed, reasons kept largest first. The prices are `part`'s.
void AddPreview(v1::PreviewRoutesResponse& total, const v1::PreviewRoutesResponse& part);

struct PreviewCommand {
  CLI::App* preview = nullptr;
  std::string file;
  std::string channel = "auto";
  std::string security = "substantial";
  bool with_address = false;
  std::string format = "table";
  uint64_t max_recipients = 1'000'000;
};

std::unique_ptr<PreviewCommand> AddPreviewCommand(CLI::App& cli);

// Runs it once parsed; returns the exit code (0 done, 1 error of the server or connection,
// 3 a wrong line or flag). `json` (the global `-o json`) is the same as --format json.
int RunPreviewCommand(PreviewCommand& command, const client::ConnectionOverrides& connection,
                      bool json, int timeout_seconds);

}  // namespace utpost::cli
