// What the closed-loop SendLetter load generators share (utpost_loadgen and
// utpost_bench_routing): one connection per worker, the benchmark letter, and error sampling.
#pragma once

#include <grpcpp/channel.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/cpp/utpost_client.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::bench {

// The flags of a closed SendLetter loop, the same in every load generator.
struct LoadFlags {
  std::string config;
  int concurrency = 16;
  uint64_t document_bytes = 65536;
  double duration_s = 10;
  double warmup_s = 2;
};

// Adds --config (described by `config_help`), --concurrency, --document-bytes, --duration and
// --warmup to `cli`, writing to `flags`.
void AddLoadFlags(CLI::App& cli, LoadFlags& flags, const std::string& config_help);

// Well above the server's default letter limit (50 MiB), so the server's limit is what binds.
inline constexpr int kMaxMessageBytes = 64 << 20;

// Like client::Connect, plus arguments that give each worker a connection of its own:
// channels with equal arguments otherwise share one subchannel from gRPC's global pool, and
// all workers would multiplex over a single HTTP/2 connection. `worker` tells the channels
// apart. Waits up to 10 s for the connection; UNAVAILABLE if it is not up by then.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::Channel>> WorkerChannel(
    const client::ConnectionOptions& options, int worker);

// A letter with no recipient yet, the title "Benchmark letter", `reference` as its external
// reference, and one PDF document of `document_bytes` (>= 16): the PDF header, then random
// bytes (random so that nothing on the way can compress it).
v1::SendLetterRequest MakeLetter(uint64_t document_bytes, std::string_view reference,
                                 std::mt19937_64& random);

// Reports the first error of each code on stderr, prefixed with `program` (the JSON output
// only counts them). Thread-safe.
class ErrorSampler {
 public:
  explicit ErrorSampler(std::string program) : program_(std::move(program)) {}
  void Note(const absl::Status& status);

 private:
  const std::string program_;
  std::mutex mu_;
  std::set<absl::StatusCode> seen_;
};

}  // namespace utpost::bench
