// The task queue of the ledger store on a real RocksDB in a temp dir.
#include <gtest/gtest.h>

#include "common/letter_id.h"
#include "rocksdb/perf_context.h"
#include "rocksdb/perf_level.h"
#include "storage/keys.h"
#include "storage/ledger_store.h"
#include "tests/testutil/files.h"

namespace utpost::storage {
namespace {

constexpr uint8_t kRoute = v1::TASK_KIND_ROUTE;
const absl::Time kStart = absl::FromUnixSeconds(1'790'000'000);

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  ts.set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(ts.seconds()))));
  return ts;
}

class LedgerStoreTasksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Db::Open({.path = dir_.path() / "ledger"});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    store_ = std::make_unique<LedgerStore>(*db_);
  }

  TaskRecord NewTask(absl::Time due) {
    TaskRecord task;
    task.set_task_id(ids_.Next(kStart));
    task.set_kind(v1::TASK_KIND_ROUTE);
    task.set_letter_id(ids_.Next(kStart));
    *task.mutable_due_time() = Ts(due);
    return task;
  }

  // Queues `n` tasks due at kStart + i ms.
  std::vector<TaskRecord> Queue(int n, absl::Time first_due) {
    std::vector<TaskRecord> tasks;
    std::vector<TaskChange> changes;
    for (int i = 0; i < n; ++i) {
      tasks.push_back(NewTask(first_due + absl::Milliseconds(i)));
      changes.push_back({std::nullopt, tasks.back()});
    }
    EXPECT_TRUE(store_->CommitTaskChanges(changes).ok());
    return tasks;
  }

  // Leases every due task (moving it to `expire`) and returns the leased records.
  std::vector<TaskRecord> LeaseAll(absl::Time now, absl::Time expire, size_t limit = 1000) {
    auto scan = store_->ScanDue(kRoute, now, limit);
    EXPECT_TRUE(scan.ok()) << scan.status();
    std::vector<TaskChange> changes;
    std::vector<TaskRecord> leased;
    for (const DueEntry& entry : (*scan)->due()) {
      auto task = store_->GetTask(entry.task_id);
      EXPECT_TRUE(task.ok() && task->has_value());
      TaskRecord after = **task;
      *after.mutable_due_time() = Ts(expire);
      *after.mutable_lease_expire_time() = Ts(expire);
      after.set_attempt(after.attempt() + 1);
      changes.push_back({**task, after});
      leased.push_back(after);
    }
    EXPECT_TRUE(store_->CommitLease(std::move(*scan), changes).ok());
    return leased;
  }

  void Finish(const std::vector<TaskRecord>& tasks) {
    std::vector<TaskChange> changes;
    for (const TaskRecord& task : tasks) changes.push_back({task, std::nullopt});
    ASSERT_TRUE(store_->CommitTaskChanges(changes).ok());
  }

  testutil::TempDir dir_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<LedgerStore> store_;
  common::LetterIdGenerator ids_;
};

TEST_F(LedgerStoreTasksTest, ALeaseMovesTheTaskToTheEndOfItsLease) {
  const auto queued = Queue(3, kStart);
  auto leased = LeaseAll(kStart + absl::Milliseconds(1), kStart + absl::Seconds(30));
  // Only those due by `now`.
  ASSERT_EQ(leased.size(), 2u);
  EXPECT_EQ(leased[0].task_id(), queued[0].task_id());
  EXPECT_EQ(leased[1].task_id(), queued[1].task_id());
  auto order = store_->QueuedTasks(kRoute, 10);
  ASSERT_TRUE(order.ok());
  ASSERT_EQ(order->size(), 3u);
  EXPECT_EQ((*order)[0].task_id(), queued[2].task_id());
  EXPECT_EQ((*order)[1].attempt(), 1u);
  // Due again when the lease ends.
  EXPECT_TRUE(LeaseAll(kStart + absl::Seconds(29), kStart + absl::Seconds(60)).size() == 1u);
  EXPECT_EQ(LeaseAll(kStart + absl::Seconds(30), kStart + absl::Seconds(60)).size(), 2u);
}

// Leasing after many finished tasks reads about as many queue entries as on an empty queue:
// the scan starts at the floor, past the finished tasks' tombstones.
TEST_F(LedgerStoreTasksTest, LeasingSeeksPastTheTombstonesOfFinishedTasks) {
  constexpr int kFinished = 5000;
  absl::Time now = kStart;
  for (int round = 0; round < kFinished / 500; ++round) {
    Queue(500, now);
    now += absl::Seconds(1);
    const auto leased = LeaseAll(now, now + absl::Seconds(30));
    ASSERT_EQ(leased.size(), 500u);
    Finish(leased);
  }
  const auto fresh = Queue(3, now);

  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
  const auto leased = LeaseAll(now + absl::Milliseconds(10), now + absl::Seconds(30));
  const uint64_t skipped = rocksdb::get_perf_context()->internal_delete_skipped_count +
                           rocksdb::get_perf_context()->internal_key_skipped_count;
  ASSERT_EQ(leased.size(), 3u);
  EXPECT_EQ(leased[0].task_id(), fresh[0].task_id());
  RecordProperty("entries_skipped_with_floor", std::to_string(skipped));
  EXPECT_LT(skipped, 50u);

  // The tombstones are there: a scan from the start of the kind, as leasing did without the
  // floor, steps over every one of them.
  rocksdb::get_perf_context()->Reset();
  auto tasks = store_->QueuedTasks(kRoute, 10);
  const uint64_t skipped_from_start = rocksdb::get_perf_context()->internal_delete_skipped_count;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  ASSERT_TRUE(tasks.ok());
  RecordProperty("tombstones_skipped_from_start", std::to_string(skipped_from_start));
  EXPECT_GE(skipped_from_start, static_cast<uint64_t>(kFinished));
}

TEST_F(LedgerStoreTasksTest, ATaskDueBeforeTheFloorIsStillLeased) {
  Queue(10, kStart);
  Finish(LeaseAll(kStart + absl::Seconds(1), kStart + absl::Seconds(31)));
  ASSERT_GT(store_->DueFloor(kRoute), absl::ToUnixMillis(kStart + absl::Seconds(1)));
  // E.g. queued with a time from a clock that is behind.
  const auto late = Queue(1, kStart - absl::Hours(1));
  EXPECT_LE(store_->DueFloor(kRoute), absl::ToUnixMillis(kStart - absl::Hours(1)));
  const auto leased = LeaseAll(kStart + absl::Seconds(2), kStart + absl::Seconds(32));
  ASSERT_EQ(leased.size(), 1u);
  EXPECT_EQ(leased[0].task_id(), late[0].task_id());
}

TEST_F(LedgerStoreTasksTest, TasksAndTheirPlaceInTheQueueSurviveAReopen) {
  const auto queued = Queue(2, kStart);
  const auto leased = LeaseAll(kStart, kStart + absl::Seconds(30));
  ASSERT_EQ(leased.size(), 1u);
  store_.reset();
  db_.reset();
  SetUp();
  EXPECT_TRUE(LeaseAll(kStart + absl::Seconds(29), kStart + absl::Minutes(2)).size() == 1u);
  const auto again = LeaseAll(kStart + absl::Seconds(30), kStart + absl::Minutes(2));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].task_id(), queued[0].task_id());
  EXPECT_EQ(again[0].attempt(), 2u);
}

TEST_F(LedgerStoreTasksTest, AnEntryThatStaysInPlaceIsNotWrittenAgain) {
  // A change that keeps the due time (e.g. a retry at the end of the lease) updates the
  // record only: its queue key is put once and removed once, as SingleDelete requires.
  const auto queued = Queue(1, kStart);
  const auto leased = LeaseAll(kStart, kStart + absl::Seconds(30));
  TaskRecord after = leased[0];
  after.clear_lease_expire_time();
  after.set_last_failure("retry at the same time");
  ASSERT_TRUE(store_->CommitTaskChanges({{leased[0], after}}).ok());
  Finish({after});
  auto tasks = store_->QueuedTasks(kRoute, 10);
  ASSERT_TRUE(tasks.ok());
  EXPECT_TRUE(tasks->empty());
  auto record = store_->GetTask(*common::DecodeLetterId(queued[0].task_id()));
  ASSERT_TRUE(record.ok());
  EXPECT_FALSE(record->has_value());
}

}  // namespace
}  // namespace utpost::storage
