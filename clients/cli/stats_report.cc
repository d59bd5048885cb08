#include "clients/cli/stats_report.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace utpost::cli {
namespace {

constexpr char kDigital[] = "#1b7f5f";
constexpr char kPaper[] = "#c8553d";
constexpr char kInk[] = "#222";

std::string Money(const v1::Money& money) {
  const int64_t m = money.minor_units();
  // Thousands separated by a thin space, as Norwegian print does.
  std::string units = absl::StrCat(std::llabs(m) / 100);
  for (int i = static_cast<int>(units.size()) - 3; i > 0; i -= 3) units.insert(i, "\u2009");
  return absl::StrFormat("%s%s.%02d %s", m < 0 ? "−" : "", units, std::llabs(m) % 100,
                         money.currency_code());
}

std::string Percent(double share) { return absl::StrFormat("%.1f %%", share * 100); }

std::string Figure(std::string_view name, std::string_view text) {
  return absl::StrCat("<span data-figure=\"", HtmlEscape(name), "\">", HtmlEscape(text), "</span>");
}

std::string ReasonName(v1::StatusReason reason) {
  switch (reason) {
    case v1::STATUS_REASON_RECIPIENT_RESERVED:
      return "reserved against digital mail";
    case v1::STATUS_REASON_NO_MAILBOX:
      return "no digital mailbox";
    case v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED:
      return "mailbox below the letter's security level";
    case v1::STATUS_REASON_DIGITAL_DELIVERY_FAILED:
      return "digital delivery failed";
    case v1::STATUS_REASON_UNREAD_PAST_DEADLINE:
      return "unread by its deadline";
    case v1::STATUS_REASON_SENDER_REQUESTED_PRINT:
      return "sender asked for paper";
    case v1::STATUS_REASON_NOT_NOTIFIABLE:
      return "recipient cannot be notified";
    case v1::STATUS_REASON_EXEMPT:
      return "exempt from digital mail";
    default: {
      std::string name = v1::StatusReason_Name(reason);
      if (name.rfind("STATUS_REASON_", 0) == 0) name = name.substr(14);
      return absl::AsciiStrToLower(name);
    }
  }
}

// Stacked bars of digital (below) and paper (above) letters per month, with the digital
// share as a line over them (right axis, 0–100 %).
std::string ChannelChart(const v1::GetChannelStatsResponse& months) {
  const int width = 640, height = 260, left = 48, right = 40, top = 16, bottom = 40;
  const int plot_w = width - left - right, plot_h = height - top - bottom;
  uint64_t max_letters = 1;
  for (const auto& m : months.periods())
    max_letters = std::max(max_letters, m.digital() + m.paper());
  const int n = std::max(1, months.periods_size());
  const double slot = static_cast<double>(plot_w) / n;
  const double bar = std::min(40.0, slot * 0.6);
  std::string svg = absl::StrFormat(
      "<svg role=\"img\" aria-label=\"Letters per month, digital and paper\" viewBox=\"0 0 %d "
      "%d\" width=\"100%%\" xmlns=\"http://www.w3.org/2000/svg\">",
      width, height);
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\"/>"
                        "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%d</text>"
                        "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">0</text>"
                        "<text x=\"%d\" y=\"%d\" font-size=\"11\">100 %%</text>"
                        "<text x=\"%d\" y=\"%d\" font-size=\"11\">0 %%</text>",
                        left, top + plot_h, left + plot_w, top + plot_h, kInk, left - 6, top + 10,
                        max_letters, left - 6, top + plot_h, left + plot_w + 4, top + 10,
                        left + plot_w + 4, top + plot_h);
  std::string line;
  for (int i = 0; i < months.periods_size(); ++i) {
    const v1::ChannelCounts& m = months.periods(i);
    const double x = left + slot * i + (slot - bar) / 2;
    const double digital_h = plot_h * static_cast<double>(m.digital()) / max_letters;
    const double paper_h = plot_h * static_cast<double>(m.paper()) / max_letters;
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                          "fill=\"%s\"><title>%s: %d digital</title></rect>",
                          x, top + plot_h - digital_h, bar, digital_h, kDigital, m.period(),
                          m.digital());
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                          "fill=\"%s\"><title>%s: %d on paper</title></rect>",
                          x, top + plot_h - digital_h - paper_h, bar, paper_h, kPaper, m.period(),
                          m.paper());
    absl::StrAppendFormat(&svg,
                          "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" "
                          "text-anchor=\"middle\">%s</text>",
                          x + bar / 2, top + plot_h + 16, m.period().substr(2));
    if (m.digital() + m.paper() > 0) {
      const double cx = x + bar / 2, cy = top + plot_h * (1 - m.digital_share());
      absl::StrAppendFormat(&line, "%.1f,%.1f ", cx, cy);
      absl::StrAppendFormat(&svg,
                            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>%s: "
                            "%s digital</title></circle>",
                            cx, cy, kInk, m.period(), Percent(m.digital_share()));
    }
  }
  if (!line.empty()) {
    absl::StrAppendFormat(&svg,
                          "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                          "stroke-width=\"2\" stroke-dasharray=\"4 3\"/>",
                          line, kInk);
  }
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                        "<text x=\"%d\" y=\"%d\" font-size=\"11\">digital</text>"
                        "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                        "<text x=\"%d\" y=\"%d\" font-size=\"11\">paper</text>"
                        "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                        "stroke-dasharray=\"4 3\" stroke-width=\"2\"/>"
                        "<text x=\"%d\" y=\"%d\" font-size=\"11\">digital share</text>",
                        left, height - 12, kDigital, left + 14, height - 3, left + 70, height - 12,
                        kPaper, left + 84, height - 3, left + 140, height - 7, left + 160,
                        height - 7, kInk, left + 166, height - 3);
  svg += "</svg>";
  return svg;
}

// Horizontal bars: paper letters by reason.
std::string ReasonChart(const v1::ChannelCounts& total) {
  const int rows = std::max(1, total.paper_by_reason_size());
  const int width = 640, row_h = 24, label_w = 260, height = rows * row_h + 8;
  uint64_t max = 1;
  for (const auto& r : total.paper_by_reason()) max = std::max(max, r.letters());
  std::string svg = absl::StrFormat(
      "<svg role=\"img\" aria-label=\"Paper letters by reason\" viewBox=\"0 0 %d %d\" "
      "width=\"100%%\" xmlns=\"http://www.w3.org/2000/svg\">",
      width, height);
  for (int i = 0; i < total.paper_by_reason_size(); ++i) {
    const auto& r = total.paper_by_reason(i);
    const double w = (width - label_w - 60) * static_cast<double>(r.letters()) / max;
    absl::StrAppendFormat(&svg,
                          "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"end\">%s</text>"
                          "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"16\" fill=\"%s\"/>"
                          "<text x=\"%.1f\" y=\"%d\" font-size=\"12\">%d</text>",
                          label_w - 8, i * row_h + 18, HtmlEscape(ReasonName(r.reason())), label_w,
                          i * row_h + 6, w, kPaper, label_w + w + 6, i * row_h + 18, r.letters());
  }
  svg += "</svg>";
  return svg;
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderReport(const ReportInput& in) {
  const v1::ChannelCounts& total = in.months.total();
  const v1::BenefitsPeriod& money = in.benefits.total();
  const std::string first = in.months.periods_size() > 0 ? in.months.periods(0).period() : "";
  const std::string last =
      in.months.periods_size() > 0 ? in.months.periods(in.months.periods_size() - 1).period() : "";
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>From paper to digital: ",
      HtmlEscape(in.organisation), ", ", first, " to ", last,
      "</title><style>"
      "@page{size:A4;margin:18mm}"
      "body{font-family:'DejaVu Sans',Arial,sans-serif;color:#222;max-width:180mm;margin:auto;"
      "line-height:1.4}"
      "h1{font-size:20pt;margin-bottom:0}h2{font-size:13pt;margin-top:18pt}"
      ".sub{color:#555;margin-top:2pt}"
      ".keys{display:flex;gap:8mm;margin:10pt 0}"
      ".key{flex:1 1 auto;border-top:3px solid #1b7f5f;padding-top:4pt}"
      ".key b{display:block;font-size:18pt;white-space:nowrap}"
      "table{border-collapse:collapse;width:100%;font-size:9.5pt}"
      "th,td{text-align:right;padding:2pt 6pt;border-bottom:1px solid #ddd}"
      "th:first-child,td:first-child{text-align:left}"
      "section{break-inside:avoid}"
      ".note{color:#555;font-size:9pt}"
      "</style></head><body>\n");
  absl::StrAppend(&html, "<h1>From paper to digital</h1><p class=\"sub\">",
                  HtmlEscape(in.organisation), ", ", Figure("from", first), " to ",
                  Figure("to", last), ". Generated ", HtmlEscape(in.generated), ".</p>\n");
  absl::StrAppend(&html, "<div class=\"keys\"><div class=\"key\">Digital share<b>",
                  Figure("share-total", Percent(total.digital_share())),
                  "</b></div><div class=\"key\">Letters sent digitally<b>",
                  Figure("digital-total", absl::StrCat(total.digital())),
                  "</b></div><div class=\"key\">Letters on paper<b>",
                  Figure("paper-total", absl::StrCat(total.paper())),
                  "</b></div><div class=\"key\">Cost avoided<b>",
                  Figure("avoided-total", Money(money.cost_avoided())), "</b></div></div>\n");

  absl::StrAppend(&html, "<section><h2>Letters per month</h2>", ChannelChart(in.months),
                  "<table><tr><th>Month</th><th>Digital</th><th>Paper</th><th>Digital "
                  "share</th><th>Cost avoided</th></tr>");
  for (int i = 0; i < in.months.periods_size(); ++i) {
    const v1::ChannelCounts& m = in.months.periods(i);
    const v1::BenefitsPeriod* b = i < in.benefits.months_size() ? &in.benefits.months(i) : nullptr;
    absl::StrAppend(
        &html, "<tr><td>", m.period(), "</td><td>",
        Figure(absl::StrCat("digital-", m.period()), absl::StrCat(m.digital())), "</td><td>",
        Figure(absl::StrCat("paper-", m.period()), absl::StrCat(m.paper())), "</td><td>",
        m.digital() + m.paper() == 0
            ? std::string("–")
            : Figure(absl::StrCat("share-", m.period()), Percent(m.digital_share())),
        "</td><td>",
        b == nullptr ? "" : Figure(absl::StrCat("avoided-", m.period()), Money(b->cost_avoided())),
        "</td></tr>");
  }
  absl::StrAppend(&html, "</table></section>\n");

  absl::StrAppend(&html, "<section><h2>Why letters still go on paper</h2>");
  if (total.paper_by_reason_size() == 0) {
    absl::StrAppend(&html, "<p>No letter went on paper in this period.</p>");
  } else {
    absl::StrAppend(&html, ReasonChart(total), "<table><tr><th>Reason</th><th>Letters</th></tr>");
    for (const auto& r : total.paper_by_reason()) {
      absl::StrAppend(&html, "<tr><td>", HtmlEscape(ReasonName(r.reason())), "</td><td>",
                      Figure(absl::StrCat("reason-", v1::StatusReason_Name(r.reason())),
                             absl::StrCat(r.letters())),
                      "</td></tr>");
    }
    absl::StrAppend(&html, "</table>");
  }
  absl::StrAppend(&html, "</section>\n");

  const v1::PriceTable& p = in.benefits.prices();
  absl::StrAppend(
      &html, "<section><h2>What it saved</h2><p>",
      Figure("digital-total-2", absl::StrCat(money.digital_letters())),
      " letters reached their recipients digitally. On paper each would have cost ",
      HtmlEscape(Money(p.print_per_letter())), " to print and ",
      HtmlEscape(Money(p.postage_per_letter())), " in postage; digitally it cost ",
      HtmlEscape(Money(p.digital_per_letter())), ". Cost avoided: <b>",
      Figure("avoided-total-2", Money(money.cost_avoided())),
      "</b>. What the period's letters "
      "cost: ",
      Figure("cost-total", Money(money.cost())),
      ".</p><p class=\"note\">Prices: ", HtmlEscape(p.source()),
      ". A letter printed because it was unread by its deadline counts as paper. Months are "
      "UTC calendar months.</p></section>\n</body></html>\n");
  return html;
}

}  // namespace utpost::cli
