// `utpostctl forms` as a municipality and a portal run it: the real binary against a real
// server, the example form type from examples/forms/, a fetched submission decrypted both by
// utpostctl and by `openssl cms -decrypt` with the municipality's key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/testutil/shell.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPortal[] = "NO991825827";

using Result = ShellResult;

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class UtpostctlFormsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Under <dir>/data, as `make run` leaves it, so that --as finds data/utpostctl-<org>.yaml.
    stack_ = TestStack::Start(dir_.path() / "data", {}, kLedgerOnly);
    ASSERT_NE(stack_, nullptr);
    attachment_ = dir_.path() / "vedlegg.pdf";
    std::ofstream(attachment_, std::ios::binary) << MakePdf("MARKER-ATTACHMENT");
    Result r = Run(absl::StrCat("forms register ", UTPOST_EXAMPLE_FORMS, "/barnehage.yaml"));
    ASSERT_EQ(r.exit_code, 0) << r.out;
    ASSERT_THAT(r.out, HasSubstr("barnehageplass version 1 registered for NO958935420"));
  }

  Result Run(const std::string& args, std::string_view org = kOslo) {
    return Shell(absl::StrCat(UTPOSTCTL_BINARY, " --config ",
                              stack_->app().ClientConfigPath(org).string(), " ", args));
  }

  // A valid submission of the example form, as the dev portal; returns its id.
  std::string Submit(const std::string& child = "Kari Nordmann") {
    Result r = Run(
        absl::StrCat("forms submit --type barnehageplass --citizen 15076500565",
                     " --field 'child_name=", child, "'", " --field child_birth_date=2021-05-01",
                     " --field parent_national_id=02028234530", " --field start_date=2027-08-01",
                     " --field 'first_choice=Sagene barnehage'",
                     " --field hours_per_week=41 --field phone=+4791234567", " --attach ",
                     attachment_.string()),
        kPortal);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr("(receipt letter "));
    return r.out.substr(0, r.out.find(' '));
  }

  std::filesystem::path Key(std::string_view org) const {
    return stack_->data_dir() / "pki" / "clients" / std::string(org) / "client.key";
  }

  TempDir dir_;
  std::filesystem::path attachment_;
  std::unique_ptr<TestStack> stack_;
};

TEST_F(UtpostctlFormsTest, RegisteringTheSameFileAgainChangesNothing) {
  Result r = Run(absl::StrCat("forms register ", UTPOST_EXAMPLE_FORMS, "/barnehage.yaml"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("(unchanged)"));
  Result types = Run("forms types");
  EXPECT_THAT(types.out, HasSubstr("barnehageplass           1        10"));
}

TEST_F(UtpostctlFormsTest, FetchDecryptsIntoFilesAndAckArchives) {
  const std::string id = Submit();
  ASSERT_EQ(id.size(), 26u) << id;
  const std::filesystem::path inbox = dir_.path() / "inbox";
  Result fetched = Run(
      absl::StrCat("forms fetch --decrypt-key ", Key(kOslo).string(), " --out ", inbox.string()));
  ASSERT_EQ(fetched.exit_code, 0) << fetched.out;
  EXPECT_THAT(fetched.out, HasSubstr(id));
  const std::string json = ReadAll(inbox / id / "submission.json");
  EXPECT_THAT(json, HasSubstr("\"child_name\": \"Kari Nordmann\""));
  EXPECT_THAT(json, HasSubstr("\"hours_per_week\": 41"));
  EXPECT_THAT(json, HasSubstr("\"citizen\": {\"norwegian_national_id\": \"15076500565\"}"));
  EXPECT_EQ(ReadAll(inbox / id / "vedlegg.pdf"), ReadAll(attachment_));

  // Fetched but not acknowledged: pending still. Acknowledged: archived, twice is a no-op.
  EXPECT_THAT(Run("forms list --state pending").out, HasSubstr(id));
  Result ack = Run("forms ack " + id);
  EXPECT_EQ(ack.exit_code, 0) << ack.out;
  EXPECT_THAT(ack.out, HasSubstr(id + " archived"));
  EXPECT_THAT(Run("forms ack " + id).out, HasSubstr("archived (already)"));
  EXPECT_THAT(Run("forms list --state pending").out, Not(HasSubstr(id)));
  Result archived = Run("forms list --state archived -o json");
  EXPECT_THAT(archived.out, HasSubstr("\"state\": \"SUBMISSION_STATE_ARCHIVED\""));
}

TEST_F(UtpostctlFormsTest, EnvelopesWithoutAKeyOpenWithOpensslCms) {
  const std::string id = Submit("Ola Nordmann");
  const std::filesystem::path out = dir_.path() / "envelopes";
  Result fetched = Run("forms fetch --out " + out.string());
  ASSERT_EQ(fetched.exit_code, 0) << fetched.out;
  const std::filesystem::path cms = out / (id + ".cms");
  ASSERT_TRUE(std::filesystem::exists(cms)) << fetched.out;
  Result opened = Shell(absl::StrCat("openssl cms -decrypt -inform DER -in ", cms.string(),
                                     " -inkey ", Key(kOslo).string()));
  EXPECT_EQ(opened.exit_code, 0) << opened.out;
  EXPECT_THAT(opened.out, HasSubstr("\"child_name\": \"Ola Nordmann\""));
  // Bergen's key does not open Oslo's submissions, and utpostctl says so.
  const std::string second = Submit("Per Nordmann");
  Result wrong = Run(absl::StrCat("forms fetch --decrypt-key ", Key(kBergen).string(), " --out ",
                                  (dir_.path() / "x").string()));
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_THAT(wrong.out, HasSubstr(second + ": the envelope does not open with"));
}

TEST_F(UtpostctlFormsTest, RejectSendsTheCitizenANoticeLetter) {
  const std::string id = Submit();
  Result rejected = Run("forms reject " + id + " --reason 'Barnet bor ikke i Oslo.'");
  ASSERT_EQ(rejected.exit_code, 0) << rejected.out;
  EXPECT_THAT(rejected.out, HasSubstr(id + " rejected; notice letter "));
  const std::string notice(
      absl::StripTrailingAsciiWhitespace(rejected.out.substr(rejected.out.rfind(' ') + 1)));
  Result letter = Run("get " + notice);
  EXPECT_EQ(letter.exit_code, 0) << letter.out;
  EXPECT_THAT(letter.out, HasSubstr("recipient  15076500565"));
  EXPECT_THAT(Run("forms list --state rejected").out, HasSubstr(id));
}

TEST_F(UtpostctlFormsTest, BadInputNamesTheFieldAndStoresNothing) {
  Result r =
      Run("forms submit --type barnehageplass --citizen 15076500565 --field child_name=K "
          "--field child_birth_date=2021-02-30 --field hours_per_week=41.5",
          kPortal);
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("values[0].text: must be at least 2 characters"));
  EXPECT_THAT(r.out, HasSubstr("values[1].date: must be a real calendar date"));
  EXPECT_THAT(r.out, HasSubstr("values[2].number: must be a whole number"));
  EXPECT_THAT(r.out, HasSubstr("required field \"phone\" has no value"));
  r = Run("forms submit --type barnehageplass --citizen 15076500565 --field colour=blue", kPortal);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("--field: form type barnehageplass has no field 'colour'"));
  // Bergen is not an allowed portal of Oslo's form.
  r =
      Run("forms submit --municipality NO958935420 --type barnehageplass --citizen 15076500565 "
          "--field child_name=Kari",
          kBergen);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("NOT_FOUND: form_type_id: no form type \"barnehageplass\" of "
                               "NO958935420 is available to NO964338531"));
  EXPECT_THAT(Run("forms list").out, Not(HasSubstr("barnehageplass v1")));

  // A form type file with a mistake: the key path is named.
  const std::filesystem::path bad = dir_.path() / "bad.yaml";
  std::ofstream(bad) << "form_type_id: x\ntitle: X\nversion: 1\nfields:\n"
                        "  - {name: a, label: A, kind: txt}\n";
  r = Run("forms register " + bad.string());
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("fields[0].kind: unknown value 'txt' (one of text, number"));
}

TEST_F(UtpostctlFormsTest, AsPicksADevIdentitysConfiguration) {
  const std::string ctl = absl::StrCat("cd ", dir_.path().string(), " && ", UTPOSTCTL_BINARY);
  const std::string id = Submit();
  // The portal submitted it; as the portal, there is nothing to fetch (it is Oslo's).
  Result portal = Shell(ctl + " --as portal forms list");
  EXPECT_EQ(portal.exit_code, 0) << portal.out;
  EXPECT_THAT(portal.out, Not(HasSubstr(id)));
  Result oslo = Shell(ctl + " --as NO958935420 forms list");
  EXPECT_EQ(oslo.exit_code, 0) << oslo.out;
  EXPECT_THAT(oslo.out, HasSubstr(id));
  Result unknown = Shell(ctl + " --as NO123456785 forms list");
  EXPECT_EQ(unknown.exit_code, 3);
  EXPECT_THAT(unknown.out, HasSubstr("--as: no data/utpostctl-NO123456785.yaml"));
}

}  // namespace
}  // namespace utpost::testutil
