// The benchmark document: the bytes every SendLetter load generator sends as a letter's one PDF
// document, and that utpost_bench_pg inserts per row, so that every row of the results table
// carries the same bytes per letter.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace utpost::bench {

// A valid, printable PDF of exactly `bytes` bytes (at least kMinPdfBytes): one A4 portrait
// page that shows an uncompressed grey image of random pixels (random so that nothing on
// the way can compress it), as a letter with a scanned page would be. utpost's printability
// check opens it like any letter's PDF.
std::string MakePdfDocument(uint64_t bytes, std::mt19937_64& random);

inline constexpr uint64_t kMinPdfBytes = 1024;

}  // namespace utpost::bench
