// Daily letter counters per sender, for StatsService (utpost/v1/stats.proto): column family
// "stats", key = sender "/" day(4, days since 1970-01-01 UTC, big-endian) counter, value = a
// little-endian uint64 that the "utpost.add64" merge operator adds to. A counter is
//   's' status(1) channel(1)   events that entered `status` through `channel` (enum numbers)
//   'p' reason(1)              events that queued a letter for print, by their reason
// Every event a letter gets adds its counters in the same WriteBatch as the event itself
// (AddEventCounters, called by LedgerStore), so the counters are exactly the events, after
// crashes and retries too. Nothing personal is in a key or a value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/write_batch.h"
#include "storage/db.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::storage {

// Adds little-endian uint64 values (a missing or malformed operand counts as 0).
std::shared_ptr<rocksdb::MergeOperator> NewAdd64MergeOperator();

// The UTC day of `t`, in days since 1970-01-01.
int32_t DayOf(absl::Time t);

// One counter of one day.
struct DayCount {
  int32_t day = 0;
  ::utpost::v1::LetterStatus status = ::utpost::v1::LETTER_STATUS_UNSPECIFIED;  // with channel; or
  ::utpost::v1::Channel channel = ::utpost::v1::CHANNEL_UNSPECIFIED;
  ::utpost::v1::StatusReason paper_reason =
      ::utpost::v1::STATUS_REASON_UNSPECIFIED;  // a paper counter
  bool paper = false;
  uint64_t count = 0;
};

// Adds the counters of `event` (a letter of `sender`) to `batch`, on column family "stats".
[[nodiscard]] absl::Status AddEventCounters(Db& db, rocksdb::WriteBatch& batch,
                                            std::string_view sender,
                                            const ::utpost::v1::LetterEvent& event);

class StatsStore {
 public:
  explicit StatsStore(Db& db) : db_(db) {}

  // Every counter of `sender` from day `first` to day `last`, inclusive, in key order.
  // Reads at most (last - first + 1) × (statuses × channels + reasons) small entries.
  [[nodiscard]] absl::StatusOr<std::vector<DayCount>> Read(std::string_view sender, int32_t first,
                                                           int32_t last) const;

 private:
  Db& db_;
};

}  // namespace utpost::storage
