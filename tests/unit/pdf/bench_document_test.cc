// The benchmark's letter document is what it claims: a printable PDF of exactly the size asked
// for, different every time, which qpdf opens without recovery.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>

#include "bench/document.h"
#include "pdf/printability.h"
#include "tests/testutil/files.h"

namespace utpost::bench {
namespace {

TEST(BenchDocumentTest, IsAPrintableOnePageA4PdfOfExactlyTheSizeAskedFor) {
  std::mt19937_64 random(7);
  std::set<std::string> seen;
  for (uint64_t bytes :
       {kMinPdfBytes, uint64_t{4096}, uint64_t{65536}, uint64_t{65537}, uint64_t{1} << 20}) {
    const std::string pdf = MakePdfDocument(bytes, random);
    EXPECT_EQ(pdf.size(), bytes);
    internal::v1::Printability p = pdf::CheckPrintable(pdf);
    EXPECT_TRUE(p.printable()) << bytes << ": " << p.problem();
    EXPECT_EQ(p.page_count(), 1u) << bytes;
    EXPECT_TRUE(seen.insert(pdf).second) << "the same bytes twice";
  }
}

// qpdf's own check (structure, cross-references, streams) finds nothing to warn about.
TEST(BenchDocumentTest, QpdfCheckFindsNoProblem) {
  std::mt19937_64 random(8);
  testutil::TempDir dir;
  const std::string path = (dir.path() / "letter.pdf").string();
  std::ofstream(path, std::ios::binary) << MakePdfDocument(65536, random);
  const std::string command = "qpdf --check '" + path + "' > /dev/null 2>&1";
  if (std::system("command -v qpdf > /dev/null 2>&1") != 0) GTEST_SKIP() << "no qpdf tool";
  EXPECT_EQ(std::system(command.c_str()), 0);
}

}  // namespace
}  // namespace utpost::bench
