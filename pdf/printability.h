// Whether a document can be printed and posted as it is: a readable PDF, not encrypted, with
// 1..max_pages pages, every page A4 portrait within a tolerance.
//
// Page size: the visible area of each page (its CropBox clipped to its MediaBox, both
// inherited through the page tree as PDF allows, scaled by /UserUnit) after its /Rotate,
// compared with 210 x 297 mm; each side may differ by up to `tolerance_mm` (3 mm by
// default, which takes the rounding of A4 in points, 595 x 842, and scanners' small
// margins, and refuses US Letter, 216 x 279 mm). A page that is A4 turned on its side is
// "landscape".
//
// Hostile input: the check reads only the file's structure (cross-reference data, the page
// tree and the page dictionaries), never page contents, fonts or images. It reads with
// qpdf's recovery off (a damaged file is refused, never reconstructed by a scan of the
// whole file), walks at most a bounded number of page-tree nodes, and inflates compressed
// cross-reference and object streams itself first, with a cap on their total size, since
// qpdf 11.3 inflates them whole and without a limit. Every exception of the PDF library is
// caught: nothing is thrown across this interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "utpost/internal/v1/tasks.pb.h"

namespace utpost::pdf {

struct PrintabilityLimits {
  // Most pages a printable document may have.
  uint32_t max_pages = 300;
  // How far each side of a page may be from 210 x 297 mm, in millimetres.
  double tolerance_mm = 3.0;
  // Largest document checked, in bytes; a larger one is refused unread.
  size_t max_bytes = size_t{64} << 20;
  // Most bytes the cross-reference and object streams may inflate to, in all. Real files
  // need well under a megabyte per thousand pages.
  size_t max_inflated_bytes = size_t{32} << 20;
  // Most page-tree nodes (pages and their parents) visited; past it the document is
  // refused as malformed.
  uint32_t max_page_tree_nodes = 20000;
};

// Checks `bytes` as a PDF to print. Never throws. `printable` is true only if every rule
// holds; otherwise `problem` names the first rule broken, and the page when there is one
// (e.g. "page 3 is landscape (297 x 210 mm); print needs A4 portrait"), never anything the
// document says. `page_count` is the number of pages found (0 when unreadable; when there
// are more than max_pages, the count up to where the walk stopped). Thread-safe: each call
// has its own parser.
internal::v1::Printability CheckPrintable(std::string_view bytes, const PrintabilityLimits& limits);
internal::v1::Printability CheckPrintable(std::string_view bytes);

// A4 in PDF points (1/72 inch).
inline constexpr double kA4WidthPt = 210.0 * 72.0 / 25.4;
inline constexpr double kA4HeightPt = 297.0 * 72.0 / 25.4;

}  // namespace utpost::pdf
