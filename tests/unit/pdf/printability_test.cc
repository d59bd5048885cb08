#include "pdf/printability.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/testutil/memory.h"
#include "tests/testutil/pdfs.h"

namespace utpost::pdf {
namespace {

using ::testing::HasSubstr;
using testutil::kA4Page;
using testutil::MakePdf;
using testutil::PdfOptions;
using testutil::PdfPage;

constexpr PdfPage kLandscape{842, 595};
constexpr PdfPage kLetter{612, 792};

TEST(PrintabilityTest, A4PortraitPrints) {
  internal::v1::Printability p = CheckPrintable(MakePdf({kA4Page, kA4Page, kA4Page}));
  EXPECT_TRUE(p.printable()) << p.problem();
  EXPECT_EQ(p.page_count(), 3u);
  EXPECT_EQ(p.problem(), "");
}

TEST(PrintabilityTest, A4InExactPointsAndWithinToleranceAndRotatedLandscapePrint) {
  EXPECT_TRUE(CheckPrintable(MakePdf({{kA4WidthPt, kA4HeightPt}})).printable());
  // 2 mm narrower (a scanner's margin): within 3 mm.
  EXPECT_TRUE(CheckPrintable(MakePdf({{595 - 2 * 72 / 25.4, 842}})).printable());
  // A landscape MediaBox shown turned a quarter: it prints portrait.
  EXPECT_TRUE(CheckPrintable(MakePdf({{842, 595, 90}})).printable());
  EXPECT_TRUE(CheckPrintable(MakePdf({{842, 595, -90}})).printable());
  // Letter-sized MediaBox cropped to A4.
  EXPECT_TRUE(CheckPrintable(MakePdf({{700, 900, 0, 595, 842}})).printable());
}

TEST(PrintabilityTest, ObjectStreamsAreRead) {
  PdfOptions options;
  options.object_streams = true;
  internal::v1::Printability p = CheckPrintable(MakePdf({kA4Page, kA4Page}, options));
  EXPECT_TRUE(p.printable()) << p.problem();
  EXPECT_EQ(p.page_count(), 2u);
}

TEST(PrintabilityTest, LandscapeIsRefusedNamingThePage) {
  internal::v1::Printability p = CheckPrintable(MakePdf({kA4Page, kA4Page, kLandscape}));
  EXPECT_FALSE(p.printable());
  EXPECT_EQ(p.problem(), "page 3 is landscape (297 x 210 mm); print needs A4 portrait");
  EXPECT_EQ(p.page_count(), 3u);
  // Portrait turned a quarter by /Rotate is landscape too.
  p = CheckPrintable(MakePdf({{595, 842, 270}}));
  EXPECT_FALSE(p.printable());
  EXPECT_THAT(p.problem(), HasSubstr("page 1 is landscape"));
}

TEST(PrintabilityTest, LetterSizeIsRefused) {
  internal::v1::Printability p = CheckPrintable(MakePdf({kA4Page, kLetter}));
  EXPECT_FALSE(p.printable());
  EXPECT_EQ(p.problem(),
            "page 2 is 216 x 279 mm; print needs A4 portrait (210 x 297 mm, within 3 mm)");
  // A CropBox that shows a smaller area than A4 counts, not the MediaBox.
  p = CheckPrintable(MakePdf({{595, 842, 0, 500, 700}}));
  EXPECT_FALSE(p.printable());
  EXPECT_THAT(p.problem(), HasSubstr("page 1 is 176 x 247 mm"));
}

TEST(PrintabilityTest, ToleranceIsConfigurable) {
  PrintabilityLimits strict;
  strict.tolerance_mm = 1.0;
  EXPECT_FALSE(CheckPrintable(MakePdf({{595 - 2 * 72 / 25.4, 842}}), strict).printable());
}

TEST(PrintabilityTest, EncryptedIsRefused) {
  PdfOptions options;
  options.encrypt = true;
  // An owner password only: opens without a password, still encrypted.
  internal::v1::Printability p = CheckPrintable(MakePdf({kA4Page}, options));
  EXPECT_FALSE(p.printable());
  EXPECT_EQ(p.problem(), "the PDF is encrypted; print needs an unencrypted PDF");
  options.user_password = "secret";
  p = CheckPrintable(MakePdf({kA4Page}, options));
  EXPECT_FALSE(p.printable());
  EXPECT_EQ(p.problem(), "the PDF is encrypted; print needs an unencrypted PDF");
}

TEST(PrintabilityTest, TruncatedAndCorruptAreRefusedWithoutThrowing) {
  const std::string good = MakePdf({kA4Page, kA4Page});
  for (size_t keep : {good.size() / 2, good.size() - 40, size_t{9}}) {
    internal::v1::Printability p = CheckPrintable(std::string_view(good).substr(0, keep));
    EXPECT_FALSE(p.printable()) << keep;
    EXPECT_EQ(p.page_count(), 0u);
    EXPECT_THAT(p.problem(), HasSubstr("cannot be read")) << keep;
  }
  // Garbage after a PDF header, and a valid file with its cross-reference table damaged.
  std::string garbage = "%PDF-1.7\n";
  for (int i = 0; i < 5000; ++i) garbage.push_back(static_cast<char>((i * 7919) % 251));
  EXPECT_FALSE(CheckPrintable(garbage).printable());
  std::string damaged = good;
  const size_t xref = damaged.rfind("xref\n");
  ASSERT_NE(xref, std::string::npos);
  damaged.replace(xref, 4, "xrex");  // where startxref points: no table, and no recovery
  internal::v1::Printability p = CheckPrintable(damaged);
  EXPECT_FALSE(p.printable());
  EXPECT_THAT(p.problem(), HasSubstr("cannot be read"));
}

TEST(PrintabilityTest, PageLimit) {
  internal::v1::Printability p = CheckPrintable(MakePdf(std::vector<PdfPage>(300, kA4Page)));
  EXPECT_TRUE(p.printable()) << p.problem();
  EXPECT_EQ(p.page_count(), 300u);
  p = CheckPrintable(MakePdf(std::vector<PdfPage>(301, kA4Page)));
  EXPECT_FALSE(p.printable());
  EXPECT_EQ(p.problem(), "the document has more than 300 pages; at most 300 can be printed");
  PrintabilityLimits small;
  small.max_pages = 2;
  EXPECT_FALSE(CheckPrintable(MakePdf({kA4Page, kA4Page, kA4Page}), small).printable());
}

TEST(PrintabilityTest, NotAPdf) {
  internal::v1::Printability p = CheckPrintable("Dear citizen, this is plain text.");
  EXPECT_FALSE(p.printable());
  EXPECT_EQ(p.problem(), "not a PDF (no %PDF- header)");
  EXPECT_FALSE(CheckPrintable("").printable());
  PrintabilityLimits tiny;
  tiny.max_bytes = 100;
  EXPECT_THAT(CheckPrintable(MakePdf({kA4Page}), tiny).problem(), HasSubstr("larger than"));
}

TEST(PrintabilityTest, NoProblemQuotesTheDocument) {
  PdfOptions options;
  options.text = "SECRET-CONTENT-MARKER";
  const std::string pdf = MakePdf({kA4Page, kLandscape}, options);
  EXPECT_THAT(CheckPrintable(pdf).problem(), ::testing::Not(HasSubstr("SECRET")));
  EXPECT_THAT(CheckPrintable(pdf.substr(0, pdf.size() / 2)).problem(),
              ::testing::Not(HasSubstr("SECRET")));
}

// qpdf 11.3 inflates cross-reference and object streams whole, with no limit; the check
// counts them itself first, so neither bomb costs more than the cap.
TEST(PrintabilityTest, CrossReferenceStreamBombIsRefusedInBoundedMemory) {
  const std::string bomb = testutil::MakeXrefBombPdf(size_t{512} << 20);
  ASSERT_LT(bomb.size(), size_t{2} << 20);
  internal::v1::Printability p;
  const int64_t growth = testutil::PeakRssGrowth([&] { p = CheckPrintable(bomb); });
  EXPECT_FALSE(p.printable());
  EXPECT_EQ(p.problem(), "the PDF's structure is too large when decompressed");
  if (testutil::kRssIsMeaningful) {
    EXPECT_LT(growth, int64_t{64} << 20);
  }
}

TEST(PrintabilityTest, ObjectStreamBombIsRefusedInBoundedMemory) {
  PdfOptions options;
  options.object_streams = true;
  options.catalogue_padding = size_t{48} << 20;  // written as \000: about 4 x inflated
  const std::string bomb = MakePdf({kA4Page}, options);
  ASSERT_LT(bomb.size(), size_t{4} << 20);
  internal::v1::Printability p;
  const int64_t growth = testutil::PeakRssGrowth([&] { p = CheckPrintable(bomb); });
  EXPECT_FALSE(p.printable());
  EXPECT_EQ(p.problem(), "the PDF's structure is too large when decompressed");
  if (testutil::kRssIsMeaningful) {
    EXPECT_LT(growth, int64_t{64} << 20);
  }
}

}  // namespace
}  // namespace utpost::pdf
