#include "bench/document.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <vector>

namespace utpost::bench {
namespace {

constexpr uint64_t kImageWidth = 256;

// The PDF with an image of `width` x `height` pixels whose bytes are `pixels`, and a comment of
// `padding` bytes before the cross-reference table.
std::string Build(uint64_t height, std::string_view pixels, uint64_t padding) {
  std::string pdf = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
  std::vector<size_t> offsets;
  auto object = [&](const std::string& head, std::string_view stream = {},
                    bool has_stream = false) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(offsets.size()) + " 0 obj\n" + head;
    if (has_stream) {
      pdf += "\nstream\n";
      pdf.append(stream);
      pdf += "\nendstream";
    }
    pdf += "\nendobj\n";
  };
  object("<< /Type /Catalog /Pages 2 0 R >>");
  object("<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
  object(
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
      "/Resources << /XObject << /Im0 5 0 R >> >> >>");
  const std::string content = "q 595 0 0 842 0 0 cm /Im0 Do Q";
  object("<< /Length " + std::to_string(content.size()) + " >>", content, true);
  object("<< /Type /XObject /Subtype /Image /Width " + std::to_string(kImageWidth) + " /Height " +
             std::to_string(height) + " /ColorSpace /DeviceGray /BitsPerComponent 8 /Length " +
             std::to_string(pixels.size()) + " >>",
         pixels, true);
  if (padding > 0) {
    // A comment line: "%", spaces, newline.
    pdf.push_back('%');
    pdf.append(padding - 2, ' ');
    pdf.push_back('\n');
  }
  const size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(offsets.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t offset : offsets) {
    char line[32];
    std::snprintf(line, sizeof(line), "%010zu 00000 n \n", offset);
    pdf += line;
  }
  pdf += "trailer\n<< /Size " + std::to_string(offsets.size() + 1) +
         " /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

}  // namespace

std::string MakePdfDocument(uint64_t bytes, std::mt19937_64& random) {
  bytes = std::max(bytes, kMinPdfBytes);
  // The structure around the image, measured with the largest numbers it can hold.
  const uint64_t overhead = Build(bytes, "", 0).size() + 16;
  const uint64_t height = std::max<uint64_t>(1, (bytes - overhead) / kImageWidth);
  std::string pixels(kImageWidth * height, '\0');
  for (size_t i = 0; i < pixels.size(); i += sizeof(uint64_t)) {
    const uint64_t word = random();
    std::memcpy(pixels.data() + i, &word, std::min(sizeof(word), pixels.size() - i));
  }
  // The real structure is at least 16 bytes smaller than `overhead`, so the padding comment
  // always has room for its "%" and newline.
  const uint64_t padding = bytes - Build(height, pixels, 0).size();
  return Build(height, pixels, padding);
}

}  // namespace utpost::bench
