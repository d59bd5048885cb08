// Configuration of StatsService (config section `stats`): the price table that benefits are
// computed with. Operators put their own contract prices here.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "utpost/v1/money.pb.h"

namespace utpost::ledger {

struct StatsPrices {
  // ISO 4217 (`currency`).
  std::string currency = "NOK";
  // Per letter, in minor units (øre): printing, enveloping and handling (`print`), postage
  // (`postage`), digital delivery (`digital`). Written in the config as decimals ("11.00").
  // The defaults add up to 40.10 saved per letter sent digitally instead of on paper: the
  // Norwegian municipal sector's own estimate is "a little over 40 kroner" per letter.
  int64_t print_minor = 1100;
  int64_t postage_minor = 3000;
  int64_t digital_minor = 90;
  // Where the prices come from (`source`), shown with every benefits report.
  std::string source =
      "utpost defaults: 11.00 print and handling + 30.00 postage - 0.90 digital delivery = "
      "40.10 NOK saved per letter, after the municipal sector's estimate of a little over 40 "
      "NOK; set stats.prices to your contract prices";
};

struct StatsConfig {
  StatsPrices prices;
};

// The prices as the contract carries them (GetBenefits, PreviewRoutes).
inline v1::PriceTable PriceTableOf(const StatsPrices& p) {
  v1::PriceTable table;
  auto money = [&p](v1::Money& m, int64_t minor) {
    m.set_currency_code(p.currency);
    m.set_minor_units(minor);
  };
  money(*table.mutable_print_per_letter(), p.print_minor);
  money(*table.mutable_postage_per_letter(), p.postage_minor);
  money(*table.mutable_digital_per_letter(), p.digital_minor);
  table.set_source(p.source);
  return table;
}

// "stats.<key>: <rule>" for the first setting out of range, else OK.
[[nodiscard]] inline absl::Status ValidateStatsConfig(const StatsConfig& config) {
  const StatsPrices& p = config.prices;
  if (p.currency.size() != 3 || !std::all_of(p.currency.begin(), p.currency.end(),
                                             [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return absl::InvalidArgumentError(
        "stats.prices.currency: must be an ISO 4217 code of three capital letters, such as NOK");
  }
  for (const auto& [name, value] :
       {std::pair{"print", p.print_minor}, std::pair{"postage", p.postage_minor},
        std::pair{"digital", p.digital_minor}}) {
    if (value < 0 || value > 100'000'00) {
      return absl::InvalidArgumentError(
          absl::StrCat("stats.prices.", name, ": must be from 0 to 100000.00"));
    }
  }
  return absl::OkStatus();
}

}  // namespace utpost::ledger
