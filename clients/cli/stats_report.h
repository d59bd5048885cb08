// The benefits report a council reads: one self-contained HTML file (inline SVG charts, inline
// CSS, no scripts, no external assets) that works offline and prints to A4. Built from what
// StatsService answers; every figure a chart shows is also written beside it. Pure.
#pragma once

#include <string>
#include <string_view>

#include "utpost/v1/stats.pb.h"

namespace utpost::cli {

struct ReportInput {
  std::string organisation;  // the caller's org key, as shown in the heading
  v1::GetChannelStatsResponse months;
  v1::GetBenefitsResponse benefits;
  std::string generated;  // when, as text (UTC)
};

// The report as HTML. Every number shown carries a data-figure attribute naming it
// ("share-2026-03", "digital-total", "avoided-total", ...), so that a test can compare the
// rendered page with StatsService.
std::string RenderReport(const ReportInput& input);

// `text` with &, <, >, " and ' escaped for HTML.
std::string HtmlEscape(std::string_view text);

}  // namespace utpost::cli
