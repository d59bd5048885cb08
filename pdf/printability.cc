#include "pdf/printability.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <qpdf/Buffer.hh>
#include <qpdf/BufferInputSource.hh>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFExc.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFTokenizer.hh>
#include <qpdf/QPDFXRefEntry.hh>
#include <set>
#include <string>
#include <vector>

namespace utpost::pdf {
namespace {

using internal::v1::Printability;

constexpr double kMmPerPt = 25.4 / 72.0;
// Sections of the cross-reference chain followed (each /Prev or /XRefStm is one).
constexpr int kMaxXrefSections = 256;
// Depth of the page tree walked; real files have a handful of levels.
constexpr int kMaxPageTreeDepth = 64;

Printability Refuse(std::string problem, uint32_t page_count = 0) {
  Printability out;
  out.set_printable(false);
  out.set_problem(std::move(problem));
  out.set_page_count(page_count);
  return out;
}

std::string Mm(double pt) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f", pt * kMmPerPt);
  return buf;
}

bool IsPdfWhite(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\0';
}

void SkipWhite(std::string_view s, size_t& pos) {
  while (pos < s.size() && IsPdfWhite(s[pos])) ++pos;
}

std::optional<int64_t> ReadUnsigned(std::string_view s, size_t& pos) {
  SkipWhite(s, pos);
  size_t start = pos;
  int64_t value = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && pos - start < 15) {
    value = value * 10 + (s[pos] - '0');
    ++pos;
  }
  if (pos == start) return std::nullopt;
  return value;
}

// True if `filter` (a stream's /Filter) is absent or FlateDecode alone: the only compression
// this check inflates itself before qpdf does.
bool IsNoneOrFlate(QPDFObjectHandle filter) {
  if (filter.isIndirect()) return false;  // resolving it could inflate another stream first
  if (filter.isNull()) return true;
  if (filter.isArray() && filter.getArrayNItems() == 1) filter = filter.getArrayItem(0);
  return filter.isName() && (filter.getName() == "/FlateDecode" || filter.getName() == "/Fl");
}

// Counts what a zlib stream starting at `data` inflates to, adding it to `*inflated`; false
// once `*inflated` exceeds `cap`. Malformed data just stops the count: qpdf judges it.
bool InflateWithin(std::string_view data, size_t cap, size_t* inflated) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(std::min<size_t>(data.size(), 1u << 30));
  unsigned char out[64 * 1024];
  bool within = true;
  while (true) {
    z.next_out = out;
    z.avail_out = sizeof(out);
    int rc = inflate(&z, Z_NO_FLUSH);
    *inflated += sizeof(out) - z.avail_out;
    if (*inflated > cap) {
      within = false;
      break;
    }
    if (rc != Z_OK) break;  // Z_STREAM_END, an error, or no progress possible
  }
  inflateEnd(&z);
  return within;
}

// Parses the object at `offset` of `pdf` ("<n> <g> obj <<...>>" and, for a stream, the
// "stream" keyword) with qpdf's own parser in `scratch`, an empty document: an indirect
// reference in the dictionary reads as null there, so nothing else is resolved (and nothing
// inflated) to parse it. A trailer is parsed at `offset` when `trailer` is set.
struct Parsed {
  QPDFObjectHandle dict;
  std::optional<size_t> data;  // where a stream's data starts
};

std::optional<Parsed> ParseAt(std::string_view pdf, size_t at, bool trailer, QPDF& scratch,
                              const std::shared_ptr<InputSource>& input) {
  if (!trailer) {
    SkipWhite(pdf, at);
    if (!ReadUnsigned(pdf, at).has_value() || !ReadUnsigned(pdf, at).has_value()) {
      return std::nullopt;
    }
    SkipWhite(pdf, at);
    if (pdf.substr(at, 3) != "obj") return std::nullopt;
    at += 3;
  }
  Parsed out;
  try {
    input->seek(static_cast<qpdf_offset_t>(at), SEEK_SET);
    QPDFTokenizer tokenizer;
    bool empty = false;
    out.dict = QPDFObjectHandle::parse(input, "structure", tokenizer, empty, nullptr, &scratch);
  } catch (...) {
    return std::nullopt;
  }
  if (!out.dict.isDictionary()) return std::nullopt;
  if (trailer) return out;
  size_t data = static_cast<size_t>(input->tell());
  SkipWhite(pdf, data);
  if (pdf.substr(data, 6) != "stream") return out;
  data += 6;
  if (pdf.substr(data, 2) == "\r\n") {
    data += 2;
  } else if (data < pdf.size() && (pdf[data] == '\n' || pdf[data] == '\r')) {
    data += 1;
  }
  out.data = std::min(data, pdf.size());
  return out;
}

// What the structure scan found.
struct StructureScan {
  bool encrypted = false;
  bool too_much_inflated = false;
  bool unsupported_filter = false;
};

// Counts what a stream parsed by ParseAt inflates to. False if past the cap or compressed
// other than by FlateDecode alone.
bool CountStream(std::string_view pdf, Parsed stream, const PrintabilityLimits& limits,
                 size_t* inflated, StructureScan& scan) {
  if (!stream.data.has_value()) return true;
  QPDFObjectHandle filter = stream.dict.getKey("/Filter");
  if (!IsNoneOrFlate(filter)) {
    scan.unsupported_filter = true;
    return false;
  }
  if (filter.isNull()) return true;
  // zlib data ends itself: /Length (perhaps indirect) is not needed to bound it.
  if (!InflateWithin(pdf.substr(*stream.data), limits.max_inflated_bytes, inflated)) {
    scan.too_much_inflated = true;
    return false;
  }
  return true;
}

// qpdf inflates cross-reference streams whole while it opens a file, and object streams
// when it first needs an object in one. This scan comes first: it walks the
// cross-reference chain (startxref, then each section's /Prev and /XRefStm), counting what
// each compressed section inflates to against `limits.max_inflated_bytes`, and noting an
// /Encrypt key in any trailer. A section it cannot parse is left to qpdf, which refuses it
// (recovery is off).
StructureScan ScanXrefChain(std::string_view pdf, const PrintabilityLimits& limits,
                            size_t* inflated, QPDF& scratch,
                            const std::shared_ptr<InputSource>& input) {
  StructureScan scan;
  size_t pos = pdf.rfind("startxref");
  if (pos == std::string_view::npos) return scan;
  pos += 9;
  std::optional<int64_t> first = ReadUnsigned(pdf, pos);
  if (!first.has_value()) return scan;
  std::vector<int64_t> todo = {*first};
  std::set<int64_t> seen;
  int sections = 0;
  while (!todo.empty() && sections < kMaxXrefSections) {
    const int64_t offset = todo.back();
    todo.pop_back();
    if (offset < 0 || static_cast<size_t>(offset) >= pdf.size()) continue;
    if (!seen.insert(offset).second) continue;
    ++sections;
    size_t at = static_cast<size_t>(offset);
    SkipWhite(pdf, at);
    std::optional<Parsed> parsed;
    if (pdf.substr(at, 4) == "xref") {
      size_t trailer = pdf.find("trailer", at);
      if (trailer == std::string_view::npos) continue;
      parsed = ParseAt(pdf, trailer + 7, true, scratch, input);
    } else {
      parsed = ParseAt(pdf, at, false, scratch, input);
    }
    if (!parsed.has_value()) continue;
    if (parsed->dict.hasKey("/Encrypt")) scan.encrypted = true;
    for (const char* key : {"/Prev", "/XRefStm"}) {
      QPDFObjectHandle next = parsed->dict.getKey(key);
      if (next.isInteger()) todo.push_back(next.getIntValue());
    }
    if (!CountStream(pdf, *parsed, limits, inflated, scan)) return scan;
  }
  return scan;
}

// Counts each object stream the cross-reference table names before qpdf inflates any: each
// is parsed at its offset apart from the document (ParseAt), so nothing is resolved first.
std::optional<std::string> CheckObjectStreams(std::string_view pdf, QPDF& qpdf,
                                              const PrintabilityLimits& limits, size_t* inflated,
                                              QPDF& scratch,
                                              const std::shared_ptr<InputSource>& input) {
  std::map<QPDFObjGen, QPDFXRefEntry> xref = qpdf.getXRefTable();
  std::set<int> streams;
  for (const auto& entry : xref) {
    if (entry.second.getType() == 2) streams.insert(entry.second.getObjStreamNumber());
  }
  for (int number : streams) {
    auto it = xref.find(QPDFObjGen(number, 0));
    if (it == xref.end() || it->second.getType() != 1 || it->second.getOffset() < 0 ||
        static_cast<size_t>(it->second.getOffset()) >= pdf.size()) {
      return "the PDF cannot be read: an object stream is missing or misplaced";
    }
    std::optional<Parsed> parsed =
        ParseAt(pdf, static_cast<size_t>(it->second.getOffset()), false, scratch, input);
    if (!parsed.has_value() || !parsed->data.has_value()) {
      return "the PDF cannot be read: an object stream is damaged";
    }
    StructureScan scan;
    if (!CountStream(pdf, *parsed, limits, inflated, scan)) {
      return scan.too_much_inflated
                 ? "the PDF's structure is too large when decompressed"
                 : "the PDF uses a compression of its structure that is not supported for print";
    }
  }
  return std::nullopt;
}

struct Box {
  double x1, y1, x2, y2;
};

std::optional<Box> ReadBox(QPDFObjectHandle box) {
  if (!box.isArray() || box.getArrayNItems() != 4) return std::nullopt;
  double v[4];
  for (int i = 0; i < 4; ++i) {
    QPDFObjectHandle n = box.getArrayItem(i);
    if (!n.isNumber()) return std::nullopt;
    v[i] = n.getNumericValue();
    if (!std::isfinite(v[i])) return std::nullopt;
  }
  return Box{std::min(v[0], v[2]), std::min(v[1], v[3]), std::max(v[0], v[2]),
             std::max(v[1], v[3])};
}

// What a page inherits from its ancestors in the page tree (ISO 32000-1, 7.7.3.4).
struct Inherited {
  QPDFObjectHandle media_box;
  QPDFObjectHandle crop_box;
  QPDFObjectHandle rotate;
};

void Inherit(QPDFObjectHandle node, Inherited& into) {
  if (node.hasKey("/MediaBox")) into.media_box = node.getKey("/MediaBox");
  if (node.hasKey("/CropBox")) into.crop_box = node.getKey("/CropBox");
  if (node.hasKey("/Rotate")) into.rotate = node.getKey("/Rotate");
}

// Empty if page `number` (from 1) is A4 portrait within the tolerance; else why not.
std::optional<std::string> CheckPage(uint32_t number, QPDFObjectHandle page, Inherited inherited,
                                     const PrintabilityLimits& limits) {
  const std::string name = "page " + std::to_string(number);
  std::optional<Box> media = ReadBox(inherited.media_box);
  if (!media.has_value()) return name + " has no valid page size (MediaBox)";
  Box visible = *media;
  if (inherited.crop_box.isInitialized() && !inherited.crop_box.isNull()) {
    std::optional<Box> crop = ReadBox(inherited.crop_box);
    if (crop.has_value()) {
      visible = Box{std::max(media->x1, crop->x1), std::max(media->y1, crop->y1),
                    std::min(media->x2, crop->x2), std::min(media->y2, crop->y2)};
    }
  }
  double unit = 1.0;
  if (QPDFObjectHandle u = page.getKey("/UserUnit"); u.isNumber()) unit = u.getNumericValue();
  if (!std::isfinite(unit) || unit <= 0) return name + " has an invalid UserUnit";
  double width = (visible.x2 - visible.x1) * unit;
  double height = (visible.y2 - visible.y1) * unit;
  if (!(width > 0 && height > 0)) return name + " has an empty visible area (CropBox)";
  int64_t rotate = 0;
  if (!inherited.rotate.isInitialized() || inherited.rotate.isNull()) {
    rotate = 0;
  } else if (inherited.rotate.isInteger()) {
    rotate = inherited.rotate.getIntValue();
  } else {
    return name + " has an invalid rotation";
  }
  if (rotate % 90 != 0) return name + " has an invalid rotation";
  if ((rotate / 90) % 2 != 0) std::swap(width, height);
  const double tolerance = limits.tolerance_mm / kMmPerPt;
  auto near = [tolerance](double a, double b) { return std::fabs(a - b) <= tolerance; };
  if (near(width, kA4WidthPt) && near(height, kA4HeightPt)) return std::nullopt;
  const std::string size = Mm(width) + " x " + Mm(height) + " mm";
  if (near(width, kA4HeightPt) && near(height, kA4WidthPt)) {
    return name + " is landscape (" + size + "); print needs A4 portrait";
  }
  return name + " is " + size + "; print needs A4 portrait (210 x 297 mm, within " + Mm(tolerance) +
         " mm)";
}

Printability CheckOpened(QPDF& qpdf, const PrintabilityLimits& limits) {
  QPDFObjectHandle root = qpdf.getRoot();
  QPDFObjectHandle pages = root.getKey("/Pages");
  if (!pages.isDictionary()) return Refuse("the PDF cannot be read: it has no page tree");

  struct Node {
    QPDFObjectHandle object;
    Inherited inherited;
    int depth;
  };
  std::vector<Node> stack;
  stack.push_back({pages, {}, 0});
  Inherit(pages, stack.back().inherited);
  std::set<QPDFObjGen> visited;
  uint32_t nodes = 0;
  uint32_t count = 0;
  std::optional<std::string> first_problem;
  while (!stack.empty()) {
    Node node = std::move(stack.back());
    stack.pop_back();
    if (++nodes > limits.max_page_tree_nodes) {
      return Refuse("the PDF's page tree is too large (more than " +
                        std::to_string(limits.max_page_tree_nodes) + " nodes)",
                    count);
    }
    QPDFObjectHandle kids = node.object.getKey("/Kids");
    if (kids.isArray()) {
      if (node.object.isIndirect() && !visited.insert(node.object.getObjGen()).second) {
        return Refuse("the PDF cannot be read: its page tree has a loop");
      }
      if (node.depth >= kMaxPageTreeDepth) {
        return Refuse("the PDF cannot be read: its page tree is too deep");
      }
      const int n = kids.getArrayNItems();
      if (static_cast<uint32_t>(n) > limits.max_page_tree_nodes) {
        return Refuse("the PDF's page tree is too large (more than " +
                          std::to_string(limits.max_page_tree_nodes) + " nodes)",
                      count);
      }
      // Pushed last to first, so that pages are taken in document order.
      for (int i = n - 1; i >= 0; --i) {
        QPDFObjectHandle kid = kids.getArrayItem(i);
        if (!kid.isDictionary()) return Refuse("the PDF cannot be read: its page tree is damaged");
        Node child{kid, node.inherited, node.depth + 1};
        Inherit(kid, child.inherited);
        stack.push_back(std::move(child));
      }
      continue;
    }
    ++count;
    if (count > limits.max_pages) {
      return Refuse("the document has more than " + std::to_string(limits.max_pages) +
                        " pages; at most " + std::to_string(limits.max_pages) + " can be printed",
                    count);
    }
    if (!first_problem.has_value()) {
      first_problem = CheckPage(count, node.object, node.inherited, limits);
    }
  }
  if (count == 0) return Refuse("the document has no pages");
  if (first_problem.has_value()) return Refuse(*first_problem, count);
  Printability out;
  out.set_printable(true);
  out.set_page_count(count);
  return out;
}

std::string ReadError(qpdf_error_code_e code) {
  switch (code) {
    case qpdf_e_password:
      return "the PDF is encrypted; print needs an unencrypted PDF";
    case qpdf_e_unsupported:
      return "the PDF uses a feature that cannot be read";
    case qpdf_e_pages:
      return "the PDF cannot be read: its page tree is damaged";
    default:
      return "the PDF cannot be read: it is damaged or truncated";
  }
}

}  // namespace

Printability CheckPrintable(std::string_view bytes) { return CheckPrintable(bytes, {}); }

Printability CheckPrintable(std::string_view bytes, const PrintabilityLimits& limits) {
  if (bytes.size() > limits.max_bytes) {
    return Refuse("the document is larger than " + std::to_string(limits.max_bytes >> 20) + " MiB");
  }
  // PDF readers accept the header within the first 1024 bytes.
  if (bytes.substr(0, 1024).find("%PDF-") == std::string_view::npos) {
    return Refuse("not a PDF (no %PDF- header)");
  }
  try {
    size_t inflated = 0;
    // The parser needs a document for indirect references ("5 0 R"); an empty one has none
    // of the file's objects, so such a reference reads as null, never resolved.
    QPDF scratch;
    scratch.setSuppressWarnings(true);
    scratch.emptyPDF();
    Buffer view(reinterpret_cast<unsigned char*>(const_cast<char*>(bytes.data())), bytes.size());
    auto input = std::make_shared<BufferInputSource>("document", &view, false);
    StructureScan scan = ScanXrefChain(bytes, limits, &inflated, scratch, input);
    if (scan.encrypted) return Refuse("the PDF is encrypted; print needs an unencrypted PDF");
    if (scan.too_much_inflated) return Refuse("the PDF's structure is too large when decompressed");
    if (scan.unsupported_filter) {
      return Refuse("the PDF uses a compression of its structure that is not supported for print");
    }
    QPDF qpdf;
    qpdf.setSuppressWarnings(true);
    qpdf.setAttemptRecovery(false);
    qpdf.processMemoryFile("document", bytes.data(), bytes.size());
    if (qpdf.isEncrypted()) return Refuse("the PDF is encrypted; print needs an unencrypted PDF");
    if (std::optional<std::string> problem =
            CheckObjectStreams(bytes, qpdf, limits, &inflated, scratch, input)) {
      return Refuse(*problem);
    }
    return CheckOpened(qpdf, limits);
  } catch (const QPDFExc& e) {
    return Refuse(ReadError(e.getErrorCode()));
  } catch (const std::bad_alloc&) {
    return Refuse("the PDF cannot be read: it needs too much memory");
  } catch (...) {
    // qpdf reports damage with std::runtime_error and std::logic_error too.
    return Refuse("the PDF cannot be read: it is damaged or truncated");
  }
}

}  // namespace utpost::pdf
