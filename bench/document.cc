#include "bench/document.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace utpost::bench {
namespace {

constexpr std::string_view kPdfHeader = "%PDF-1.4\n";

}  // namespace

std::string MakePdfDocument(uint64_t bytes, std::mt19937_64& random) {
  std::string content(std::max<uint64_t>(bytes, kPdfHeader.size()), '\0');
  content.replace(0, kPdfHeader.size(), kPdfHeader);
  for (size_t i = kPdfHeader.size(); i < content.size(); i += sizeof(uint64_t)) {
    const uint64_t word = random();
    std::memcpy(content.data() + i, &word, std::min(sizeof(word), content.size() - i));
  }
  return content;
}

}  // namespace utpost::bench
