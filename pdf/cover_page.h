// The address cover page printed first in every posted letter: one A4 portrait page whose
// address block sits in the window of a C5 or DL window envelope (the window at 20 mm from
// the left and 45 mm from the top, 90 x 45 mm, as DIN 5008 form B and the Nordic posts'
// window envelopes place it). It carries the recipient's name and postal address, the
// sender organisation and the letter id as the reference, and nothing else: no title, no
// content.
//
// Text is set in the PDF's built-in Helvetica with WinAnsiEncoding, so the file needs no
// embedded font and every PDF reader and printer shows æ ø å Æ Ø Å ä ö ü é and the rest of
// Windows-1252. Letters outside it are written without their diacritics (Sámi č đ ŋ š ŧ ž
// keep š ž, which Windows-1252 has; č becomes c), anything else as "?": an envelope is
// delivered on its postal code and street, and a letter never fails for a name.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::pdf {

struct CoverPageInput {
  // Where the letter goes: name, 1..4 address lines, postal code, city, country code.
  v1::PostalAddress address;
  // The sender as shown, e.g. SenderLabel("NO958935420").
  std::string sender;
  // The letter id, shown as the reference.
  std::string letter_id;
  // The country the letter is posted in: the address shows its country only when it
  // differs. ISO 3166-1 alpha-2.
  std::string home_country = "NO";
};

// The cover page as a PDF. INVALID_ARGUMENT if the address has no name, no postal code or
// no city; INTERNAL if the PDF library fails. Thread-safe.
[[nodiscard]] absl::StatusOr<std::string> MakeCoverPage(const CoverPageInput& input);

// "Org.nr. 958 935 420" for "NO958935420", "CVR-nr. 12345678" for "DK12345678"; anything
// else as it is.
std::string SenderLabel(std::string_view org_key);

// `utf8` in Windows-1252, as the cover page writes it (see the file comment). Invalid UTF-8
// sequences become "?". Control characters become spaces.
std::string ToWinAnsi(std::string_view utf8);

}  // namespace utpost::pdf
