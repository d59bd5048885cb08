#include "pdf/cover_page.h"

#include <hpdf.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace utpost::pdf {
namespace {

constexpr double kPtPerMm = 72.0 / 25.4;
constexpr double kPageHeightMm = 297.0;
// The address block: inside the window (20 mm from the left, 45 mm from the top, 90 x 45 mm)
// with a 5 mm margin on the left, so that the address stays visible when the sheet shifts in
// the envelope.
constexpr double kAddressLeftMm = 25.0;
constexpr double kSenderLineTopMm = 51.0;  // baseline of the small sender line
constexpr double kAddressTopMm = 58.0;     // baseline of the recipient's name
constexpr double kAddressWidthMm = 80.0;   // the window is 90 mm wide
constexpr double kAddressLineMm = 4.6;
// The reference block, right of the window.
constexpr double kReferenceLeftMm = 125.0;
constexpr double kReferenceTopMm = 51.0;
constexpr double kReferenceWidthMm = 70.0;

constexpr float kAddressSize = 10.0f;
constexpr float kMinAddressSize = 7.0f;
constexpr float kSmallSize = 7.0f;

// Windows-1252 bytes 0x80..0x9F (0 where undefined).
constexpr uint16_t kCp1252High[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

// Latin letters with diacritics that Windows-1252 lacks, written as their base letter.
struct Fold {
  uint32_t from;
  char to;
};
constexpr Fold kFolds[] = {
    {0x0100, 'A'}, {0x0101, 'a'}, {0x0102, 'A'}, {0x0103, 'a'}, {0x0104, 'A'}, {0x0105, 'a'},
    {0x0106, 'C'}, {0x0107, 'c'}, {0x010C, 'C'}, {0x010D, 'c'}, {0x010E, 'D'}, {0x010F, 'd'},
    {0x0110, 'D'}, {0x0111, 'd'}, {0x0112, 'E'}, {0x0113, 'e'}, {0x0116, 'E'}, {0x0117, 'e'},
    {0x0118, 'E'}, {0x0119, 'e'}, {0x011A, 'E'}, {0x011B, 'e'}, {0x011E, 'G'}, {0x011F, 'g'},
    {0x0122, 'G'}, {0x0123, 'g'}, {0x012A, 'I'}, {0x012B, 'i'}, {0x012E, 'I'}, {0x012F, 'i'},
    {0x0130, 'I'}, {0x0131, 'i'}, {0x0136, 'K'}, {0x0137, 'k'}, {0x0139, 'L'}, {0x013A, 'l'},
    {0x013B, 'L'}, {0x013C, 'l'}, {0x013D, 'L'}, {0x013E, 'l'}, {0x0141, 'L'}, {0x0142, 'l'},
    {0x0143, 'N'}, {0x0144, 'n'}, {0x0145, 'N'}, {0x0146, 'n'}, {0x0147, 'N'}, {0x0148, 'n'},
    {0x014A, 'N'}, {0x014B, 'n'}, {0x014C, 'O'}, {0x014D, 'o'}, {0x0150, 'O'}, {0x0151, 'o'},
    {0x0154, 'R'}, {0x0155, 'r'}, {0x0158, 'R'}, {0x0159, 'r'}, {0x015A, 'S'}, {0x015B, 's'},
    {0x015E, 'S'}, {0x015F, 's'}, {0x0162, 'T'}, {0x0163, 't'}, {0x0164, 'T'}, {0x0165, 't'},
    {0x0166, 'T'}, {0x0167, 't'}, {0x016A, 'U'}, {0x016B, 'u'}, {0x016E, 'U'}, {0x016F, 'u'},
    {0x0170, 'U'}, {0x0171, 'u'}, {0x0172, 'U'}, {0x0173, 'u'}, {0x0179, 'Z'}, {0x017A, 'z'},
    {0x017B, 'Z'}, {0x017C, 'z'}, {0x01B7, 'Z'}, {0x0292, 'z'}, {0x01E6, 'G'}, {0x01E7, 'g'},
    {0x01E8, 'K'}, {0x01E9, 'k'}, {0x01EE, 'Z'}, {0x01EF, 'z'}, {0x0218, 'S'}, {0x0219, 's'},
    {0x021A, 'T'}, {0x021B, 't'},
};

char ToWinAnsiChar(uint32_t cp) {
  if (cp < 0x20 || cp == 0x7F) return ' ';
  if (cp < 0x80) return static_cast<char>(cp);
  if (cp >= 0xA0 && cp <= 0xFF) return static_cast<char>(cp);
  for (int i = 0; i < 32; ++i) {
    if (kCp1252High[i] == cp && cp != 0) return static_cast<char>(0x80 + i);
  }
  for (const Fold& f : kFolds) {
    if (f.from == cp) return f.to;
  }
  if (cp == 0x2212 || cp == 0x2010 || cp == 0x2011) return '-';
  return '?';
}

// libharu reports errors through a callback; this records the first.
struct HpdfErrors {
  HPDF_STATUS error = HPDF_OK;
  HPDF_STATUS detail = 0;
};

void HPDF_STDCALL OnHpdfError(HPDF_STATUS error, HPDF_STATUS detail, void* user_data) {
  auto* errors = static_cast<HpdfErrors*>(user_data);
  if (errors->error == HPDF_OK) {
    errors->error = error;
    errors->detail = detail;
  }
}

struct DocDeleter {
  void operator()(HPDF_Doc doc) const { HPDF_Free(doc); }
};

class Writer {
 public:
  Writer(HPDF_Page page, HPDF_Font font) : page_(page), font_(font) {}

  // Writes `text` (Windows-1252) with its baseline `top_mm` from the top of the page, at
  // `size` or smaller down to `min_size` to fit `width_mm`, and cut to fit past that.
  void Line(std::string text, double left_mm, double top_mm, double width_mm, float size,
            float min_size) {
    const float width = static_cast<float>(width_mm * kPtPerMm);
    HPDF_Page_SetFontAndSize(page_, font_, size);
    while (size > min_size && HPDF_Page_TextWidth(page_, text.c_str()) > width) {
      size -= 0.5f;
      HPDF_Page_SetFontAndSize(page_, font_, size);
    }
    while (!text.empty() && HPDF_Page_TextWidth(page_, text.c_str()) > width) text.pop_back();
    HPDF_Page_BeginText(page_);
    HPDF_Page_TextOut(page_, static_cast<float>(left_mm * kPtPerMm),
                      static_cast<float>((kPageHeightMm - top_mm) * kPtPerMm), text.c_str());
    HPDF_Page_EndText(page_);
  }

 private:
  HPDF_Page page_;
  HPDF_Font font_;
};

}  // namespace

std::string ToWinAnsi(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  size_t i = 0;
  while (i < utf8.size()) {
    const auto b = static_cast<unsigned char>(utf8[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + static_cast<size_t>(len) > utf8.size()) {
      out.push_back('?');
      ++i;
      continue;
    }
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    bool valid = true;
    for (int k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(utf8[i + static_cast<size_t>(k)]);
      if ((c & 0xC0) != 0x80) valid = false;
      cp = (cp << 6) | (c & 0x3F);
    }
    // Overlong forms and surrogates are invalid too.
    if (!valid || (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
      out.push_back('?');
      ++i;
      continue;
    }
    out.push_back(ToWinAnsiChar(cp));
    i += static_cast<size_t>(len);
  }
  return out;
}

std::string SenderLabel(std::string_view org_key) {
  if (org_key.size() == 11 && org_key.starts_with("NO")) {
    return absl::StrCat("Org.nr. ", common::Av(org_key.substr(2, 3)), " ",
                        common::Av(org_key.substr(5, 3)), " ", common::Av(org_key.substr(8, 3)));
  }
  if (org_key.size() == 10 && org_key.starts_with("DK")) {
    return absl::StrCat("CVR-nr. ", common::Av(org_key.substr(2)));
  }
  return std::string(org_key);
}

absl::StatusOr<std::string> MakeCoverPage(const CoverPageInput& input) {
  const v1::PostalAddress& a = input.address;
  if (a.name().empty() || a.postal_code().empty() || a.city().empty()) {
    return absl::InvalidArgumentError("cover page: the address needs a name, postal code and city");
  }
  HpdfErrors errors;
  std::unique_ptr<std::remove_pointer_t<HPDF_Doc>, DocDeleter> doc(HPDF_New(&OnHpdfError, &errors));
  if (doc == nullptr) return absl::InternalError("cover page: cannot start a PDF");
  HPDF_SetCompressionMode(doc.get(), HPDF_COMP_ALL);
  HPDF_Page page = HPDF_AddPage(doc.get());
  HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
  HPDF_Font font = HPDF_GetFont(doc.get(), "Helvetica", "WinAnsiEncoding");
  HPDF_Font bold = HPDF_GetFont(doc.get(), "Helvetica-Bold", "WinAnsiEncoding");
  if (errors.error != HPDF_OK || page == nullptr || font == nullptr || bold == nullptr) {
    return absl::InternalError(
        absl::StrCat("cover page: PDF library error ", static_cast<uint64_t>(errors.error)));
  }

  Writer regular(page, font);
  Writer strong(page, bold);
  // The sender line above the address, small, as window envelopes carry it.
  regular.Line(ToWinAnsi(input.sender), kAddressLeftMm, kSenderLineTopMm, kAddressWidthMm,
               kSmallSize, kSmallSize);

  std::vector<std::string> lines;
  lines.push_back(a.name());
  for (int i = 0; i < a.address_lines_size() && i < 4; ++i) lines.push_back(a.address_lines(i));
  lines.push_back(absl::StrCat(a.postal_code(), " ", a.city()));
  const std::string country = absl::AsciiStrToUpper(a.country_code());
  if (!country.empty() && country != absl::AsciiStrToUpper(input.home_country)) {
    lines.push_back(country);
  }
  double top = kAddressTopMm;
  for (const std::string& line : lines) {
    regular.Line(ToWinAnsi(line), kAddressLeftMm, top, kAddressWidthMm, kAddressSize,
                 kMinAddressSize);
    top += kAddressLineMm;
  }

  strong.Line("Avsender", kReferenceLeftMm, kReferenceTopMm, kReferenceWidthMm, kSmallSize,
              kSmallSize);
  regular.Line(ToWinAnsi(input.sender), kReferenceLeftMm, kReferenceTopMm + 4.0, kReferenceWidthMm,
               9.0f, kSmallSize);
  strong.Line("Referanse", kReferenceLeftMm, kReferenceTopMm + 10.0, kReferenceWidthMm, kSmallSize,
              kSmallSize);
  regular.Line(ToWinAnsi(input.letter_id), kReferenceLeftMm, kReferenceTopMm + 14.0,
               kReferenceWidthMm, 9.0f, kSmallSize);

  if (HPDF_SaveToStream(doc.get()) != HPDF_OK || errors.error != HPDF_OK) {
    return absl::InternalError(
        absl::StrCat("cover page: PDF library error ", static_cast<uint64_t>(errors.error)));
  }
  std::string out(HPDF_GetStreamSize(doc.get()), '\0');
  HPDF_UINT32 size = static_cast<HPDF_UINT32>(out.size());
  if (HPDF_ReadFromStream(doc.get(), reinterpret_cast<HPDF_BYTE*>(out.data()), &size) != HPDF_OK &&
      errors.error != HPDF_STREAM_EOF) {
    return absl::InternalError("cover page: cannot read the PDF back");
  }
  out.resize(size);
  return out;
}

}  // namespace utpost::pdf
