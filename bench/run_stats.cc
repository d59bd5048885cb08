#include "bench/run_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace utpost::bench {
namespace {

// Nearest-rank percentile of sorted, non-empty `values`, in milliseconds.
double PercentileMs(const std::vector<int64_t>& sorted, double p) {
  const double rank = std::ceil(p * static_cast<double>(sorted.size()));
  const size_t index = static_cast<size_t>(std::max(rank, 1.0)) - 1;
  return static_cast<double>(sorted[std::min(index, sorted.size() - 1)]) / 1e6;
}

double TimevalSeconds(const timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

}  // namespace

Window Window::After(SteadyTime begin, double warmup_s, double duration_s) {
  const auto seconds = [](double s) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s));
  };
  return Window{begin + seconds(warmup_s), begin + seconds(warmup_s + duration_s)};
}

double Round3(double value) { return std::round(value * 1000.0) / 1000.0; }

nlohmann::ordered_json Summarise(const RunDescription& run,
                                 const std::vector<WorkerStats>& workers) {
  std::vector<int64_t> latencies;
  std::map<std::string, uint64_t> errors;
  for (const WorkerStats& worker : workers) {
    latencies.insert(latencies.end(), worker.latencies_ns.begin(), worker.latencies_ns.end());
    for (const auto& [name, count] : worker.errors) errors[name] += count;
  }
  const double seconds = run.window.Seconds();
  const uint64_t letters = latencies.size();

  nlohmann::ordered_json out;
  out["label"] = run.label;
  out["concurrency"] = run.concurrency;
  out["document_bytes"] = run.document_bytes;
  out["duration_s"] = Round3(seconds);
  out["letters"] = letters;
  out["errors"] = nlohmann::ordered_json::object();
  for (const auto& [name, count] : errors) out["errors"][name] = count;
  out["letters_per_s"] = Round3(static_cast<double>(letters) / seconds);
  out["mib_per_s"] = Round3(static_cast<double>(letters) * static_cast<double>(run.document_bytes) /
                            static_cast<double>(1 << 20) / seconds);
  out.update(LatencyJson(std::move(latencies)));
  out["server_peak_rss_mib"] = nullptr;
  return out;
}

nlohmann::ordered_json LatencyJson(std::vector<int64_t> latencies_ns) {
  std::sort(latencies_ns.begin(), latencies_ns.end());
  nlohmann::ordered_json out;
  if (latencies_ns.empty()) {
    out["p50_ms"] = nullptr;
    out["p99_ms"] = nullptr;
    out["max_ms"] = nullptr;
  } else {
    out["p50_ms"] = Round3(PercentileMs(latencies_ns, 0.50));
    out["p99_ms"] = Round3(PercentileMs(latencies_ns, 0.99));
    out["max_ms"] = Round3(static_cast<double>(latencies_ns.back()) / 1e6);
  }
  return out;
}

std::optional<double> PeakRssMib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    uint64_t kib = 0;
    if (fields >> kib) return Round3(static_cast<double>(kib) / 1024.0);
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<double> ProcessCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces; fields are counted
  // from the last ')'. utime and stime are fields 14 and 15, the 12th and 13th after it.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 0; i < 11; ++i) {
    if (!(fields >> field)) return std::nullopt;
  }
  if (!(fields >> utime >> stime)) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double OwnCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return TimevalSeconds(usage.ru_utime) + TimevalSeconds(usage.ru_stime);
}

}  // namespace utpost::bench
