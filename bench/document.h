// The benchmark document: the bytes every SendLetter load generator sends as a letter's one PDF
// document, and that utpost_bench_pg inserts per row, so that every row of the results table
// carries the same bytes per letter.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace utpost::bench {

// A document of `bytes` bytes (at least the header's 9): the PDF header "%PDF-1.4\n", then
// random bytes (random so that nothing on the way can compress it).
std::string MakePdfDocument(uint64_t bytes, std::mt19937_64& random);

}  // namespace utpost::bench
