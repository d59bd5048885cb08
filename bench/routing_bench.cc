// utpost_bench_routing: accepted-to-routed throughput and latency, beside SendLetter's
// throughput measured in the same run.
//
// The closed loop of utpost_loadgen (--concurrency workers, each with its own mTLS
// connection, one PDF document of --document-bytes per letter, a fresh idempotency key per
// letter), with the recipients cycling over the cases of the seeded dev registry (kCases) and
// each letter carrying its own postal address. Meanwhile one WatchLetterEvents stream of the
// same organisation, on a connection of its own, receives every event from sequence 0 on.
// For each letter, the time from its SendLetter acknowledgement to the arrival of its ROUTED
// or FAILED event on the stream is taken on this process's steady clock.
//
// The server must be a fresh ledger (the stream replays the organisation's whole history)
// with a router and the dev registry behind it. After --warmup seconds, the next --duration
// seconds are measured; then the load stops and the run waits up to --drain-timeout for
// every acknowledged letter to be routed. One JSON object is printed on stdout:
//   - the SendLetter fields of bench/run_stats.h (Summarise) for calls completing in the
//     window; server_peak_rss_mib is the ledger's;
//   - routed, routed_per_s: routing events (ROUTED or FAILED) arriving in the window, for any
//     letter, and their rate; routed_share: routed_per_s / letters_per_s;
//   - route_p50_ms, route_p99_ms, route_max_ms: acknowledgement to routing event, for the
//     letters acknowledged in the window (an event that arrived before its acknowledgement
//     counts 0 ms; routed_before_ack says how often);
//   - backlog_at_start, backlog_at_end: letters acknowledged but not yet routed at the
//     window's edges (the router kept up if the backlog did not grow);
//   - acknowledged: letters acknowledged over the whole run (warm-up and tail included);
//   - unrouted_at_load_end: letters acknowledged but not yet routed when the load ended (the
//     last acknowledgement); drain_s: from then to the last of their routing events (0 when
//     there were none), null if some never came; drain_letters_per_s: unrouted_at_load_end
//     over the time from the first to the last of those events (null for fewer than two),
//     the rate of a router working off a backlog with no send load beside it, which is what
//     bench/run.sh's catch-up run, whose router starts only after the load, measures;
//   - not_routed: acknowledged letters without a routing event at the end (must be 0);
//     duplicate_events: letters with more than one routing event (must be 0);
//     unacknowledged_routed: routing events for letters whose SendLetter failed;
//   - outcomes: routing events by "STATUS CHANNEL REASON";
//   - ledger, router and courier CPU cores over the window and peak RSS, when their pids are
//     given (the "ledger" is whatever process serves LetterService).
// Progress and the first error of each kind go to stderr.
//
// With --until handed-over (and a courier, print and mailbox-sim behind the ledger), the
// milestone is the letter leaving utpost's hands instead: DELIVERED_DIGITALLY,
// QUEUED_FOR_PRINT or FAILED; the "routed" fields then count that milestone. With
// --recipients mailbox every letter goes to the seeded recipient with a digital mailbox, so
// the run measures delivery through the courier and mailbox-sim alone.
//
// With --letters N the load stops once N letters have been sent (or at the end of
// --duration, whichever comes first), and the measured window ends with the load: e.g. a
// backlog of N letters loaded with no courier running, which bench/run.sh then starts, so
// that drain_letters_per_s is the courier's rate working the backlog off. While waiting
// for the drain, progress is written to stderr every 10 s.
//
// Usage: utpost_bench_routing --config DIR/utpostctl.yaml [--concurrency 16]
//            [--document-bytes 4096] [--duration 10] [--warmup 2] [--drain-timeout 60]
//            [--ledger-pid PID] [--router-pid PID] [--load-ended-file FILE] [--label TEXT]
//            [--until routed|handed-over] [--recipients all|mailbox] [--letters N]
//            [--courier-pid PID]
#include <grpcpp/client_context.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/run_stats.h"
#include "bench/send_load.h"
#include "clients/cpp/utpost_client.h"
#include "common/call_headers.h"
#include "utpost/v1/letters.grpc.pb.h"

namespace utpost::bench {
namespace {

constexpr char kProgram[] = "utpost_bench_routing";

// The seeded dev registry's cases (README, "Recipient registry"): digital mailbox, reserved,
// no mailbox, a mailbox whose provider supports only SUBSTANTIAL (so the letter asks for
// HIGH), an organisation with an inbox, and one without. Each routes to its own channel.
struct Case {
  const char* identifier;
  v1::SecurityLevel security_level;
};
constexpr Case kCases[] = {
    {"15076500565", v1::SECURITY_LEVEL_UNSPECIFIED},
    {"02028234530", v1::SECURITY_LEVEL_UNSPECIFIED},
    {"17059121030", v1::SECURITY_LEVEL_UNSPECIFIED},
    {"09116441796", v1::SECURITY_LEVEL_HIGH},
    {"921837003", v1::SECURITY_LEVEL_UNSPECIFIED},
    {"921837011", v1::SECURITY_LEVEL_UNSPECIFIED},
};
constexpr auto kErrorPause = std::chrono::milliseconds(10);

struct Flags : LoadFlags {
  Flags() { document_bytes = 4096; }
  double drain_timeout_s = 60;
  std::optional<int> ledger_pid;
  std::optional<int> router_pid;
  std::optional<int> courier_pid;
  std::optional<uint64_t> letters;
  std::string load_ended_file;
  std::string label = "routing";
  std::string until = "routed";
  std::string recipients = "all";
};

// Whether `status` is the milestone the run waits for (--until).
bool IsMilestone(v1::LetterStatus status, bool handed_over) {
  if (status == v1::LETTER_STATUS_FAILED) return true;
  if (!handed_over) return status == v1::LETTER_STATUS_ROUTED;
  return status == v1::LETTER_STATUS_DELIVERED_DIGITALLY ||
         status == v1::LETTER_STATUS_QUEUED_FOR_PRINT;
}

int64_t Nanos(SteadyTime::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// Every letter's acknowledgement and routing event, as they arrive. Thread-safe.
class Tracker {
 public:
  struct Letter {
    std::optional<SteadyTime> acked;
    std::optional<SteadyTime> routed;
  };

  void Acked(const std::string& letter_id, SteadyTime at) {
    std::lock_guard lock(mu_);
    Letter& letter = letters_[letter_id];
    letter.acked = at;
    if (!letter.routed) ++outstanding_;
  }

  void Routed(const v1::LetterEvent& event, SteadyTime at) {
    std::lock_guard lock(mu_);
    ++outcomes_[absl::StrCat(v1::LetterStatus_Name(event.status()), " ",
                             v1::Channel_Name(event.channel()), " ",
                             v1::StatusReason_Name(event.reason()))];
    Letter& letter = letters_[event.letter_id()];
    if (letter.routed) {
      ++duplicates_;
      return;
    }
    letter.routed = at;
    if (letter.acked && --outstanding_ == 0) cv_.notify_all();
  }

  // Waits until every acknowledged letter has been routed, or until `deadline`. Returns the
  // number of acknowledged letters not yet routed.
  uint64_t AwaitDrained(SteadyTime deadline) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline, [this] { return outstanding_ == 0; });
    return outstanding_;
  }

  // Call after the load and the stream have stopped.
  const absl::flat_hash_map<std::string, Letter>& letters() const { return letters_; }
  const std::map<std::string, uint64_t>& outcomes() const { return outcomes_; }
  uint64_t duplicates() const { return duplicates_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  absl::flat_hash_map<std::string, Letter> letters_;
  std::map<std::string, uint64_t> outcomes_;
  uint64_t outstanding_ = 0;  // acknowledged, not yet routed
  uint64_t duplicates_ = 0;
};

// The letters the workers may still send (--letters), shared by all of them; unlimited when
// constructed without a limit.
class SendBudget {
 public:
  explicit SendBudget(std::optional<uint64_t> limit) : limit_(limit) {}
  // Whether one more letter may be sent; counts it.
  bool Take() { return !limit_ || taken_.fetch_add(1, std::memory_order_relaxed) < *limit_; }

 private:
  const std::optional<uint64_t> limit_;
  std::atomic<uint64_t> taken_{0};
};

void Work(client::LetterClient& client, v1::SendLetterRequest request,
          const std::vector<v1::Recipient>& recipients, size_t cases, int worker,
          const std::string& key_prefix, const Window& window, SendBudget& budget,
          ErrorSampler& sampler, Tracker& tracker, WorkerStats& stats) {
  v1::PostalAddress& address = *request.mutable_postal_address();
  address.set_postal_code("0150");
  address.set_city("Oslo");
  address.set_country_code("NO");
  for (uint64_t sequence = 0;; ++sequence) {
    const size_t index = (static_cast<uint64_t>(worker) + sequence) % cases;
    *request.mutable_recipient() = recipients[index];
    request.mutable_options()->set_security_level(kCases[index].security_level);
    address.set_name(absl::StrCat("Mottaker ", worker, "-", sequence));
    address.clear_address_lines();
    address.add_address_lines(absl::StrCat("Benchmarkveien ", sequence));
    request.set_idempotency_key(absl::StrCat(key_prefix, sequence));

    const SteadyTime begin = std::chrono::steady_clock::now();
    if (begin >= window.end || !budget.Take()) return;
    absl::StatusOr<v1::SendLetterResponse> response = client.Send(request);
    const SteadyTime end = std::chrono::steady_clock::now();
    if (response.ok()) {
      tracker.Acked(response->letter_id(), end);
    } else {
      sampler.Note(response.status());
    }
    if (window.Counts(end)) {
      if (response.ok()) {
        stats.latencies_ns.push_back(Nanos(end - begin));
      } else {
        ++stats.errors[absl::StatusCodeToString(response.status().code())];
      }
    }
    if (!response.ok()) std::this_thread::sleep_for(kErrorPause);
  }
}

// Reads the organisation's event stream from sequence 0 into `tracker` until `context` is
// cancelled. The stream's end status, OK when it ended by cancellation.
grpc::Status Watch(v1::LetterService::Stub& stub, grpc::ClientContext& context, bool handed_over,
                   Tracker& tracker) {
  v1::WatchLetterEventsRequest request;
  request.set_after_sequence(0);
  auto reader = stub.WatchLetterEvents(&context, request);
  v1::WatchLetterEventsResponse response;
  while (reader->Read(&response)) {
    const SteadyTime at = std::chrono::steady_clock::now();
    for (const v1::LetterEvent& event : response.events()) {
      if (IsMilestone(event.status(), handed_over)) tracker.Routed(event, at);
    }
  }
  grpc::Status status = reader->Finish();
  if (status.error_code() == grpc::StatusCode::CANCELLED) return grpc::Status::OK;
  return status;
}

// CPU seconds used by an optional process so far.
std::optional<double> CpuOf(const std::optional<int>& pid) {
  if (!pid) return std::nullopt;
  return ProcessCpuSeconds(*pid);
}

nlohmann::ordered_json CoresOver(const std::optional<double>& before,
                                 const std::optional<double>& after, double seconds) {
  if (!before || !after) return nullptr;
  return Round3((*after - *before) / seconds);
}

nlohmann::ordered_json RssOf(const std::optional<int>& pid) {
  if (!pid) return nullptr;
  std::optional<double> rss = PeakRssMib(*pid);
  if (!rss) {
    std::cerr << kProgram << ": cannot read VmHWM of process " << *pid << "\n";
    return nullptr;
  }
  return *rss;
}

int Run(const Flags& flags) {
  client::ConnectionOverrides overrides;
  overrides.config = flags.config;
  absl::StatusOr<client::ConnectionOptions> options = client::ResolveConnection(overrides);
  if (!options.ok()) {
    std::cerr << kProgram << ": " << options.status().message() << "\n";
    return 2;
  }
  // kCases' recipients, in order; with --recipients mailbox, the first alone.
  const size_t cases = flags.recipients == "mailbox" ? 1 : std::size(kCases);
  const bool handed_over = flags.until == "handed-over";
  std::vector<v1::Recipient> recipients;
  for (size_t i = 0; i < cases; ++i) {
    const Case& c = kCases[i];
    absl::StatusOr<v1::Recipient> recipient = client::RecipientFromIdentifier(c.identifier);
    if (!recipient.ok()) {
      std::cerr << kProgram << ": " << c.identifier << ": " << recipient.status().message() << "\n";
      return 2;
    }
    recipients.push_back(*std::move(recipient));
  }

  std::random_device seed;
  std::mt19937_64 random((static_cast<uint64_t>(seed()) << 32) ^ seed());
  const std::string run_id = absl::StrCat(absl::Hex(random(), absl::kZeroPad16));

  // The stream first, on a connection of its own, so that no event waits for it.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> watch_channel =
      WorkerChannel(*options, flags.concurrency);
  if (!watch_channel.ok()) {
    std::cerr << kProgram << ": " << watch_channel.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<v1::LetterService::Stub> watch_stub = v1::LetterService::NewStub(*watch_channel);
  grpc::ClientContext watch_context;
  if (options->insecure) {
    watch_context.AddMetadata(common::kInsecureOrganisationHeader, options->organisation);
  }
  Tracker tracker;
  grpc::Status watch_status;
  std::thread watcher(
      [&] { watch_status = Watch(*watch_stub, watch_context, handed_over, tracker); });

  std::vector<std::unique_ptr<client::LetterClient>> clients;
  std::vector<v1::SendLetterRequest> requests;
  for (int i = 0; i < flags.concurrency; ++i) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = WorkerChannel(*options, i);
    if (!channel.ok()) {
      std::cerr << kProgram << ": " << channel.status().message() << "\n";
      watch_context.TryCancel();
      watcher.join();
      return 1;
    }
    clients.push_back(
        std::make_unique<client::LetterClient>(*channel, *options, absl::Seconds(60)));
    requests.push_back(MakeLetter(flags.document_bytes, kProgram, random));
  }

  const Window window =
      Window::After(std::chrono::steady_clock::now(), flags.warmup_s, flags.duration_s);
  std::cerr << kProgram << ": " << flags.label << ": " << flags.concurrency << " workers, "
            << flags.document_bytes << " bytes per letter, " << cases << " recipient cases, until "
            << flags.until << ", " << flags.warmup_s << " s warm-up + " << flags.duration_s
            << " s against " << options->address << "\n";

  ErrorSampler sampler(kProgram);
  SendBudget budget(flags.letters);
  std::vector<WorkerStats> stats(flags.concurrency);
  std::vector<std::thread> workers;
  for (int i = 0; i < flags.concurrency; ++i) {
    workers.emplace_back(Work, std::ref(*clients[i]), std::move(requests[i]), std::cref(recipients),
                         cases, i, absl::StrCat("route-", run_id, "-", i, "-"), std::cref(window),
                         std::ref(budget), std::ref(sampler), std::ref(tracker),
                         std::ref(stats[i]));
  }

  std::this_thread::sleep_until(window.start);
  const double own_cpu_start = OwnCpuSeconds();
  const std::optional<double> ledger_cpu_start = CpuOf(flags.ledger_pid);
  const std::optional<double> router_cpu_start = CpuOf(flags.router_pid);
  const std::optional<double> courier_cpu_start = CpuOf(flags.courier_pid);
  // With --letters the window ends when the last letter has been sent, if that is earlier.
  if (flags.letters) {
    for (std::thread& worker : workers) worker.join();
  } else {
    std::this_thread::sleep_until(window.end);
  }
  const Window measured{window.start,
                        std::clamp(std::chrono::steady_clock::now(), window.start, window.end)};
  const double own_cpu = OwnCpuSeconds() - own_cpu_start;
  const std::optional<double> ledger_cpu_end = CpuOf(flags.ledger_pid);
  const std::optional<double> router_cpu_end = CpuOf(flags.router_pid);
  const std::optional<double> courier_cpu_end = CpuOf(flags.courier_pid);
  for (std::thread& worker : workers) {
    if (worker.joinable()) worker.join();
  }
  const SteadyTime load_end = std::chrono::steady_clock::now();
  if (!flags.load_ended_file.empty() && !std::ofstream(flags.load_ended_file)) {
    std::cerr << kProgram << ": cannot write " << flags.load_ended_file << "\n";
  }

  const SteadyTime drain_deadline =
      load_end + std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::duration<double>(flags.drain_timeout_s));
  constexpr auto kProgressEvery = std::chrono::seconds(10);
  for (SteadyTime next = load_end + kProgressEvery;; next += kProgressEvery) {
    const uint64_t outstanding = tracker.AwaitDrained(std::min(next, drain_deadline));
    if (outstanding == 0 || std::chrono::steady_clock::now() >= drain_deadline) break;
    std::cerr << kProgram << ": " << flags.label << ": " << outstanding << " letters not yet "
              << flags.until << " "
              << std::chrono::duration_cast<std::chrono::seconds>(next - load_end).count()
              << " s after the load\n";
  }
  watch_context.TryCancel();
  watcher.join();
  if (!watch_status.ok()) {
    std::cerr << kProgram << ": the event stream ended: " << watch_status.error_message() << "\n";
  }

  // Everything below reads the tracker alone: the workers and the stream have stopped.
  const auto backlog_at = [&](SteadyTime t) {
    uint64_t n = 0;
    for (const auto& entry : tracker.letters()) {
      const Tracker::Letter& l = entry.second;
      if (l.acked && *l.acked <= t && (!l.routed || *l.routed > t)) ++n;
    }
    return n;
  };
  uint64_t acknowledged = 0, routed_in_window = 0, not_routed = 0, unacknowledged_routed = 0;
  uint64_t routed_before_ack = 0;
  // The routing events, after load_end, of the letters unrouted then: the first and the last.
  std::optional<SteadyTime> first_drained, last_drained;
  std::vector<int64_t> route_latencies;
  for (const auto& entry : tracker.letters()) {
    const Tracker::Letter& l = entry.second;
    if (l.routed && measured.Counts(*l.routed)) ++routed_in_window;
    if (!l.acked) {
      ++unacknowledged_routed;
      continue;
    }
    ++acknowledged;
    if (!l.routed) {
      ++not_routed;
      continue;
    }
    if (*l.routed > load_end) {
      if (!first_drained || *l.routed < *first_drained) first_drained = *l.routed;
      if (!last_drained || *l.routed > *last_drained) last_drained = *l.routed;
    }
    if (!measured.Counts(*l.acked)) continue;
    if (*l.routed < *l.acked) ++routed_before_ack;
    route_latencies.push_back(std::max<int64_t>(0, Nanos(*l.routed - *l.acked)));
  }

  const double seconds = measured.Seconds();
  RunDescription run{flags.label, flags.concurrency, flags.document_bytes, measured};
  nlohmann::ordered_json out = Summarise(run, stats);
  out["milestone"] = flags.until;
  out["server_peak_rss_mib"] = RssOf(flags.ledger_pid);
  out["routed"] = routed_in_window;
  out["routed_per_s"] = Round3(static_cast<double>(routed_in_window) / seconds);
  const double letters_per_s = out["letters_per_s"].get<double>();
  out["routed_share"] =
      letters_per_s > 0
          ? nlohmann::ordered_json(Round3(out["routed_per_s"].get<double>() / letters_per_s))
          : nlohmann::ordered_json(nullptr);
  const nlohmann::ordered_json route = LatencyJson(std::move(route_latencies));
  out["route_p50_ms"] = route["p50_ms"];
  out["route_p99_ms"] = route["p99_ms"];
  out["route_max_ms"] = route["max_ms"];
  out["routed_before_ack"] = routed_before_ack;
  out["backlog_at_start"] = backlog_at(measured.start);
  out["backlog_at_end"] = backlog_at(measured.end);
  out["acknowledged"] = acknowledged;
  const uint64_t unrouted_at_load_end = backlog_at(load_end);
  out["unrouted_at_load_end"] = unrouted_at_load_end;
  if (not_routed > 0) {
    out["drain_s"] = nullptr;
  } else {
    out["drain_s"] = last_drained
                         ? Round3(std::chrono::duration<double>(*last_drained - load_end).count())
                         : 0.0;
  }
  const double drain_span_s =
      first_drained && last_drained
          ? std::chrono::duration<double>(*last_drained - *first_drained).count()
          : 0.0;
  out["drain_letters_per_s"] =
      not_routed == 0 && unrouted_at_load_end >= 2 && drain_span_s > 0
          ? nlohmann::ordered_json(Round3(static_cast<double>(unrouted_at_load_end) / drain_span_s))
          : nlohmann::ordered_json(nullptr);
  out["not_routed"] = not_routed;
  out["duplicate_events"] = tracker.duplicates();
  out["unacknowledged_routed"] = unacknowledged_routed;
  out["outcomes"] = nlohmann::ordered_json::object();
  for (const auto& [outcome, count] : tracker.outcomes()) out["outcomes"][outcome] = count;
  out["ledger_cpu_cores"] = CoresOver(ledger_cpu_start, ledger_cpu_end, seconds);
  out["router_cpu_cores"] = CoresOver(router_cpu_start, router_cpu_end, seconds);
  out["router_peak_rss_mib"] = RssOf(flags.router_pid);
  out["courier_cpu_cores"] = CoresOver(courier_cpu_start, courier_cpu_end, seconds);
  out["courier_peak_rss_mib"] = RssOf(flags.courier_pid);
  out["loadgen_cpu_cores"] = Round3(own_cpu / seconds);
  out["stream_error"] = watch_status.ok() ? nlohmann::ordered_json(nullptr)
                                          : nlohmann::ordered_json(watch_status.error_message());
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace utpost::bench

int main(int argc, char** argv) {
  utpost::bench::Flags flags;
  CLI::App cli{"utpost_bench_routing: accepted-to-routed latency and throughput under load"};
  AddLoadFlags(cli, flags, "utpostctl.yaml of the ledger's organisation");
  cli.add_option("--drain-timeout", flags.drain_timeout_s,
                 "seconds to wait after the load for the last letters to be routed")
      ->check(CLI::Range(0.0, 3600.0));
  cli.add_option("--ledger-pid", flags.ledger_pid,
                 "ledger process: report its peak RSS (VmHWM) and CPU use");
  cli.add_option("--router-pid", flags.router_pid,
                 "router process: report its peak RSS (VmHWM) and CPU use");
  cli.add_option("--courier-pid", flags.courier_pid,
                 "courier process: report its peak RSS (VmHWM) and CPU use");
  cli.add_option("--letters", flags.letters,
                 "stop the load after this many letters (or at the end of --duration); the "
                 "measured window ends with the load")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  cli.add_option("--load-ended-file", flags.load_ended_file,
                 "created when the load has ended (e.g. to start a router only then)");
  cli.add_option("--label", flags.label, "names the run in the JSON output");
  cli.add_option("--until", flags.until,
                 "routed: ROUTED or FAILED; handed-over: DELIVERED_DIGITALLY, QUEUED_FOR_PRINT "
                 "or FAILED (needs courier, print and mailbox-sim)")
      ->check(CLI::IsMember({"routed", "handed-over"}));
  cli.add_option("--recipients", flags.recipients,
                 "all: every seeded case in turn; mailbox: the recipient with a digital mailbox")
      ->check(CLI::IsMember({"all", "mailbox"}));
  CLI11_PARSE(cli, argc, argv);
  return utpost::bench::Run(flags);
}
