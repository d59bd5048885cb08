// The logic of utpost.v1.StatsService (utpost/v1/stats.proto): channel statistics from the
// daily counters (storage/stats_store.h), benefits priced with the config's price table, and
// the letters that went to paper. No gRPC types; stats_service.cc translates. Every method
// takes the caller's org key and reads only that organisation's data. Thread-safe.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "common/clock.h"
#include "services/ledger/ledger.h"
#include "services/ledger/stats_config.h"
#include "storage/stats_store.h"
#include "utpost/v1/stats.pb.h"

namespace utpost::ledger {

// The most days one request may span (ten years).
inline constexpr int kMaxStatsDays = 3660;

// A period as the contract writes it, "YYYY-MM" or "YYYY-MM-DD": its first and last day.
struct PeriodSpan {
  absl::CivilDay first;
  absl::CivilDay last;
};
// INVALID_ARGUMENT naming `field` if `text` is neither form.
[[nodiscard]] absl::StatusOr<PeriodSpan> ParsePeriod(std::string_view text, std::string_view field);

// The counters of `counts` summed into `out` (whose period is left as is), and the derived
// digital count and share.
void AddCounts(const storage::DayCount& count, v1::ChannelCounts& out);
void FinishCounts(v1::ChannelCounts& out);

class Stats {
 public:
  // Every reference must outlive the object.
  Stats(const StatsConfig& config, const Ledger& ledger, const storage::StatsStore& store,
        const common::Clock& clock);

  [[nodiscard]] absl::StatusOr<v1::GetChannelStatsResponse> GetChannelStats(
      std::string_view caller, const v1::GetChannelStatsRequest& request) const;
  [[nodiscard]] absl::StatusOr<v1::GetBenefitsResponse> GetBenefits(
      std::string_view caller, const v1::GetBenefitsRequest& request) const;
  [[nodiscard]] absl::StatusOr<v1::ListPaperLettersResponse> ListPaperLetters(
      std::string_view caller, const v1::ListPaperLettersRequest& request) const;

 private:
  // [first, last] from `from` and `to` (empty: today), checked.
  absl::StatusOr<PeriodSpan> Window(std::string_view from, std::string_view to) const;
  absl::StatusOr<v1::GetChannelStatsResponse> Table(std::string_view caller,
                                                    const PeriodSpan& window,
                                                    v1::Granularity granularity) const;

  const StatsConfig config_;
  const Ledger& ledger_;
  const storage::StatsStore& store_;
  const common::Clock& clock_;
};

}  // namespace utpost::ledger
