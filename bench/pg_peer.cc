// utpost_bench_pg: the PostgreSQL peer of the SendLetter benchmark, what a municipality would
// otherwise run: its case system inserting each letter, document included, into its own
// PostgreSQL.
//
// Each of --concurrency workers has its own libpq connection (TCP, as --conninfo says) and
// loops: one autocommit INSERT of a row (recipient text, status text, document bytea) into
// the table `letters`, the document of --document-bytes sent as a binary parameter of a
// prepared statement (the same bytes per letter as utpost_loadgen sends: bench/document.h),
// wait for the reply (the new row's id), repeat. After --warmup seconds, inserts completing
// in the next --duration seconds are counted. The table is dropped and created first:
//
//   CREATE TABLE letters (id bigserial PRIMARY KEY, recipient text NOT NULL,
//                         status text NOT NULL, document bytea NOT NULL,
//                         created_at timestamptz NOT NULL DEFAULT now())
//
// One JSON object with utpost_loadgen's fields (bench/run_stats.h) is printed on stdout.
// With --server-pid (the postmaster), the server's figures are those of the postmaster and
// its child processes (backends, WAL writer, checkpointer, background writer, autovacuum):
//   server_peak_rss_mib   the highest sum of their PSS (proportional set size, from
//                         /proc/PID/smaps_rollup; shared buffers count once), sampled every
//                         250 ms from before the first insert to after the last;
//   server_vmhwm_sum_mib  the sum of their VmHWM at the end: an upper bound that counts the
//                         shared memory once per process that touched it;
//   server_cpu_cores      their CPU seconds per second over the measured window (children
//                         that exited within it are counted through the postmaster's cutime).
// Also: wal_mib (WAL written from before the first insert to after the last),
// inserted (every successful insert, warm-up included), rows (count(*) at the end) and
// table_mib (pg_total_relation_size of letters, TOAST and index included).
//
// Usage: utpost_bench_pg --conninfo 'host=127.0.0.1 port=P user=postgres dbname=postgres'
//                        [--concurrency 16] [--document-bytes 65536] [--duration 10]
//                        [--warmup 2] [--server-pid PID] [--label TEXT]
#include <dirent.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/document.h"
#include "bench/run_stats.h"

namespace utpost::bench {
namespace {

constexpr char kProgram[] = "utpost_bench_pg";
// The recipient and status every row gets (the recipient is utpost_loadgen's).
constexpr char kRecipient[] = "15076500565";
constexpr char kStatus[] = "ACCEPTED";
constexpr char kStatement[] = "insert_letter";
constexpr char kInsert[] =
    "INSERT INTO letters (recipient, status, document) VALUES ($1, $2, $3) RETURNING id";
constexpr char kCreateTable[] =
    "DROP TABLE IF EXISTS letters; "
    "CREATE TABLE letters (id bigserial PRIMARY KEY, recipient text NOT NULL, "
    "status text NOT NULL, document bytea NOT NULL, "
    "created_at timestamptz NOT NULL DEFAULT now())";
// Pause after a failed insert, so that a server that refuses everything is not spun on.
constexpr auto kErrorPause = std::chrono::milliseconds(10);
constexpr auto kSampleEvery = std::chrono::milliseconds(250);
// Type OIDs of the statement's parameters (pg_type.h is a server header): text, text, bytea.
constexpr Oid kTextOid = 25;
constexpr Oid kByteaOid = 17;

struct Flags {
  std::string conninfo;
  int concurrency = 16;
  uint64_t document_bytes = 65536;
  double duration_s = 10;
  double warmup_s = 2;
  std::optional<int> server_pid;
  std::string label = "PostgreSQL peer";
};

struct ConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// The first line of libpq's error message of `conn`.
std::string ConnError(PGconn* conn) {
  std::string message = PQerrorMessage(conn);
  if (const size_t newline = message.find('\n'); newline != std::string::npos) {
    message.resize(newline);
  }
  return message;
}

// The name an error is counted under: its SQLSTATE, or "connection" when the connection is
// gone (libpq sets no SQLSTATE then).
std::string ErrorName(PGconn* conn, const PGresult* result) {
  if (PQstatus(conn) == CONNECTION_BAD) return "connection";
  const char* state = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  return state == nullptr ? "unknown" : std::string("SQLSTATE ") + state;
}

// Reports the first error of each name on stderr (the JSON output only counts them).
class ErrorSampler {
 public:
  void Note(const std::string& name, const std::string& message) {
    std::lock_guard lock(mu_);
    if (seen_.insert(name).second) {
      std::cerr << kProgram << ": first " << name << ": " << message << "\n";
    }
  }

 private:
  std::mutex mu_;
  std::set<std::string> seen_;
};

void IgnoreNotice(void* /*arg*/, const char* /*message*/) {}

Conn Connect(const std::string& conninfo) {
  Conn conn(PQconnectdb(conninfo.c_str()));
  if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
    std::cerr << kProgram << ": cannot connect ("
              << (conn == nullptr ? "out of memory" : ConnError(conn.get())) << ")\n";
    return nullptr;
  }
  // Notices (e.g. DROP TABLE IF EXISTS of a table that is not there) are not errors.
  PQsetNoticeProcessor(conn.get(), IgnoreNotice, nullptr);
  return conn;
}

bool Prepare(PGconn* conn) {
  const Oid types[] = {kTextOid, kTextOid, kByteaOid};
  Result result(PQprepare(conn, kStatement, kInsert, 3, types));
  if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    std::cerr << kProgram << ": cannot prepare the insert (" << ConnError(conn) << ")\n";
    return false;
  }
  return true;
}

// Runs `sql` (one or more statements, no parameters) and returns the first column of the
// first row of the last statement's result ("" when it has none), or nullopt on failure.
std::optional<std::string> Query(PGconn* conn, const std::string& sql) {
  Result result(PQexec(conn, sql.c_str()));
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    std::cerr << kProgram << ": " << sql << ": " << ConnError(conn) << "\n";
    return std::nullopt;
  }
  if (status == PGRES_COMMAND_OK || PQntuples(result.get()) == 0) return std::string();
  return std::string(PQgetvalue(result.get(), 0, 0));
}

void Work(PGconn* conn, const std::string& conninfo, const std::string& document,
          const Window& window, ErrorSampler& sampler, WorkerStats& stats,
          std::atomic<uint64_t>& inserted) {
  const char* values[] = {kRecipient, kStatus, document.data()};
  const int lengths[] = {0, 0, static_cast<int>(document.size())};
  // Text for the two text parameters, binary for the document: no escaping, no hex.
  const int formats[] = {0, 0, 1};
  Conn reconnected;
  for (;;) {
    const SteadyTime begin = std::chrono::steady_clock::now();
    if (begin >= window.end) return;
    Result result(PQexecPrepared(conn, kStatement, 3, values, lengths, formats, 0));
    const SteadyTime end = std::chrono::steady_clock::now();
    const bool ok = PQresultStatus(result.get()) == PGRES_TUPLES_OK && PQntuples(result.get()) == 1;
    std::string error;
    if (ok) {
      inserted.fetch_add(1, std::memory_order_relaxed);
    } else {
      error = ErrorName(conn, result.get());
      sampler.Note(error, ConnError(conn));
    }
    if (window.Counts(end)) {
      if (ok) {
        stats.latencies_ns.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(end - begin).count());
      } else {
        ++stats.errors[error];
      }
    }
    if (ok) continue;
    std::this_thread::sleep_for(kErrorPause);
    if (PQstatus(conn) == CONNECTION_BAD) {
      // A new connection, with the statement prepared again; the old one stays with its
      // owner. If that fails too, the next insert fails fast and this repeats.
      Conn fresh(PQconnectdb(conninfo.c_str()));
      if (fresh != nullptr && PQstatus(fresh.get()) == CONNECTION_OK && Prepare(fresh.get())) {
        reconnected = std::move(fresh);
        conn = reconnected.get();
      }
    }
  }
}

// /proc/PID/stat of one process: its parent, and its own and its reaped children's CPU
// ticks.
struct ProcStat {
  pid_t ppid = 0;
  uint64_t self_ticks = 0;
  uint64_t children_ticks = 0;
};

std::optional<ProcStat> ReadStat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  // Fields are counted from the last ')' (the command name may hold spaces): state, ppid,
  // then utime, stime, cutime, cstime are the 12th to 15th after it.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::string state, skip;
  ProcStat out;
  if (!(fields >> state >> out.ppid)) return std::nullopt;
  for (int i = 0; i < 9; ++i) {
    if (!(fields >> skip)) return std::nullopt;
  }
  uint64_t utime = 0, stime = 0, cutime = 0, cstime = 0;
  if (!(fields >> utime >> stime >> cutime >> cstime)) return std::nullopt;
  out.self_ticks = utime + stime;
  out.children_ticks = cutime + cstime;
  return out;
}

// The postmaster `root` and its children (PostgreSQL forks every server process from the
// postmaster, so there are no grandchildren).
std::vector<pid_t> ServerProcesses(pid_t root) {
  std::vector<pid_t> pids = {root};
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (const dirent* entry = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || pid == root) continue;
    if (std::optional<ProcStat> stat = ReadStat(static_cast<pid_t>(pid));
        stat && stat->ppid == root) {
      pids.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(proc);
  return pids;
}

// CPU seconds of the postmaster's tree: every live process's own, plus what the postmaster
// has reaped of exited children.
std::optional<double> ServerCpuSeconds(pid_t root) {
  std::optional<ProcStat> postmaster = ReadStat(root);
  if (!postmaster) return std::nullopt;
  uint64_t ticks = postmaster->children_ticks;
  for (pid_t pid : ServerProcesses(root)) {
    if (std::optional<ProcStat> stat = ReadStat(pid)) ticks += stat->self_ticks;
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The value in kB of the line starting with `key` in /proc/PID/`file`, or nullopt.
std::optional<uint64_t> ProcKib(pid_t pid, const char* file, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    std::istringstream fields(line.substr(key.size()));
    uint64_t kib = 0;
    if (fields >> kib) return kib;
    return std::nullopt;
  }
  return std::nullopt;
}

// Sum over the postmaster's tree of `key` in `file`, in MiB; nullopt if the postmaster's own
// is unreadable (a process that exited meanwhile is skipped).
std::optional<double> ServerSumMib(pid_t root, const char* file, const std::string& key) {
  if (!ProcKib(root, file, key)) return std::nullopt;
  uint64_t kib = 0;
  for (pid_t pid : ServerProcesses(root)) kib += ProcKib(pid, file, key).value_or(0);
  return static_cast<double>(kib) / 1024.0;
}

std::optional<double> ServerPssMib(pid_t root) {
  return ServerSumMib(root, "smaps_rollup", "Pss:");
}

// Sleeps until `until`, sampling the server's PSS into `peak` meanwhile (with a server).
void SampleUntil(const Flags& flags, SteadyTime until, std::optional<double>& peak) {
  for (;;) {
    if (flags.server_pid) {
      if (std::optional<double> pss = ServerPssMib(*flags.server_pid)) {
        if (!peak || *pss > *peak) peak = *pss;
      }
    }
    const SteadyTime now = std::chrono::steady_clock::now();
    if (now >= until) return;
    std::this_thread::sleep_until(std::min(until, now + kSampleEvery));
  }
}

int Run(const Flags& flags) {
  Conn admin = Connect(flags.conninfo);
  if (admin == nullptr) return 1;
  if (!Query(admin.get(), kCreateTable)) return 1;
  const std::optional<std::string> wal_start = Query(admin.get(), "SELECT pg_current_wal_lsn()");
  if (!wal_start) return 1;

  std::random_device seed;
  std::mt19937_64 random((static_cast<uint64_t>(seed()) << 32) ^ seed());
  std::vector<Conn> conns;
  std::vector<std::string> documents;
  for (int i = 0; i < flags.concurrency; ++i) {
    Conn conn = Connect(flags.conninfo);
    if (conn == nullptr || !Prepare(conn.get())) return 1;
    conns.push_back(std::move(conn));
    documents.push_back(MakePdfDocument(flags.document_bytes, random));
  }

  const Window window =
      Window::After(std::chrono::steady_clock::now(), flags.warmup_s, flags.duration_s);
  std::cerr << kProgram << ": " << flags.label << ": " << flags.concurrency << " workers, "
            << flags.document_bytes << " bytes per letter, " << flags.warmup_s << " s warm-up + "
            << flags.duration_s << " s against " << PQhost(admin.get()) << ":"
            << PQport(admin.get()) << "\n";

  ErrorSampler sampler;
  std::atomic<uint64_t> inserted{0};
  std::vector<WorkerStats> stats(flags.concurrency);
  std::vector<std::thread> workers;
  for (int i = 0; i < flags.concurrency; ++i) {
    workers.emplace_back(Work, conns[i].get(), std::cref(flags.conninfo), std::cref(documents[i]),
                         std::cref(window), std::ref(sampler), std::ref(stats[i]),
                         std::ref(inserted));
  }

  std::optional<double> peak_pss;
  SampleUntil(flags, window.start, peak_pss);
  const double own_cpu_start = OwnCpuSeconds();
  std::optional<double> server_cpu_start;
  if (flags.server_pid) server_cpu_start = ServerCpuSeconds(*flags.server_pid);
  SampleUntil(flags, window.end, peak_pss);
  const double own_cpu = OwnCpuSeconds() - own_cpu_start;
  std::optional<double> server_cpu;
  if (server_cpu_start) {
    if (std::optional<double> now = ServerCpuSeconds(*flags.server_pid)) {
      server_cpu = *now - *server_cpu_start;
    }
  }
  for (std::thread& worker : workers) worker.join();
  SampleUntil(flags, std::chrono::steady_clock::now(), peak_pss);

  RunDescription run{flags.label, flags.concurrency, flags.document_bytes, window};
  nlohmann::ordered_json out = Summarise(run, stats);
  if (flags.server_pid) {
    if (peak_pss) {
      out["server_peak_rss_mib"] = Round3(*peak_pss);
    } else {
      std::cerr << kProgram << ": cannot read the PSS of process " << *flags.server_pid << "\n";
    }
    std::optional<double> hwm = ServerSumMib(*flags.server_pid, "status", "VmHWM:");
    out["server_vmhwm_sum_mib"] = hwm ? nlohmann::ordered_json(Round3(*hwm)) : nullptr;
    out["server_processes"] = ServerProcesses(*flags.server_pid).size();
  }
  out["loadgen_cpu_cores"] = Round3(own_cpu / window.Seconds());
  if (server_cpu) {
    out["server_cpu_cores"] = Round3(*server_cpu / window.Seconds());
  } else {
    out["server_cpu_cores"] = nullptr;
  }

  // What the server wrote: WAL, and the table with its TOAST and index.
  const std::optional<std::string> wal_bytes = Query(
      admin.get(), "SELECT pg_current_wal_lsn() - '" + wal_start.value_or("0/0") + "'::pg_lsn");
  const std::optional<std::string> rows = Query(admin.get(), "SELECT count(*) FROM letters");
  const std::optional<std::string> table_bytes =
      Query(admin.get(), "SELECT pg_total_relation_size('letters')");
  const auto mib = [](const std::optional<std::string>& bytes) -> nlohmann::ordered_json {
    if (!bytes || bytes->empty()) return nullptr;
    return Round3(std::strtod(bytes->c_str(), nullptr) / static_cast<double>(1 << 20));
  };
  out["inserted"] = inserted.load();
  out["rows"] = rows ? nlohmann::ordered_json(std::strtoull(rows->c_str(), nullptr, 10)) : nullptr;
  out["wal_mib"] = mib(wal_bytes);
  out["table_mib"] = mib(table_bytes);
  if (rows && std::strtoull(rows->c_str(), nullptr, 10) != inserted.load()) {
    std::cerr << kProgram << ": " << inserted.load() << " inserts succeeded but the table holds "
              << *rows << " rows\n";
  }
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace utpost::bench

int main(int argc, char** argv) {
  utpost::bench::Flags flags;
  CLI::App cli{"utpost_bench_pg: the closed-loop letter load against PostgreSQL (libpq)"};
  cli.add_option("--conninfo", flags.conninfo, "libpq connection string")->required();
  cli.add_option("--concurrency", flags.concurrency, "workers, one connection each")
      ->check(CLI::Range(1, 4096));
  cli.add_option("--document-bytes", flags.document_bytes, "bytes of the document of each letter")
      ->check(CLI::Range(uint64_t{16}, uint64_t{50} << 20));
  cli.add_option("--duration", flags.duration_s, "measured seconds")
      ->check(CLI::Range(0.1, 86400.0));
  cli.add_option("--warmup", flags.warmup_s, "seconds of load before measuring")
      ->check(CLI::Range(0.0, 86400.0));
  cli.add_option("--server-pid", flags.server_pid,
                 "the postmaster: report its and its children's memory and CPU use");
  cli.add_option("--label", flags.label, "names the run in the JSON output");
  CLI11_PARSE(cli, argc, argv);
  return utpost::bench::Run(flags);
}
