// `utpostctl stats` as a municipality runs it: the real binary against a real server with
// every component, after letters to a citizen with a mailbox, one reserved against digital
// mail and one with no mailbox. The table, CSV and JSON say the same; benefits are priced;
// paper-recipients names who gets paper and why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "clients/cpp/stats_client.h"
#include "common/strings.h"
#include "tests/testutil/shell.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

using ::testing::HasSubstr;

using Result = ShellResult;

std::string ThisMonth() {
  const absl::CivilMonth m(absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()));
  return absl::StrFormat("%04d-%02d", m.year(), m.month());
}

class UtpostctlStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = TestStack::Start(dir_.path(), QuickDelivery);
    ASSERT_NE(stack_, nullptr);
    std::vector<std::string> ids;
    for (const char* to : {kCitizen, kCitizen, kCitizen, "02028234530", "17059121030"}) {
      auto sent = stack_->Client(kOslo).Send(AddressedLetterTo(to, "stats"));
      ASSERT_TRUE(sent.ok()) << sent.status();
      ids.push_back(sent->letter_id());
    }
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    for (const std::string& id : ids) {
      v1::LetterStatus status = v1::LETTER_STATUS_UNSPECIFIED;
      while (absl::Now() < give_up && status != v1::LETTER_STATUS_READ &&
             status != v1::LETTER_STATUS_PRINTED) {
        auto got = stack_->Client(kOslo).Get(id);
        ASSERT_TRUE(got.ok()) << got.status();
        status = got->letter().status();
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
      ASSERT_TRUE(status == v1::LETTER_STATUS_READ || status == v1::LETTER_STATUS_PRINTED) << id;
    }
  }

  Result Run(const std::string& args, std::string_view org = kOslo) {
    return Shell(absl::StrCat(UTPOSTCTL_BINARY, " --config ",
                              stack_->app().ClientConfigPath(org).string(), " ", args));
  }

  TempDir dir_;
  std::unique_ptr<TestStack> stack_;
};

TEST_F(UtpostctlStatsTest, ShareAsTableCsvAndJson) {
  Result table = Run(absl::StrCat("stats share --from ", ThisMonth()));
  ASSERT_EQ(table.exit_code, 0) << table.out;
  EXPECT_THAT(table.out, HasSubstr("DIGITAL SHARE"));
  EXPECT_THAT(table.out, HasSubstr("60.0 %"));
  EXPECT_THAT(table.out, HasSubstr("recipient_reserved 1"));

  Result csv = Run(absl::StrCat("stats share --from ", ThisMonth(), " --format csv"));
  ASSERT_EQ(csv.exit_code, 0) << csv.out;
  std::vector<std::string> lines = absl::StrSplit(csv.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << csv.out;  // header, this month, total
  EXPECT_EQ(lines[2], "total,5,3,0,2,2,3,0,0,3,0.6000");

  Result json = Run(absl::StrCat("stats share --from ", ThisMonth(), " --format json"));
  ASSERT_EQ(json.exit_code, 0) << json.out;
  const nlohmann::json parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["total"]["accepted"], "5");  // uint64 as a JSON string (proto3 JSON)
  EXPECT_DOUBLE_EQ(parsed["total"]["digital_share"].get<double>(), 0.6);

  // Bergen's own numbers: nothing.
  Result bergen = Run(absl::StrCat("stats share --from ", ThisMonth(), " --format csv"), kBergen);
  ASSERT_EQ(bergen.exit_code, 0) << bergen.out;
  EXPECT_THAT(bergen.out, HasSubstr("total,0,0,0,0,0,0,0,0,0,0.0000"));
}

TEST_F(UtpostctlStatsTest, BenefitsAndPaperRecipients) {
  Result benefits = Run(absl::StrCat("stats benefits --from ", ThisMonth(), " --format csv"));
  ASSERT_EQ(benefits.exit_code, 0) << benefits.out;
  // Three digital letters save 3 × 40.10; two paper letters cost 2 × 41.00, three digital
  // 3 × 0.90.
  EXPECT_THAT(benefits.out, HasSubstr("total,3,2,0.6000,84.70,120.30,NOK"));
  Result text = Run(absl::StrCat("stats benefits --from ", ThisMonth()));
  EXPECT_THAT(text.out, HasSubstr("prices per letter"));

  Result paper = Run(absl::StrCat("stats paper-recipients --from ", ThisMonth()));
  ASSERT_EQ(paper.exit_code, 0) << paper.out;
  EXPECT_THAT(paper.out, HasSubstr("02028234530"));
  EXPECT_THAT(paper.out, HasSubstr("recipient_reserved 1"));
  EXPECT_THAT(paper.out, HasSubstr("17059121030"));
  EXPECT_THAT(paper.out, HasSubstr("no_mailbox 1"));
  EXPECT_THAT(paper.out, HasSubstr("2 recipients, 2 paper letters"));
  EXPECT_THAT(paper.out, ::testing::Not(HasSubstr(kCitizen)));
}

TEST_F(UtpostctlStatsTest, AWrongMonthNamesTheFlag) {
  Result r = Run("stats share --from 2026-13");
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("from"));
  EXPECT_THAT(r.out, HasSubstr("YYYY-MM"));
}

std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The data-figure values of an HTML document, by name.
std::map<std::string, std::string> Figures(const std::string& html) {
  std::map<std::string, std::string> figures;
  const std::regex figure(R"re(<span data-figure="([^"]+)">([^<]*)</span>)re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), figure);
       it != std::sregex_iterator(); ++it) {
    figures[(*it)[1]] = (*it)[2];
  }
  return figures;
}

// The report is one self-contained file; headless Chromium (Debian's chromium) renders it,
// shows the numbers StatsService gives, and prints it on A4.
TEST_F(UtpostctlStatsTest, ReportRendersInChromiumWithTheServersNumbers) {
  const std::filesystem::path report = dir_.path() / "report.html";
  Result r = Run(absl::StrCat("stats report --from ", ThisMonth(), " --out ", report.string()));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("digital share 60.0 %"));
  const std::string html = Slurp(report);
  // Self-contained: no scripts, nothing fetched (the SVG namespace is a name, not a fetch).
  EXPECT_THAT(html, ::testing::Not(HasSubstr("<script")));
  EXPECT_THAT(html, ::testing::Not(HasSubstr(" src=")));
  EXPECT_THAT(html, ::testing::Not(HasSubstr(" href=")));
  EXPECT_THAT(html, ::testing::Not(HasSubstr("url(")));
  EXPECT_THAT(html, HasSubstr("@page{size:A4"));
  EXPECT_THAT(html, HasSubstr("Oslo kommune"));

  if (Shell("command -v chromium").exit_code != 0) {
    GTEST_SKIP() << "chromium is not installed (Debian package chromium; make test installs "
                    "it): the report was not rendered";
  }
  const std::string chromium =
      "chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
      "--no-first-run --disable-extensions --user-data-dir=" +
      (dir_.path() / "chromium").string();
  Result dom =
      Shell(absl::StrCat(chromium, " --dump-dom file://", report.string(), " 2>/dev/null"));
  ASSERT_EQ(dom.exit_code, 0) << dom.out;
  const std::map<std::string, std::string> shown = Figures(dom.out);
  ASSERT_FALSE(shown.empty()) << dom.out.substr(0, 2000);

  // What the server says.
  client::ConnectionOptions options = stack_->Connection(kOslo);
  auto channel = client::Connect(options);
  ASSERT_TRUE(channel.ok());
  client::StatsClient stats(*channel, options);
  v1::GetChannelStatsRequest request;
  request.set_from(ThisMonth());
  auto table = stats.GetChannelStats(request);
  ASSERT_TRUE(table.ok()) << table.status();
  v1::GetBenefitsRequest benefits_request;
  benefits_request.set_from(ThisMonth());
  auto benefits = stats.GetBenefits(benefits_request);
  ASSERT_TRUE(benefits.ok()) << benefits.status();
  auto at = [&](const std::string& name) {
    auto it = shown.find(name);
    return it == shown.end() ? std::string("<missing>") : it->second;
  };
  EXPECT_EQ(at("digital-total"), absl::StrCat(table->total().digital()));
  EXPECT_EQ(at("paper-total"), absl::StrCat(table->total().paper()));
  EXPECT_EQ(at("share-total"), absl::StrFormat("%.1f %%", table->total().digital_share() * 100));
  EXPECT_EQ(at(absl::StrCat("digital-", ThisMonth())), "3");
  EXPECT_EQ(at("reason-STATUS_REASON_RECIPIENT_RESERVED"), "1");
  EXPECT_EQ(at("reason-STATUS_REASON_NO_MAILBOX"), "1");
  const int64_t avoided = benefits->total().cost_avoided().minor_units();
  EXPECT_EQ(at("avoided-total"), absl::StrFormat("%d.%02d NOK", avoided / 100, avoided % 100));
  EXPECT_EQ(avoided, 3 * 4010);

  // Printed, it is A4 (595 × 842 points).
  const std::filesystem::path pdf = dir_.path() / "report.pdf";
  Result printed =
      Shell(absl::StrCat(chromium, " --no-pdf-header-footer --print-to-pdf=", pdf.string(),
                         " file://", report.string()));
  ASSERT_EQ(printed.exit_code, 0) << printed.out;
  const std::filesystem::path qdf = dir_.path() / "report.qdf";
  Result expanded =
      Shell(absl::StrCat("qpdf --qdf --object-streams=disable ", pdf.string(), " ", qdf.string()));
  ASSERT_EQ(expanded.exit_code, 0) << expanded.out;
  const std::string pages = Slurp(qdf);
  EXPECT_TRUE(
      std::regex_search(pages, std::regex(R"(/MediaBox \[\s*0\s+0\s+59[45](\.\d+)?\s+84[12])")))
      << "the printed report is not A4";
  // A screenshot to look at (kept only in the test's temp dir).
  Shell(absl::StrCat(chromium, " --window-size=900,1300 --screenshot=",
                     (dir_.path() / "report.png").string(), " file://", report.string()));
}

}  // namespace
}  // namespace utpost::testutil
