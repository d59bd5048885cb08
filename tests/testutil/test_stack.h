// Test helpers: example letters, and a whole utpost process
// (the real App: RocksDB, file key store, dev PKI, gRPC over mutual TLS on 127.0.0.1:0) with
// clients for the two example municipalities.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "clients/cpp/utpost_client.h"
#include "services/ledger/ledger_module.h"
#include "services/utpost/app.h"
#include "tests/testutil/files.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::testutil {

inline constexpr char kOslo[] = "NO958935420";
inline constexpr char kBergen[] = "NO964338531";
inline constexpr char kCitizen[] = "15076500565";
// The ledger alone: letters stay ACCEPTED until a test routes them.
inline constexpr char kLedgerOnly[] = "ledger";

// A printable PDF (one A4 page) of about `size` bytes that contains `marker` as it is.
std::string MakePdf(std::string_view marker, size_t size = 2048);

// A valid letter to the example citizen with one PDF document containing `marker`.
v1::SendLetterRequest ValidLetter(std::string_view marker, size_t document_bytes = 2048);

// A letter to `identifier` (any form RecipientFromIdentifier reads) with a postal address in
// Oslo, so that it can go to paper; `marker` is in its document.
v1::SendLetterRequest AddressedLetterTo(std::string_view identifier, std::string_view marker,
                                        v1::SecurityLevel level = v1::SECURITY_LEVEL_UNSPECIFIED);

// Config for tests that wait for letters to reach their end: every component polls often,
// print closes batches within a second, and the simulated recipient reads at once.
void QuickDelivery(app::Config& c);

class TestStack {
 public:
  // Starts utpost --target=<targets> (default all) on `data_dir` (a new temp dir when
  // empty). `tweak` may change the config before start. Tests that take the router's part
  // themselves, or expect letters to stay ACCEPTED, run kLedgerOnly.
  static std::unique_ptr<TestStack> Start(std::filesystem::path data_dir = {},
                                          const std::function<void(app::Config&)>& tweak = {},
                                          std::string_view targets = "all");
  ~TestStack();

  app::App& app() { return *app_; }
  // The ledger module beneath the services, for tests that look at the store.
  ledger::LedgerModule& ledger() const;
  const std::filesystem::path& data_dir() const { return data_dir_; }
  // A client acting as `org_key` (one of the example municipalities).
  client::LetterClient Client(std::string_view org_key = kOslo) const;
  client::ConnectionOptions Connection(std::string_view org_key = kOslo) const;
  // Stops the server and closes the database (the data directory stays).
  void Stop();

 private:
  std::unique_ptr<TempDir> owned_dir_;
  std::filesystem::path data_dir_;
  std::unique_ptr<app::App> app_;
};

}  // namespace utpost::testutil
