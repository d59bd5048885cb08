// What utpostctl forms fetch makes of a decrypted submission: the MIME split, and file names
// from a hostile or broken submission that must not escape the output directory.
#include "clients/cli/submission_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace utpost::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kMime[] =
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"utpost-ab\"\r\n\r\n"
    "--utpost-ab\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Disposition: inline; filename=\"submission.json\"\r\n\r\n"
    "{\"a\": 1}\r\n"
    "--utpost-ab\r\n"
    "Content-Type: application/pdf\r\n"
    "Content-Disposition: attachment; filename=\"x.pdf\"; filename*=UTF-8''tegning-%C3%A6.pdf\r\n"
    "Content-Transfer-Encoding: binary\r\n\r\n"
    "%PDF\r\n\r\nbytes with CRLF inside\r\n"
    "--utpost-ab--\r\n";

TEST(SplitSubmissionMimeTest, SplitsTheJsonAndTheAttachmentsKeepingTheirBytes) {
  absl::StatusOr<std::vector<SubmissionPart>> parts = SplitSubmissionMime(kMime);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].media_type, "application/json");
  EXPECT_EQ((*parts)[0].content, "{\"a\": 1}");
  EXPECT_EQ((*parts)[1].media_type, "application/pdf");
  EXPECT_EQ((*parts)[1].filename, "tegning-\xc3\xa6.pdf");  // filename* wins
  EXPECT_EQ((*parts)[1].content, "%PDF\r\n\r\nbytes with CRLF inside");
}

TEST(SplitSubmissionMimeTest, RefusesWhatIsNotASubmission) {
  EXPECT_FALSE(SplitSubmissionMime("").ok());
  EXPECT_FALSE(SplitSubmissionMime("Content-Type: text/plain\r\n\r\nhello").ok());
  std::string unclosed(kMime);
  unclosed.resize(unclosed.size() - 20);
  EXPECT_FALSE(SplitSubmissionMime(unclosed).ok());
  std::string not_json(kMime);
  not_json.replace(not_json.find("application/json"), 16, "text/plain");
  EXPECT_THAT(SplitSubmissionMime(not_json).status().message(), HasSubstr("JSON"));
}

TEST(SafeFilenameTest, NeverLeavesTheDirectory) {
  EXPECT_EQ(SafeFilename("../../etc/passwd", 1), "passwd");
  EXPECT_EQ(SafeFilename("..\\..\\boot.ini", 1), "boot.ini");
  EXPECT_EQ(SafeFilename("..", 2), "attachment-2");
  EXPECT_EQ(SafeFilename("", 3), "attachment-3");
  EXPECT_EQ(SafeFilename("a\nb\x01.pdf", 1), "ab.pdf");
  EXPECT_EQ(SafeFilename("dir/", 4), "attachment-4");
}

TEST(WriteSubmissionPartsTest, SameNamesGetASuffixAndJsonItsOwnName) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("utpost-parts-" + std::to_string(::getpid()));
  std::vector<SubmissionPart> parts = {{"", "application/json", "{}"},
                                       {"a.pdf", "application/pdf", "1"},
                                       {"a.pdf", "application/pdf", "2"},
                                       {"submission.json", "application/json", "3"}};
  absl::StatusOr<std::vector<std::filesystem::path>> written = WriteSubmissionParts(dir, parts);
  ASSERT_TRUE(written.ok()) << written.status();
  std::vector<std::string> names;
  for (const auto& p : *written) names.push_back(p.filename().string());
  EXPECT_THAT(names, ElementsAre("submission.json", "a.pdf", "a-2.pdf", "submission-2.json"));
  std::ifstream in(dir / "a-2.pdf");
  std::stringstream s;
  s << in.rdbuf();
  EXPECT_EQ(s.str(), "2");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace utpost::cli
