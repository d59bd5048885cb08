// `utpostctl forms register|types|submit|fetch|ack|reject|list`: citizen form submissions
// (utpost/v1/forms.proto). A municipality registers form types, fetches its pending
// submissions (decrypting them with its own key), acknowledges or rejects them; a portal
// submits (`utpostctl --as portal forms submit ...` in the dev setup).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "clients/cpp/utpost_client.h"

namespace utpost::cli {

struct FormsCommand {
  CLI::App* forms = nullptr;
  CLI::App* register_ = nullptr;
  CLI::App* types = nullptr;
  CLI::App* submit = nullptr;
  CLI::App* fetch = nullptr;
  CLI::App* ack = nullptr;
  CLI::App* reject = nullptr;
  CLI::App* list = nullptr;
  std::string file;
  std::string certificate;
  std::string type;
  std::string municipality;
  std::string citizen;
  std::vector<std::string> fields;
  std::vector<std::string> attachments;
  std::string idempotency_key;
  unsigned version = 0;
  unsigned max = 16;
  std::string decrypt_key;
  std::string out;
  bool acknowledge = false;
  std::string submission_id;
  std::string reason;
  std::string state;
  int limit = 50;
  std::string page_token;
};

// Adds the `forms` subcommand to `cli`.
std::unique_ptr<FormsCommand> AddFormsCommand(CLI::App& cli);

// Runs it once parsed; returns the exit code (0 done, 1 error of the server or connection,
// 3 a wrong field).
int RunFormsCommand(FormsCommand& command, const client::ConnectionOverrides& connection,
                    bool json_output, int timeout_seconds);

}  // namespace utpost::cli
