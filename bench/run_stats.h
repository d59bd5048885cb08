// What a closed-loop benchmark run measured, and how it is reported: one JSON object per run
// (bench/run.sh collects them into bench/results.md). Shared by utpost_loadgen and
// utpost_bench_ceilings so that every row of the results table means the same thing.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace utpost::bench {

using SteadyTime = std::chrono::steady_clock::time_point;

// The measurement window of a closed-loop run. An operation counts when it completes inside
// [start, end]: in steady state that neither loses nor double-counts the operations in flight
// at either edge, whereas "started and completed inside" would drop up to one operation per
// worker at each edge (several per cent at 1 MiB letters).
struct Window {
  SteadyTime start;
  SteadyTime end;

  // The window that opens `warmup_s` after `begin` and lasts `duration_s`.
  static Window After(SteadyTime begin, double warmup_s, double duration_s);

  bool Counts(SteadyTime completed) const { return completed >= start && completed <= end; }
  double Seconds() const { return std::chrono::duration<double>(end - start).count(); }
};

// What one worker thread saw. Not thread-safe: each worker owns one; merge after joining.
struct WorkerStats {
  // Latency of each successful operation, nanoseconds.
  std::vector<int64_t> latencies_ns;
  // Failed operations by error name (a gRPC status code name, or an errno name).
  std::map<std::string, uint64_t> errors;
};

struct RunDescription {
  std::string label;
  int concurrency = 0;
  // Payload bytes per operation (the document size of one letter).
  uint64_t document_bytes = 0;
  Window window;
};

// The JSON object of one run: label, concurrency, document_bytes, duration_s, letters,
// errors (by name), letters_per_s, mib_per_s (payload bytes of successful operations),
// p50_ms, p99_ms, max_ms (nearest-rank, successful operations only; null when none), and
// server_peak_rss_mib (null here; the caller fills it when it knows the server).
nlohmann::ordered_json Summarise(const RunDescription& run,
                                 const std::vector<WorkerStats>& workers);

// {"p50_ms", "p99_ms", "max_ms"} of `latencies_ns` (nearest rank; each null when empty).
nlohmann::ordered_json LatencyJson(std::vector<int64_t> latencies_ns);

// VmHWM of `pid` (its peak resident set since it started) in MiB; nullopt if unreadable.
std::optional<double> PeakRssMib(pid_t pid);

// User + system CPU time `pid` has used so far, in seconds; nullopt if unreadable.
std::optional<double> ProcessCpuSeconds(pid_t pid);

// User + system CPU time of this process so far, in seconds.
double OwnCpuSeconds();

// `value` rounded to three decimals, so the JSON stays readable.
double Round3(double value);

}  // namespace utpost::bench
