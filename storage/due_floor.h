// Where a lease scan of the task queue may start.
//
// The queue (column family "task_due") is ordered by kind, then due time. A finished task
// leaves tombstones where its entries were, and they lie below every live entry: tasks are
// leased oldest first. A scan from the start of a kind would step over every one of them, so
// after 10^6 finished tasks leasing would cost 10^6 steps. Instead, for each kind, a floor is
// kept: a due time below which the kind has no live entry. A lease scan seeks straight to the
// floor (and sets it as the iterator's lower bound), and afterwards raises the floor to the
// first entry it left live; whatever lies below is tombstones and is never read again.
//
// Invariant: no live entry of a kind is due before its floor. Lowered by every write that
// adds an entry (before the write, so no reader can see an entry below the floor); raised only
// at the end of a scan, and never above an entry that was being written while the scan ran
// (the scan's iterator may not have seen it). Kept in memory only: after a restart the floor is
// the start of each kind, and the first scan of a kind passes the tombstones left on disk once.
//
// Thread-safe. One scan per kind at a time (the caller serialises scans of a kind).
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace utpost::storage {

class DueFloors {
 public:
  static constexpr int64_t kNoFloor = std::numeric_limits<int64_t>::min();

  // Entries (kind, due time in Unix ms) being written; from construction until destruction
  // the floors stay at or below them. Construct before the write, destroy after it.
  class Inserting {
   public:
    Inserting(DueFloors& floors, std::vector<std::pair<uint8_t, int64_t>> dues);
    ~Inserting();
    Inserting(const Inserting&) = delete;
    Inserting& operator=(const Inserting&) = delete;

   private:
    DueFloors& floors_;
    std::vector<std::pair<uint8_t, int64_t>> dues_;
  };

  // Starts a scan of `kind`: returns the floor to seek to. The scan's iterator must be created
  // after this returns.
  int64_t BeginScan(uint8_t kind);
  // Ends the scan of `kind`. `first_live`: the due time of the first entry the scan left live
  // (or the end of the range it scanned, if it left none); nullopt leaves the floor as it is.
  // The floor becomes `first_live`, or the lowest entry written during the scan if lower.
  void EndScan(uint8_t kind, std::optional<int64_t> first_live);

  int64_t floor(uint8_t kind) const;

 private:
  struct Kind {
    int64_t floor = kNoFloor;
    std::multiset<int64_t> in_flight;  // due times of entries being written
    bool scanning = false;
    // While scanning: the lowest due time written since the scan began, or in flight when it
    // began.
    int64_t lowest_written = std::numeric_limits<int64_t>::max();
  };

  mutable std::mutex mu_;
  std::array<Kind, 256> kinds_;  // guarded by mu_
};

}  // namespace utpost::storage
