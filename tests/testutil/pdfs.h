// PDFs made in tests, written by qpdf: pages of any size and rotation, encrypted, with object
// streams, and hostile ones (a decompression bomb in the cross-reference data).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace utpost::testutil {

// One page: its MediaBox width and height in points, optional CropBox and /Rotate.
struct PdfPage {
  double width = 595.0;
  double height = 842.0;
  int rotate = 0;
  // When > 0: a CropBox of this width and height at the MediaBox's origin.
  double crop_width = 0;
  double crop_height = 0;
};

struct PdfOptions {
  // Encrypt (AES-256, R6) with this user password; empty: not encrypted.
  bool encrypt = false;
  std::string user_password;
  // Write objects (the page tree among them) into compressed object streams.
  bool object_streams = false;
  // Text drawn on each page (Helvetica, ASCII only).
  std::string text = "utpost test page";
  // Bytes of a string added to the document catalogue (inside an object stream when
  // object_streams), e.g. to make an object stream inflate to a given size.
  size_t catalogue_padding = 0;
};

// A4 portrait, 595 x 842 points.
inline constexpr PdfPage kA4Page{};

// A PDF with `pages`. Aborts the test binary (qpdf throws) only on a bug in the caller.
std::string MakePdf(const std::vector<PdfPage>& pages, const PdfOptions& options = {});

// A PDF whose only cross-reference section is a stream that inflates to `inflated_bytes`
// (zeros): nothing but a decompression bomb.
std::string MakeXrefBombPdf(size_t inflated_bytes);

}  // namespace utpost::testutil
