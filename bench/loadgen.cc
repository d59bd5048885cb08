// utpost_loadgen: closed-loop SendLetter load over mutual TLS.
//
// Each of --concurrency workers has its own channel (its own TCP + TLS connection, as
// separate case systems would) and loops: SendLetter with one PDF document of
// --document-bytes to a valid recipient and a fresh idempotency key, wait for the reply,
// repeat. After --warmup seconds, operations completing in the next --duration seconds are
// counted. One JSON object (bench/run_stats.h) is printed on stdout; progress and the first
// error of each kind go to stderr.
//
// With --fill N, the workers first store N letters the same way (as fast as they go, not
// measured), then the warm-up and the measured window follow: the cost of a send into a
// store that already holds N letters. The JSON then has stored_before and fill_seconds.
//
// Usage: utpost_loadgen --config DIR/utpostctl.yaml [--concurrency 16] [--document-bytes 65536]
//                       [--duration 10] [--warmup 2] [--fill N] [--server-pid PID]
//                       [--label TEXT]
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/run_stats.h"
#include "bench/send_load.h"
#include "clients/cpp/utpost_client.h"

namespace utpost::bench {
namespace {

// A valid Norwegian national identity number (checksums and date hold).
constexpr char kRecipient[] = "15076500565";
// Pause after a failed call, so that a server that refuses everything is not spun on.
constexpr auto kErrorPause = std::chrono::milliseconds(10);

struct Flags : LoadFlags {
  std::optional<int> server_pid;
  std::string label = "utpost";
  uint64_t fill = 0;
};

// Stores letters until `next` reaches `total` (shared by the workers), retrying a failed one.
void Fill(client::LetterClient& client, v1::SendLetterRequest request,
          const std::string& key_prefix, std::atomic<uint64_t>& next, uint64_t total,
          ErrorSampler& sampler) {
  for (uint64_t i = next++; i < total; i = next++) {
    request.set_idempotency_key(absl::StrCat(key_prefix, "fill-", i));
    while (true) {
      absl::StatusOr<v1::SendLetterResponse> response = client.Send(request);
      if (response.ok()) break;
      sampler.Note(response.status());
      std::this_thread::sleep_for(kErrorPause);
    }
    if ((i + 1) % 10000 == 0) std::cerr << "utpost_loadgen: stored " << i + 1 << " letters\n";
  }
}

void Work(client::LetterClient& client, v1::SendLetterRequest request,
          const std::string& key_prefix, const Window& window, ErrorSampler& sampler,
          WorkerStats& stats) {
  for (uint64_t sequence = 0;; ++sequence) {
    const SteadyTime begin = std::chrono::steady_clock::now();
    if (begin >= window.end) return;
    request.set_idempotency_key(absl::StrCat(key_prefix, sequence));
    absl::StatusOr<v1::SendLetterResponse> response = client.Send(request);
    const SteadyTime end = std::chrono::steady_clock::now();
    if (!response.ok()) sampler.Note(response.status());
    if (window.Counts(end)) {
      if (response.ok()) {
        stats.latencies_ns.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(end - begin).count());
      } else {
        ++stats.errors[absl::StatusCodeToString(response.status().code())];
      }
    }
    if (!response.ok()) std::this_thread::sleep_for(kErrorPause);
  }
}

int Run(const Flags& flags) {
  client::ConnectionOverrides overrides;
  overrides.config = flags.config;
  absl::StatusOr<client::ConnectionOptions> options = client::ResolveConnection(overrides);
  if (!options.ok()) {
    std::cerr << "utpost_loadgen: " << options.status().message() << "\n";
    return 2;
  }

  std::random_device seed;
  std::mt19937_64 random((static_cast<uint64_t>(seed()) << 32) ^ seed());
  // Keys unique across runs, so a rerun against the same data directory stores new letters
  // rather than replaying earlier ones.
  const std::string run_id = absl::StrCat(absl::Hex(random(), absl::kZeroPad16));

  std::vector<std::unique_ptr<client::LetterClient>> clients;
  std::vector<v1::SendLetterRequest> requests;
  for (int i = 0; i < flags.concurrency; ++i) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = WorkerChannel(*options, i);
    if (!channel.ok()) {
      std::cerr << "utpost_loadgen: " << channel.status().message() << "\n";
      return 1;
    }
    clients.push_back(
        std::make_unique<client::LetterClient>(*channel, *options, absl::Seconds(60)));
    v1::SendLetterRequest request = MakeLetter(flags.document_bytes, "utpost_loadgen", random);
    request.mutable_recipient()->mutable_person()->set_norwegian_national_id(kRecipient);
    requests.push_back(std::move(request));
  }

  ErrorSampler sampler("utpost_loadgen");
  double fill_seconds = 0;
  if (flags.fill > 0) {
    std::cerr << "utpost_loadgen: storing " << flags.fill << " letters first\n";
    const SteadyTime begin = std::chrono::steady_clock::now();
    std::atomic<uint64_t> next{0};
    std::vector<std::thread> fillers;
    for (int i = 0; i < flags.concurrency; ++i) {
      fillers.emplace_back(Fill, std::ref(*clients[i]), requests[i],
                           absl::StrCat("bench-", run_id, "-", i, "-"), std::ref(next), flags.fill,
                           std::ref(sampler));
    }
    for (std::thread& filler : fillers) filler.join();
    fill_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  }

  const Window window =
      Window::After(std::chrono::steady_clock::now(), flags.warmup_s, flags.duration_s);
  std::cerr << "utpost_loadgen: " << flags.label << ": " << flags.concurrency << " workers, "
            << flags.document_bytes << " bytes per letter, " << flags.warmup_s << " s warm-up + "
            << flags.duration_s << " s against " << options->address << "\n";

  std::vector<WorkerStats> stats(flags.concurrency);
  std::vector<std::thread> workers;
  for (int i = 0; i < flags.concurrency; ++i) {
    workers.emplace_back(Work, std::ref(*clients[i]), std::move(requests[i]),
                         absl::StrCat("bench-", run_id, "-", i, "-"), std::cref(window),
                         std::ref(sampler), std::ref(stats[i]));
  }

  // CPU used during the window: the load generator shares the machine with the server, so
  // both are reported.
  std::this_thread::sleep_until(window.start);
  const double own_cpu_start = OwnCpuSeconds();
  std::optional<double> server_cpu_start;
  if (flags.server_pid) server_cpu_start = ProcessCpuSeconds(*flags.server_pid);
  std::this_thread::sleep_until(window.end);
  const double own_cpu = OwnCpuSeconds() - own_cpu_start;
  std::optional<double> server_cpu;
  if (server_cpu_start) {
    if (std::optional<double> now = ProcessCpuSeconds(*flags.server_pid)) {
      server_cpu = *now - *server_cpu_start;
    }
  }
  for (std::thread& worker : workers) worker.join();

  RunDescription run{flags.label, flags.concurrency, flags.document_bytes, window};
  nlohmann::ordered_json out = Summarise(run, stats);
  if (flags.server_pid) {
    if (std::optional<double> rss = PeakRssMib(*flags.server_pid)) {
      out["server_peak_rss_mib"] = *rss;
    } else {
      std::cerr << "utpost_loadgen: cannot read VmHWM of process " << *flags.server_pid << "\n";
    }
  }
  out["loadgen_cpu_cores"] = Round3(own_cpu / window.Seconds());
  if (flags.fill > 0) {
    out["stored_before"] = flags.fill;
    out["fill_seconds"] = Round3(fill_seconds);
  }
  if (server_cpu) {
    out["server_cpu_cores"] = Round3(*server_cpu / window.Seconds());
  } else {
    out["server_cpu_cores"] = nullptr;
  }
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace utpost::bench

int main(int argc, char** argv) {
  utpost::bench::Flags flags;
  CLI::App cli{"utpost_loadgen: closed-loop SendLetter load over mutual TLS"};
  AddLoadFlags(cli, flags, "utpostctl.yaml written by utpost (or the echo server)");
  cli.add_option("--server-pid", flags.server_pid,
                 "server process: report its peak RSS (VmHWM) and CPU use");
  cli.add_option("--label", flags.label, "names the run in the JSON output");
  cli.add_option("--fill", flags.fill,
                 "store this many letters first (not measured), then warm up and measure");
  CLI11_PARSE(cli, argc, argv);
  return utpost::bench::Run(flags);
}
