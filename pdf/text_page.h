// A one-page A4 letter of plain text: a heading, then paragraphs wrapped to the page width,
// set in the PDF's built-in Helvetica with WinAnsiEncoding as the cover page is (see
// pdf/cover_page.h for how letters outside Windows-1252 are written). Used for the receipt and
// notice letters of form submissions. Text that does not fit on the page is cut, ending "...".
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace utpost::pdf {

struct TextPageInput {
  // The sender as shown at the top, e.g. SenderLabel("NO958935420").
  std::string sender;
  // The heading, in bold.
  std::string heading;
  // Paragraphs, each wrapped at word boundaries; a newline inside one starts a new line.
  std::vector<std::string> paragraphs;
};

// The page as a PDF. INTERNAL if the PDF library fails. Thread-safe.
[[nodiscard]] absl::StatusOr<std::string> MakeTextPage(const TextPageInput& input);

}  // namespace utpost::pdf
