// The printability check (pdf/printability.h) on arbitrary bytes: the ledger runs it on every
// document of a letter that may go to paper, before the letter is accepted, so a hostile
// sender reaches it.
//
// Invariants: it returns (never throws, crashes or runs away); a printable document has
// 1..max_pages pages and no problem; a refused one says why, in a short message.
//
// Seeds (fuzz/corpus/pdf_fuzzer/seed-*) were written once with the qpdf command: A4, landscape,
// rotated, US Letter, four pages, object streams, encrypted, truncated.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "pdf/printability.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  utpost::pdf::PrintabilityLimits limits;
  limits.max_pages = 20;
  limits.max_inflated_bytes = size_t{4} << 20;  // keeps each run within the fuzzer's memory
  limits.max_page_tree_nodes = 1000;
  const utpost::internal::v1::Printability p = utpost::pdf::CheckPrintable(bytes, limits);
  if (p.printable()) {
    UTPOST_FUZZ_CHECK(p.page_count() >= 1 && p.page_count() <= limits.max_pages);
    UTPOST_FUZZ_CHECK(p.problem().empty());
  } else {
    UTPOST_FUZZ_CHECK(!p.problem().empty());
    UTPOST_FUZZ_CHECK(p.problem().size() <= 300);
  }
  return 0;
}
