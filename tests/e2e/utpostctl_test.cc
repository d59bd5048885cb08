// utpostctl as a user runs it: the real binary against a real server, reading the client
// configuration the server wrote.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

using ::testing::HasSubstr;

struct Result {
  int exit_code = -1;
  std::string out;  // stdout and stderr
};

class UtpostctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Without the router, letters stay ACCEPTED and the output of each command is fixed.
    stack_ = TestStack::Start({}, {}, kLedgerOnly);
    ASSERT_NE(stack_, nullptr);
    pdf_ = dir_.path() / "vedtak.pdf";
    std::ofstream(pdf_, std::ios::binary) << MakePdf("MARKER-CLI");
  }

  Result Run(const std::string& args, std::string_view org = kOslo) {
    const std::string command =
        absl::StrCat(UTPOSTCTL_BINARY, " --config ", stack_->app().ClientConfigPath(org).string(),
                     " ", args, " 2>&1");
    Result result;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return result;
    std::array<char, 4096> buffer;
    size_t n;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
      result.out.append(buffer.data(), n);
    const int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
  }

  std::string Send(const std::string& extra = "") {
    Result r = Run(
        absl::StrCat("send --to 15076500565 --title Vedtak --file ", pdf_.string(), " ", extra));
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return std::string(absl::StripTrailingAsciiWhitespace(r.out));
  }

  TempDir dir_;
  std::filesystem::path pdf_;
  std::unique_ptr<TestStack> stack_;
};

TEST_F(UtpostctlTest, SendPrintsTheLetterIdThatGetAndListShow) {
  const std::string id = Send("--external-reference 2026/77");
  ASSERT_EQ(id.size(), 26u) << id;
  Result got = Run("get " + id);
  EXPECT_EQ(got.exit_code, 0);
  EXPECT_THAT(got.out, HasSubstr("status     accepted"));
  EXPECT_THAT(got.out, HasSubstr("vedtak.pdf (application/pdf"));
  EXPECT_THAT(got.out, HasSubstr("submitted"));
  EXPECT_THAT(got.out, HasSubstr("2026/77"));
  Result listed = Run("list");
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_THAT(listed.out, HasSubstr(id));
}

TEST_F(UtpostctlTest, EveryIdentifierKindIsToldApartByLength) {
  for (const char* to : {"958935420", "29189846", "0101901234", "010190-1234"}) {
    Result r = Run(absl::StrCat("send --to ", to, " --title Vedtak --file ", pdf_.string()));
    EXPECT_EQ(r.exit_code, 0) << to << ": " << r.out;
  }
}

TEST_F(UtpostctlTest, BadInputExitsNonZeroNamingTheField) {
  Result r = Run(absl::StrCat("send --to 15076500566 --title Vedtak --file ", pdf_.string()));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("--to: check digit is wrong"));
  // Caught by the server: the field path comes from its google.rpc.BadRequest.
  r = Run(absl::StrCat("send --to 15076500565 --title '' --file ", pdf_.string()));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("INVALID_ARGUMENT: title"));
  r = Run("get 01J00000000000000000000000");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("NOT_FOUND"));
}

TEST_F(UtpostctlTest, JsonOutputCancelAndWatch) {
  const std::string id = Send();
  Result cancelled = Run("--output json cancel " + id);
  EXPECT_EQ(cancelled.exit_code, 0);
  EXPECT_THAT(cancelled.out, HasSubstr("\"status\": \"LETTER_STATUS_CANCELLED\""));
  Result watched = Run("watch --max-events 2");
  EXPECT_EQ(watched.exit_code, 0) << watched.out;
  EXPECT_THAT(watched.out, HasSubstr("cancelled_by_sender"));
  // Another municipality sees nothing of it.
  Result bergen = Run("get " + id, kBergen);
  EXPECT_EQ(bergen.exit_code, 1);
  EXPECT_THAT(bergen.out, HasSubstr("NOT_FOUND"));
}

}  // namespace
}  // namespace utpost::testutil
