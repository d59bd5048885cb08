#include "pdf/text_page.h"

#include <hpdf.h>

#include <memory>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pdf/cover_page.h"

namespace utpost::pdf {
namespace {

constexpr double kPtPerMm = 72.0 / 25.4;
constexpr double kPageHeightMm = 297.0;
constexpr double kLeftMm = 25.0;
constexpr double kWidthMm = 160.0;
constexpr double kTopMm = 30.0;
constexpr double kBottomMm = 270.0;
constexpr double kLineMm = 5.5;
constexpr float kBodySize = 11.0f;
constexpr float kHeadingSize = 14.0f;
constexpr float kSmallSize = 8.0f;

struct HpdfErrors {
  HPDF_STATUS error = HPDF_OK;
};

void HPDF_STDCALL OnHpdfError(HPDF_STATUS error, HPDF_STATUS, void* user_data) {
  auto* errors = static_cast<HpdfErrors*>(user_data);
  if (errors->error == HPDF_OK) errors->error = error;
}

struct DocDeleter {
  void operator()(HPDF_Doc doc) const { HPDF_Free(doc); }
};

void TextAt(HPDF_Page page, const std::string& text, double top_mm) {
  HPDF_Page_BeginText(page);
  HPDF_Page_TextOut(page, static_cast<float>(kLeftMm * kPtPerMm),
                    static_cast<float>((kPageHeightMm - top_mm) * kPtPerMm), text.c_str());
  HPDF_Page_EndText(page);
}

// `text` (Windows-1252) broken into lines no wider than the page's text width, at spaces
// where there are any.
std::vector<std::string> Wrap(HPDF_Page page, const std::string& text) {
  const float width = static_cast<float>(kWidthMm * kPtPerMm);
  std::vector<std::string> lines;
  for (absl::string_view hard : absl::StrSplit(text, '\n')) {
    std::string line;
    for (absl::string_view word : absl::StrSplit(hard, ' ', absl::SkipEmpty())) {
      std::string candidate = line.empty() ? std::string(word) : absl::StrCat(line, " ", word);
      if (HPDF_Page_TextWidth(page, candidate.c_str()) <= width) {
        line = std::move(candidate);
        continue;
      }
      if (!line.empty()) lines.push_back(std::move(line));
      line = std::string(word);
      // A word wider than the line is cut into pieces that fit.
      while (HPDF_Page_TextWidth(page, line.c_str()) > width) {
        size_t fit = line.size();
        while (fit > 1 && HPDF_Page_TextWidth(page, line.substr(0, fit).c_str()) > width) --fit;
        lines.push_back(line.substr(0, fit));
        line = line.substr(fit);
      }
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace

absl::StatusOr<std::string> MakeTextPage(const TextPageInput& input) {
  HpdfErrors errors;
  std::unique_ptr<std::remove_pointer_t<HPDF_Doc>, DocDeleter> doc(HPDF_New(&OnHpdfError, &errors));
  if (doc == nullptr) return absl::InternalError("text page: cannot start a PDF");
  HPDF_SetCompressionMode(doc.get(), HPDF_COMP_ALL);
  HPDF_Page page = HPDF_AddPage(doc.get());
  HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
  HPDF_Font font = HPDF_GetFont(doc.get(), "Helvetica", "WinAnsiEncoding");
  HPDF_Font bold = HPDF_GetFont(doc.get(), "Helvetica-Bold", "WinAnsiEncoding");
  if (errors.error != HPDF_OK || page == nullptr || font == nullptr || bold == nullptr) {
    return absl::InternalError(
        absl::StrCat("text page: PDF library error ", static_cast<uint64_t>(errors.error)));
  }
  HPDF_Page_SetFontAndSize(page, font, kSmallSize);
  TextAt(page, ToWinAnsi(input.sender), kTopMm - 10.0);
  double top = kTopMm;
  HPDF_Page_SetFontAndSize(page, bold, kHeadingSize);
  for (const std::string& line : Wrap(page, ToWinAnsi(input.heading))) {
    TextAt(page, line, top);
    top += kLineMm * 1.4;
  }
  top += kLineMm;
  HPDF_Page_SetFontAndSize(page, font, kBodySize);
  bool cut = false;
  for (const std::string& paragraph : input.paragraphs) {
    for (const std::string& line : Wrap(page, ToWinAnsi(paragraph))) {
      if (top > kBottomMm) {
        cut = true;
        break;
      }
      TextAt(page, line, top);
      top += kLineMm;
    }
    if (cut) break;
    top += kLineMm * 0.6;
  }
  if (cut) TextAt(page, "...", top);
  if (HPDF_SaveToStream(doc.get()) != HPDF_OK || errors.error != HPDF_OK) {
    return absl::InternalError(
        absl::StrCat("text page: PDF library error ", static_cast<uint64_t>(errors.error)));
  }
  std::string out(HPDF_GetStreamSize(doc.get()), '\0');
  HPDF_UINT32 size = static_cast<HPDF_UINT32>(out.size());
  if (HPDF_ReadFromStream(doc.get(), reinterpret_cast<HPDF_BYTE*>(out.data()), &size) != HPDF_OK &&
      errors.error != HPDF_STREAM_EOF) {
    return absl::InternalError("text page: cannot read the PDF back");
  }
  out.resize(size);
  return out;
}

}  // namespace utpost::pdf
