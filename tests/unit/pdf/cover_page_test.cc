#include "pdf/cover_page.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <qpdf/QPDF.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFPageObjectHelper.hh>
#include <string>
#include <vector>

#include "pdf/printability.h"

namespace utpost::pdf {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

// The strings the page's content stream shows (Tj operands), and the encodings of its fonts.
struct Shown {
  std::vector<std::string> strings;
  std::vector<std::string> encodings;
  double width = 0;
  double height = 0;
};

class StringCollector : public QPDFObjectHandle::ParserCallbacks {
 public:
  void handleObject(QPDFObjectHandle object) override {
    if (object.isString()) strings.push_back(object.getStringValue());
  }
  void handleEOF() override {}
  std::vector<std::string> strings;
};

Shown Read(const std::string& pdf) {
  QPDF qpdf;
  qpdf.processMemoryFile("cover", pdf.data(), pdf.size());
  Shown shown;
  const std::vector<QPDFObjectHandle>& pages = qpdf.getAllPages();
  EXPECT_EQ(pages.size(), 1u);
  QPDFPageObjectHelper page(pages.at(0));
  QPDFObjectHandle::Rectangle box = page.getMediaBox().getArrayAsRectangle();
  shown.width = box.urx - box.llx;
  shown.height = box.ury - box.lly;
  StringCollector collector;
  page.parseContents(&collector);
  shown.strings = collector.strings;
  QPDFObjectHandle fonts = page.getAttribute("/Resources", false).getKey("/Font");
  for (const std::string& key : fonts.getKeys()) {
    shown.encodings.push_back(fonts.getKey(key).getKey("/Encoding").getName());
  }
  return shown;
}

CoverPageInput NordicInput() {
  CoverPageInput input;
  input.address.set_name("Åse Ærø-Østby");
  input.address.add_address_lines("Kjærlighetsstien 5 ä ö");
  input.address.add_address_lines("c/o Ågot Særheim");
  input.address.set_postal_code("9990");
  input.address.set_city("BÅTSFJORD");
  input.address.set_country_code("NO");
  input.sender = SenderLabel("NO958935420");
  input.letter_id = "01HZX3K9V2Q8J4M6N7P0R5S1T2";
  return input;
}

TEST(CoverPageTest, IsOneA4PortraitPageThatPrints) {
  absl::StatusOr<std::string> pdf = MakeCoverPage(NordicInput());
  ASSERT_TRUE(pdf.ok()) << pdf.status();
  internal::v1::Printability p = CheckPrintable(*pdf);
  EXPECT_TRUE(p.printable()) << p.problem();
  EXPECT_EQ(p.page_count(), 1u);
  Shown shown = Read(*pdf);
  EXPECT_NEAR(shown.width, kA4WidthPt, 0.5);
  EXPECT_NEAR(shown.height, kA4HeightPt, 0.5);
}

TEST(CoverPageTest, ShowsAddressSenderAndReferenceOnlyInWinAnsi) {
  absl::StatusOr<std::string> pdf = MakeCoverPage(NordicInput());
  ASSERT_TRUE(pdf.ok()) << pdf.status();
  Shown shown = Read(*pdf);
  // Windows-1252: Å C5, Æ C6, ø F8, Ø D8, æ E6, ä E4, ö F6.
  EXPECT_THAT(
      shown.strings,
      ElementsAre("Org.nr. 958 935 420", "\xC5se \xC6r\xF8-\xD8stby",
                  "Kj\xE6rlighetsstien 5 \xE4 \xF6", "c/o \xC5got S\xE6rheim", "9990 B\xC5TSFJORD",
                  "Avsender", "Org.nr. 958 935 420", "Referanse", "01HZX3K9V2Q8J4M6N7P0R5S1T2"));
  EXPECT_THAT(shown.encodings, UnorderedElementsAre("/WinAnsiEncoding", "/WinAnsiEncoding"));
}

TEST(CoverPageTest, ForeignCountryIsShownAndLongLinesFit) {
  CoverPageInput input = NordicInput();
  input.address.set_country_code("SE");
  input.address.set_name(std::string(200, 'W'));
  absl::StatusOr<std::string> pdf = MakeCoverPage(input);
  ASSERT_TRUE(pdf.ok()) << pdf.status();
  Shown shown = Read(*pdf);
  EXPECT_EQ(shown.strings.at(5), "SE");
  // Cut to the window's width rather than running out of it.
  EXPECT_LT(shown.strings.at(1).size(), 200u);
  EXPECT_GT(shown.strings.at(1).size(), 10u);
  EXPECT_TRUE(CheckPrintable(*pdf).printable());
}

TEST(CoverPageTest, RefusesAnAddressWithoutNameOrPostalCode) {
  CoverPageInput input = NordicInput();
  input.address.clear_name();
  EXPECT_EQ(MakeCoverPage(input).status().code(), absl::StatusCode::kInvalidArgument);
  input = NordicInput();
  input.address.clear_postal_code();
  EXPECT_EQ(MakeCoverPage(input).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CoverPageTest, ToWinAnsi) {
  EXPECT_EQ(ToWinAnsi("æøå ÆØÅ äö"), "\xE6\xF8\xE5 \xC6\xD8\xC5 \xE4\xF6");
  // Sámi: š ž are in Windows-1252; č đ ŋ ŧ lose their diacritics.
  EXPECT_EQ(ToWinAnsi("Čáhcesuolu đŋŧ šž"), "C\xE1hcesuolu dnt \x9A\x9E");
  EXPECT_EQ(ToWinAnsi("€ – ’"), "\x80 \x96 \x92");
  EXPECT_EQ(ToWinAnsi("a\xFF"
                      "b\xC3"),
            "a?b?");
  EXPECT_EQ(ToWinAnsi("中\n"), "? ");
}

TEST(CoverPageTest, SenderLabel) {
  EXPECT_EQ(SenderLabel("NO958935420"), "Org.nr. 958 935 420");
  EXPECT_EQ(SenderLabel("DK29189846"), "CVR-nr. 29189846");
  EXPECT_EQ(SenderLabel("x"), "x");
}

}  // namespace
}  // namespace utpost::pdf
