// utpost_bench_lease: what leasing costs as the history of finished tasks grows.
//
//   utpost_bench_lease --dir DIR [--finished 1000000] [--tasks 1000] [--rounds 5]
//
// On a real RocksDB in a fresh directory under DIR (removed at the end), with the ledger's
// own code: letters are accepted with Ledger::SendLetter (each queues its ROUTE task) and
// leased with Ledger::LeaseTasks, the logic behind TaskService.LeaseTasks (everything but
// gRPC: the queue scan, the per-task lock and re-read, the synced write of the leases, and
// each letter read and opened). Each round accepts `tasks` letters (not timed) and times one
// LeaseTasks of `tasks`. Scenarios, each printed as one JSON object on stdout:
//   empty queue            a new database
//   after N finished       the same database after N tasks were queued, leased and finished
//                          (deleted) through the ledger store, in batches of `tasks`, exactly
//                          as the ledger writes them: their tombstones are in the queue
//   first lease after      the database reopened right after that: the queue's floor
//   reopen                 (storage/due_floor.h) is lost with the process, so this first scan
//                          starts at the start of the kind
// plus, for comparison, "no floor": a plain scan of the queue from the start of the kind to
// now, as leasing would read without the floor, timed right after the history was written.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "crypto/file_key_store.h"
#include "google/protobuf/util/time_util.h"
#include "rocksdb/iterator.h"
#include "rocksdb/perf_context.h"
#include "rocksdb/perf_level.h"
#include "services/ledger/ledger.h"
#include "storage/keys.h"
#include "storage/ledger_store.h"

namespace utpost::bench {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::TimeUtil;

constexpr char kOrg[] = "NO958935420";
constexpr char kRecipient[] = "15076500565";
constexpr uint8_t kRoute = storage::v1::TASK_KIND_ROUTE;

struct Flags {
  std::string dir;
  int64_t finished = 1'000'000;
  int tasks = 1000;
  int rounds = 5;
};

[[noreturn]] void Die(const absl::Status& status, std::string_view what) {
  std::cerr << "utpost_bench_lease: " << what << ": " << status << "\n";
  std::exit(1);
}

template <typename T>
T Check(absl::StatusOr<T> value, std::string_view what) {
  if (!value.ok()) Die(value.status(), what);
  return *std::move(value);
}

void Check(const absl::Status& status, std::string_view what) {
  if (!status.ok()) Die(status, what);
}

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

double Round3(double v) { return std::round(v * 1000) / 1000; }

// A ledger on `dir`, opened or reopened.
struct Stack {
  std::unique_ptr<storage::Db> db;
  std::unique_ptr<storage::LedgerStore> store;
  std::unique_ptr<ledger::Ledger> ledger;
};

Stack Open(const fs::path& dir, const crypto::KeyStore& keys, const common::Clock& clock) {
  Stack stack;
  storage::DbOptions options;
  options.path = dir / "ledger";
  stack.db = Check(storage::Db::Open(options), "open database");
  stack.store = std::make_unique<storage::LedgerStore>(*stack.db);
  stack.ledger = Check(ledger::Ledger::Create({}, *stack.store, keys, clock), "create ledger");
  return stack;
}

v1::SendLetterRequest Letter() {
  v1::SendLetterRequest request;
  request.mutable_recipient()->mutable_person()->set_norwegian_national_id(kRecipient);
  request.set_title("Lease benchmark");
  v1::Document* document = request.add_documents();
  document->set_filename("letter.pdf");
  document->set_media_type("application/pdf");
  document->set_content("%PDF-1.7\n" + std::string(1024, 'x'));
  return request;
}

// Accepts `n` letters from 8 threads (concurrent letters share WAL syncs).
void SendLetters(ledger::Ledger& ledger, int n) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  const v1::SendLetterRequest request = Letter();
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      while (next.fetch_add(1) < n) Check(ledger.SendLetter(kOrg, request).status(), "send");
    });
  }
  for (auto& thread : threads) thread.join();
}

struct Sample {
  double ms = 0;
  // Tombstones the scan stepped over (RocksDB's perf context, this thread only).
  uint64_t skipped = 0;
};

void StartCounting() {
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
}

uint64_t Skipped() {
  const rocksdb::PerfContext& perf = *rocksdb::get_perf_context();
  return perf.internal_delete_skipped_count;
}

// One timed LeaseTasks of `n` ROUTE tasks, after accepting `n` letters.
Sample LeaseRound(ledger::Ledger& ledger, int n) {
  SendLetters(ledger, n);
  internal::v1::LeaseTasksRequest request;
  request.set_kind(internal::v1::TASK_KIND_ROUTE);
  request.set_max_tasks(n);
  request.mutable_lease_for()->set_seconds(3600);
  StartCounting();
  const auto start = std::chrono::steady_clock::now();
  internal::v1::LeaseTasksResponse response = Check(ledger.LeaseTasks(request), "lease");
  const Sample sample{MsSince(start), Skipped()};
  if (response.tasks_size() != n) {
    std::cerr << "utpost_bench_lease: leased " << response.tasks_size() << " of " << n << "\n";
    std::exit(1);
  }
  return sample;
}

// Queues, leases and finishes `total` tasks through the store, `batch` at a time, as the
// ledger writes them (without letters: only the queue is of interest here).
void WriteHistory(storage::LedgerStore& store, const common::Clock& clock, int64_t total,
                  int batch) {
  common::LetterIdGenerator ids;
  for (int64_t done = 0; done < total; done += batch) {
    const absl::Time now = clock.Now();
    std::vector<storage::TaskChange> queued;
    for (int i = 0; i < batch; ++i) {
      storage::TaskRecord task;
      task.set_task_id(ids.Next(now));
      task.set_kind(storage::v1::TASK_KIND_ROUTE);
      task.set_letter_id(ids.Next(now));
      task.set_sender(kOrg);
      *task.mutable_create_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
      *task.mutable_due_time() = task.create_time();
      queued.push_back({std::nullopt, std::move(task)});
    }
    Check(store.CommitTaskChanges(queued), "queue");
    auto scan = Check(store.ScanDue(kRoute, now, batch), "scan");
    std::vector<storage::TaskChange> leased;
    const auto expire = TimeUtil::NanosecondsToTimestamp(
        absl::ToUnixNanos(now + absl::Seconds(30)) / 1'000'000 * 1'000'000);
    for (const storage::DueEntry& entry : scan->due()) {
      std::optional<storage::TaskRecord> task = Check(store.GetTask(entry.task_id), "get task");
      if (!task) continue;
      storage::TaskRecord after = *task;
      after.set_attempt(1);
      *after.mutable_due_time() = expire;
      *after.mutable_lease_expire_time() = expire;
      leased.push_back({std::move(*task), std::move(after)});
    }
    Check(store.CommitLease(std::move(scan), leased), "lease");
    std::vector<storage::TaskChange> finished;
    for (storage::TaskChange& change : leased) finished.push_back({std::move(change.after), {}});
    Check(store.CommitTaskChanges(finished), "finish");
  }
}

// Reads the queue of ROUTE tasks from the start of the kind up to now, as a lease scan
// without the floor would.
Sample ScanFromStart(storage::Db& db, absl::Time now, int64_t* live) {
  const std::string lower = storage::keys::TaskDueStart(kRoute, 0);
  const std::string upper = storage::keys::TaskDueStart(kRoute, absl::ToUnixMillis(now) + 1);
  rocksdb::ReadOptions options;
  rocksdb::Slice lower_slice(lower), upper_slice(upper);
  options.iterate_lower_bound = &lower_slice;
  options.iterate_upper_bound = &upper_slice;
  StartCounting();
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<rocksdb::Iterator> it(
      db.raw().NewIterator(options, db.cf(storage::Cf::kTaskDue)));
  *live = 0;
  for (it->Seek(lower); it->Valid(); it->Next()) ++*live;
  return {MsSince(start), Skipped()};
}

void Print(const std::string& scenario, int64_t finished, int64_t entries,
           std::vector<Sample> samples) {
  std::sort(samples.begin(), samples.end(),
            [](const Sample& a, const Sample& b) { return a.ms < b.ms; });
  nlohmann::ordered_json out;
  out["label"] = "lease cost";
  out["scenario"] = scenario;
  out["finished_tasks"] = finished;
  out["tasks"] = entries;
  out["rounds"] = samples.size();
  out["median_ms"] = Round3(samples[samples.size() / 2].ms);
  out["min_ms"] = Round3(samples.front().ms);
  out["max_ms"] = Round3(samples.back().ms);
  uint64_t skipped = 0;
  for (const Sample& s : samples) skipped = std::max(skipped, s.skipped);
  out["max_tombstones_skipped"] = skipped;
  std::cout << out.dump() << std::endl;
}

int Run(const Flags& flags) {
  fs::create_directories(flags.dir);
  std::string tmpl = (fs::path(flags.dir) / "lease.XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::cerr << "utpost_bench_lease: cannot make a directory under " << flags.dir << "\n";
    return 1;
  }
  const fs::path root = tmpl;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{root};

  common::SystemClock clock;
  std::vector<Sample> empty, after, reopen;
  for (const char* scenario : {"empty", "history"}) {
    const fs::path dir = root / scenario;
    Check(crypto::FileKeyStore::EnsureKey(dir / "keys").status(), "make key");
    std::unique_ptr<crypto::FileKeyStore> keys =
        Check(crypto::FileKeyStore::Open(dir / "keys"), "open keys");
    Stack stack = Open(dir, *keys, clock);
    if (std::string_view(scenario) == "empty") {
      for (int r = 0; r < flags.rounds; ++r)
        empty.push_back(LeaseRound(*stack.ledger, flags.tasks));
      Print("empty queue", 0, flags.tasks, empty);
      continue;
    }
    const auto history_start = std::chrono::steady_clock::now();
    WriteHistory(*stack.store, clock, flags.finished, flags.tasks);
    std::cerr << "utpost_bench_lease: " << flags.finished
              << " tasks queued, leased and finished in " << Round3(MsSince(history_start) / 1000)
              << " s\n";
    int64_t live = 0;
    const Sample no_floor = ScanFromStart(*stack.db, clock.Now(), &live);
    for (int r = 0; r < flags.rounds; ++r) after.push_back(LeaseRound(*stack.ledger, flags.tasks));
    Print(absl::StrCat("after ", flags.finished, " finished"), flags.finished, flags.tasks, after);
    Print(absl::StrCat("after ", flags.finished, " finished, scan from the start (no floor)"),
          flags.finished, live, {no_floor});
    // As a restart does: everything closed, then opened again from the directory.
    stack.ledger.reset();
    stack.store.reset();
    stack.db.reset();
    stack = Open(dir, *keys, clock);
    reopen.push_back(LeaseRound(*stack.ledger, flags.tasks));
    Print(absl::StrCat("after ", flags.finished, " finished, first lease after reopen"),
          flags.finished, flags.tasks, reopen);
  }
  return 0;
}

}  // namespace
}  // namespace utpost::bench

int main(int argc, char** argv) {
  utpost::bench::Flags flags;
  CLI::App cli{"utpost_bench_lease: lease cost on an empty queue and after many finished tasks"};
  cli.add_option("--dir", flags.dir, "parent of the temporary database directory")->required();
  cli.add_option("--finished", flags.finished, "tasks queued, leased and finished first");
  cli.add_option("--tasks", flags.tasks, "tasks per lease (and per history batch), 1..1000")
      ->check(CLI::Range(1, 1000));
  cli.add_option("--rounds", flags.rounds, "timed leases per scenario")->check(CLI::Range(1, 100));
  CLI11_PARSE(cli, argc, argv);
  return utpost::bench::Run(flags);
}
