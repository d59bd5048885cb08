// utpostctl registry as a user runs it: the real binary against a real server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "clients/cpp/registry_client.h"
#include "tests/testutil/shell.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using Result = ShellResult;

class UtpostctlRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = TestStack::Start();
    ASSERT_NE(stack_, nullptr);
  }

  Result Run(const std::string& args) {
    const std::string command = absl::StrCat(
        UTPOSTCTL_BINARY, " --config ", stack_->app().ClientConfigPath(kOslo).string(), " ", args);
    return Shell(command);
  }

  std::string Write(const std::string& name, const std::string& content) {
    const std::filesystem::path path = dir_.path() / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }

  // The entry for `id` as `registry get` prints it ("" if there is none).
  std::string Get(const std::string& id) {
    Result r = Run("registry get " + id);
    return r.exit_code == 0 ? r.out : "";
  }

  TempDir dir_;
  std::unique_ptr<TestStack> stack_;
};

constexpr char kBadCsv[] =
    "id,mailbox_provider,mailbox_address,reserved,postal_name,postal_lines,postal_code,"
    "postal_city\n"
    "19100012345,,,,,,,\n"                                                     // 2: bad check digit
    "01017010170,dev,ny@dev,,\"Nordmann, Nils\",Gate 1|Oppgang B,0155,Oslo\n"  // 3: good
    "01017010251,nowhere,x@dev,,,,,\n"             // 4: unknown provider
    "01017010170,,,true,,,,\n"                     // 5: duplicate of 3
    "921837011,,,,Firma AS,Postboks 1,01,Oslo\n";  // 6: postal code

TEST_F(UtpostctlRegistryTest, AFileWithBadRowsImportsNothingAndNamesEveryOne) {
  const std::string file = Write("bad.csv", kBadCsv);
  Result r = Run("registry import " + file);
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("line 2: id (person.id.norwegian_national_id)"));
  EXPECT_THAT(r.out, HasSubstr("line 4: mailbox_provider: names provider 'nowhere'"));
  EXPECT_THAT(r.out, HasSubstr("line 5: id: the same entry as line 3"));
  EXPECT_THAT(r.out, HasSubstr("line 6: postal_code (organisation.postal_address.postal_code)"));
  EXPECT_THAT(r.out, HasSubstr("nothing imported: 4 of 5 rows are bad"));
  EXPECT_THAT(r.out, Not(HasSubstr("line 3:")));
  EXPECT_EQ(Get("01017010170"), "") << "the good row was not imported either";
}

TEST_F(UtpostctlRegistryTest, SkipBadRowsImportsTheGoodOnesAndTheFirstOfADuplicate) {
  const std::string file = Write("bad.csv", kBadCsv);
  Result r = Run("registry import --skip-bad-rows " + file);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("imported 1 rows"));
  EXPECT_THAT(r.out, HasSubstr("4 bad rows skipped"));
  EXPECT_THAT(r.out, HasSubstr("rows/s"));
  const std::string got = Get("01017010170");
  EXPECT_THAT(got, HasSubstr("ny@dev at dev"));
  EXPECT_THAT(got, HasSubstr("Nordmann, Nils, Gate 1, Oppgang B, 0155 Oslo, NO"));
  EXPECT_THAT(got, HasSubstr("reserved   no")) << "line 5, the duplicate, was skipped";
}

TEST_F(UtpostctlRegistryTest, JsonLinesAndArraysAreReadWithTheirLineNumbers) {
  const std::string lines = Write(
      "rows.jsonl",
      "{\"id\": \"01017010170\", \"reserved\": true, \"postal_name\": \"A\", "
      "\"postal_lines\": [\"Gate 1\"], \"postal_code\": \"0155\", \"postal_city\": \"Oslo\"}\n"
      "{\"id\": \"29189862\", \"mailbox_provider\": \"dev\", \"mailbox_address\": \"i@dev\"}\n");
  Result r = Run("registry import " + lines);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(Get("01017010170"), HasSubstr("reserved   yes"));
  EXPECT_THAT(Get("29189862"), HasSubstr("i@dev at dev"));

  const std::string array = Write("rows.json",
                                  "[\n"
                                  "  {\"id\": \"01017010170\"},\n"
                                  "  {\n"
                                  "    \"id\": \"01017010171\"\n"
                                  "  },\n"
                                  "  {\"kind\": \"provider\", \"id\": \"Bad Id\"}\n"
                                  "]\n");
  r = Run("registry import " + array);
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("line 3: id (person.id.norwegian_national_id)"));
  EXPECT_THAT(r.out, HasSubstr("line 6: id (provider.provider_id)"));
  EXPECT_THAT(r.out, HasSubstr("line 6: provider_name"));
}

TEST_F(UtpostctlRegistryTest, PutGetAndDeleteAnEntry) {
  Result r =
      Run("registry put 01017010170 --mailbox-provider dev-substantial --mailbox-address p@sub "
          "--postal-name Per --postal-line 'Gate 1' --postal-code 5003 --postal-city Bergen");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("created"));
  const std::string got = Get("01017010170");
  EXPECT_THAT(got, HasSubstr("p@sub at dev-substantial"));
  EXPECT_THAT(got, HasSubstr("up to substantial"));
  r = Run("registry put 01017010170 --mailbox-provider nowhere --mailbox-address p@x");
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("FAILED_PRECONDITION: entry.person.mailbox.provider_id"));
  r = Run("registry delete 01017010170");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("deleted"));
  r = Run("registry get 01017010170");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("NOT_FOUND"));
  r = Run("registry get --provider dev");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("up to high"));
}

}  // namespace
}  // namespace utpost::testutil
