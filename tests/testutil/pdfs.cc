#include "tests/testutil/pdfs.h"

#include <zlib.h>

#include <memory>
#include <qpdf/Buffer.hh>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFWriter.hh>

namespace utpost::testutil {

std::string MakePdf(const std::vector<PdfPage>& pages, const PdfOptions& options) {
  QPDF pdf;
  pdf.emptyPDF();
  QPDFObjectHandle font = pdf.makeIndirectObject(
      QPDFObjectHandle::parse("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                              "/Encoding /WinAnsiEncoding >>"));
  for (const PdfPage& spec : pages) {
    QPDFObjectHandle contents =
        QPDFObjectHandle::newStream(&pdf, "BT /F1 12 Tf 72 72 Td (" + options.text + ") Tj ET");
    QPDFObjectHandle page = QPDFObjectHandle::newDictionary();
    page.replaceKey("/Type", QPDFObjectHandle::newName("/Page"));
    page.replaceKey("/MediaBox", QPDFObjectHandle::newFromRectangle(
                                     QPDFObjectHandle::Rectangle(0, 0, spec.width, spec.height)));
    if (spec.crop_width > 0) {
      page.replaceKey("/CropBox", QPDFObjectHandle::newFromRectangle(QPDFObjectHandle::Rectangle(
                                      0, 0, spec.crop_width, spec.crop_height)));
    }
    if (spec.rotate != 0) page.replaceKey("/Rotate", QPDFObjectHandle::newInteger(spec.rotate));
    page.replaceKey("/Contents", contents);
    QPDFObjectHandle resources = QPDFObjectHandle::newDictionary();
    QPDFObjectHandle fonts = QPDFObjectHandle::newDictionary();
    fonts.replaceKey("/F1", font);
    resources.replaceKey("/Font", fonts);
    page.replaceKey("/Resources", resources);
    pdf.addPage(pdf.makeIndirectObject(page), false);
  }
  if (options.catalogue_padding > 0) {
    pdf.getRoot().replaceKey(
        "/Padding", QPDFObjectHandle::newString(std::string(options.catalogue_padding, '\0')));
  }
  QPDFWriter writer(pdf);
  writer.setOutputMemory();
  writer.setStaticID(true);
  if (options.object_streams) writer.setObjectStreamMode(qpdf_o_generate);
  if (options.encrypt) {
    writer.setR6EncryptionParameters(options.user_password.c_str(), "owner-secret", true, true,
                                     true, true, true, true, qpdf_r3p_full, true);
  }
  writer.write();
  std::shared_ptr<Buffer> buffer = writer.getBufferSharedPointer();
  return std::string(reinterpret_cast<const char*>(buffer->getBuffer()), buffer->getSize());
}

std::string MakeXrefBombPdf(size_t inflated_bytes) {
  std::string compressed;
  z_stream z{};
  deflateInit(&z, 9);
  std::string zeros(1 << 20, '\0');
  unsigned char out[1 << 16];
  size_t left = inflated_bytes;
  while (true) {
    const size_t take = std::min(left, zeros.size());
    z.next_in = reinterpret_cast<Bytef*>(zeros.data());
    z.avail_in = static_cast<uInt>(take);
    left -= take;
    const int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    int rc;
    do {
      z.next_out = out;
      z.avail_out = sizeof(out);
      rc = deflate(&z, flush);
      compressed.append(reinterpret_cast<char*>(out), sizeof(out) - z.avail_out);
    } while (z.avail_out == 0);
    if (flush == Z_FINISH && rc == Z_STREAM_END) break;
  }
  deflateEnd(&z);
  std::string pdf = "%PDF-1.5\n";
  const size_t catalog = pdf.size();
  pdf += "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n";
  const size_t pages = pdf.size();
  pdf += "2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n";
  const size_t xref = pdf.size();
  (void)catalog;
  (void)pages;
  pdf += "3 0 obj\n<< /Type /XRef /Size 4 /W [1 4 2] /Root 1 0 R /Filter /FlateDecode /Length " +
         std::to_string(compressed.size()) + " >>\nstream\n" + compressed +
         "\nendstream\nendobj\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

}  // namespace utpost::testutil
