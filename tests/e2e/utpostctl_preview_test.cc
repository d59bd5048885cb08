// `utpostctl preview` as a municipality runs it: the real binary against a real server with
// every component, on a file of 2500 recipients (three calls of at most 1000, added up). The
// table, the per-recipient CSV and the JSON agree; a bad line stops it before any call and
// is named; nothing is sent.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/testutil/shell.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

using ::testing::HasSubstr;

using Result = ShellResult;

// Each round: a mailbox, reserved, no mailbox (registry address), an organisation's inbox,
// and a person the registry does not know, without an address of the letter's own.
constexpr const char* kRound[] = {"15076500565", "02028234530", "17059121030", "921837003",
                                  "01017012343"};
constexpr int kRounds = 500;

class UtpostctlPreviewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = TestStack::Start(dir_.path());
    ASSERT_NE(stack_, nullptr);
    file_ = dir_.path() / "recipients.csv";
    std::ofstream out(file_);
    out << "case,id,has_address\n";
    for (int r = 0; r < kRounds; ++r) {
      for (const char* id : kRound) out << "2026/" << r << "," << id << ",no\n";
    }
  }

  Result Run(const std::string& args) {
    return Shell(absl::StrCat(UTPOSTCTL_BINARY, " --config ",
                              stack_->app().ClientConfigPath(kOslo).string(), " preview ", args));
  }

  TempDir dir_;
  std::unique_ptr<TestStack> stack_;
  std::filesystem::path file_;
};

TEST_F(UtpostctlPreviewTest, TableCsvAndJsonAgreeOverSeveralCalls) {
  Result table = Run(file_.string());
  ASSERT_EQ(table.exit_code, 0) << table.out;
  EXPECT_THAT(table.out, HasSubstr("2500 recipients"));
  EXPECT_THAT(table.out, HasSubstr("nothing was sent"));
  EXPECT_THAT(table.out, ::testing::ContainsRegex("digital mailbox +500 +20.0 %"));
  EXPECT_THAT(table.out, ::testing::ContainsRegex("organisation inbox +500 +20.0 %"));
  EXPECT_THAT(table.out, ::testing::ContainsRegex("paper +1000 +40.0 %"));
  EXPECT_THAT(table.out, ::testing::ContainsRegex("recipient_reserved +500"));
  EXPECT_THAT(table.out, ::testing::ContainsRegex("no_mailbox +500"));
  EXPECT_THAT(table.out, ::testing::ContainsRegex("no_channel +500"));
  // 1000 × (11.00 + 30.00) + 1000 × 0.90; avoided 1000 × 40.10, at the default prices.
  EXPECT_THAT(table.out, HasSubstr("estimated cost NOK 41 900.00"));
  EXPECT_THAT(table.out, HasSubstr("NOK 40 100.00"));

  Result csv = Run(absl::StrCat(file_.string(), " --format csv"));
  ASSERT_EQ(csv.exit_code, 0) << csv.out;
  std::vector<std::string> lines = absl::StrSplit(csv.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2501u);
  EXPECT_EQ(lines[0], "line,recipient,route,reason,detail");
  EXPECT_THAT(lines[1],
              ::testing::StartsWith("2,15076500565,digital_mailbox,has_digital_mailbox,"));
  EXPECT_THAT(lines[2], ::testing::StartsWith("3,02028234530,paper,recipient_reserved,"));
  EXPECT_THAT(lines[4], ::testing::StartsWith("5,921837003,organisation_inbox,"));
  // The last recipient of the last call keeps its place.
  EXPECT_THAT(lines[2500], ::testing::StartsWith("2501,01017012343,failed,no_channel,"));

  Result json = Run(absl::StrCat(file_.string(), " --format json"));
  ASSERT_EQ(json.exit_code, 0) << json.out;
  const nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["routes"].size(), 2500u);
  EXPECT_EQ(j["digital_mailbox"], "500");  // uint64 as a JSON string, as protobuf writes it
  EXPECT_EQ(j["paper"], "1000");
  EXPECT_EQ(j["failed"], "500");
  EXPECT_EQ(j["estimated_cost"]["minor_units"], "4190000");

  // Letters only to digital recipients, at HIGH: the SUBSTANTIAL-only mailbox goes to paper.
  std::ofstream high(dir_.path() / "high.txt");
  high << "09116441796\n15076500565\n";
  high.close();
  Result levels =
      Run(absl::StrCat((dir_.path() / "high.txt").string(), " --security-level high --format csv"));
  ASSERT_EQ(levels.exit_code, 0) << levels.out;
  EXPECT_THAT(levels.out, HasSubstr("1,09116441796,paper,security_level_not_supported,"));
  EXPECT_THAT(levels.out, HasSubstr("2,15076500565,digital_mailbox,"));

  // Nothing was sent.
  v1::ListLettersRequest list;
  auto letters = stack_->Client(kOslo).List(list);
  ASSERT_TRUE(letters.ok()) << letters.status();
  EXPECT_EQ(letters->letters_size(), 0);
}

TEST_F(UtpostctlPreviewTest, ABadLineIsNamedAndNothingIsAsked) {
  std::ofstream bad(dir_.path() / "bad.csv");
  bad << "id\n15076500565\n15076500566\nnot a number\n";
  bad.close();
  Result r = Run((dir_.path() / "bad.csv").string());
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("line 3"));
  EXPECT_THAT(r.out, HasSubstr("line 4"));

  Result missing = Run((dir_.path() / "missing.csv").string());
  EXPECT_EQ(missing.exit_code, 3) << missing.out;
  EXPECT_THAT(missing.out, HasSubstr("cannot read"));
}

}  // namespace
}  // namespace utpost::testutil
