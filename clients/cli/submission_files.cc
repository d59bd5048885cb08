#include "clients/cli/submission_files.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <fstream>
#include <memory>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/strings.h"

namespace utpost::cli {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct CmsFree {
  void operator()(CMS_ContentInfo* c) const { CMS_ContentInfo_free(c); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buffer[256];
  ERR_error_string_n(e, buffer, sizeof(buffer));
  return buffer;
}

// The value of header `name` (case-insensitive) in `headers`, or "".
std::string Header(std::string_view headers, std::string_view name) {
  for (absl::string_view line : absl::StrSplit(common::Av(headers), "\r\n")) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(line.substr(0, colon)),
                               common::Av(name))) {
      return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

// Parameter `name` of a header value (`; name="x"` or `; name=x`), or "".
std::string Parameter(std::string_view value, std::string_view name) {
  for (absl::string_view piece : absl::StrSplit(common::Av(value), ';')) {
    piece = absl::StripAsciiWhitespace(piece);
    const size_t eq = piece.find('=');
    if (eq == absl::string_view::npos) continue;
    if (!absl::EqualsIgnoreCase(piece.substr(0, eq), common::Av(name))) continue;
    absl::string_view v = piece.substr(eq + 1);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return std::string(v);
  }
  return "";
}

// RFC 2231 `UTF-8''percent%20encoded` → bytes; "" when malformed.
std::string DecodeExtended(std::string_view v) {
  const size_t quote = v.find("''");
  if (quote == std::string_view::npos) return "";
  v = v.substr(quote + 2);
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '%') {
      out += v[i];
      continue;
    }
    if (i + 2 >= v.size() || !absl::ascii_isxdigit(v[i + 1]) || !absl::ascii_isxdigit(v[i + 2])) {
      return "";
    }
    out += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
    i += 2;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> DecryptEnvelope(std::string_view der,
                                            const std::filesystem::path& key_path) {
  std::unique_ptr<BIO, BioFree> key_bio(BIO_new_file(key_path.c_str(), "r"));
  if (!key_bio) {
    return absl::NotFoundError(absl::StrCat("cannot read the key ", key_path.string()));
  }
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_path.string(), " is not a PEM private key: ", OpenSslError()));
  }
  std::unique_ptr<BIO, BioFree> in(BIO_new_mem_buf(der.data(), static_cast<int>(der.size())));
  std::unique_ptr<CMS_ContentInfo, CmsFree> cms(d2i_CMS_bio(in.get(), nullptr));
  if (!cms) return absl::InvalidArgumentError("the envelope is not DER CMS: " + OpenSslError());
  std::unique_ptr<BIO, BioFree> out(BIO_new(BIO_s_mem()));
  if (CMS_decrypt(cms.get(), key.get(), nullptr, nullptr, out.get(), CMS_BINARY) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the envelope does not open with ", key_path.string(), ": ", OpenSslError()));
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

absl::StatusOr<std::vector<SubmissionPart>> SplitSubmissionMime(std::string_view mime) {
  const size_t head_end = mime.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    return absl::InvalidArgumentError("not a MIME entity: no end of headers");
  }
  const std::string type = Header(mime.substr(0, head_end), "Content-Type");
  const std::string boundary = Parameter(type, "boundary");
  if (!absl::StartsWithIgnoreCase(type, "multipart/mixed") || boundary.empty()) {
    return absl::InvalidArgumentError("not multipart/mixed with a boundary");
  }
  const std::string first = absl::StrCat("--", boundary, "\r\n");
  const std::string delimiter = absl::StrCat("\r\n--", boundary);
  size_t at = mime.find(first, head_end + 4);
  if (at == std::string_view::npos) return absl::InvalidArgumentError("no first part");
  at += first.size();
  std::vector<SubmissionPart> parts;
  while (true) {
    const size_t end = mime.find(delimiter, at);
    if (end == std::string_view::npos) return absl::InvalidArgumentError("a part is not closed");
    const std::string_view part = mime.substr(at, end - at);
    const size_t body = part.find("\r\n\r\n");
    if (body == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("part ", parts.size(), " has no headers"));
    }
    const std::string_view headers = part.substr(0, body);
    SubmissionPart p;
    const std::string content_type = Header(headers, "Content-Type");
    p.media_type = absl::AsciiStrToLower(
        absl::StripAsciiWhitespace(content_type.substr(0, content_type.find(';'))));
    const std::string disposition = Header(headers, "Content-Disposition");
    p.filename = DecodeExtended(Parameter(disposition, "filename*"));
    if (p.filename.empty()) p.filename = Parameter(disposition, "filename");
    p.content = std::string(part.substr(body + 4));
    parts.push_back(std::move(p));
    at = end + delimiter.size();
    if (mime.substr(at, 2) == "--") break;
    if (mime.substr(at, 2) != "\r\n") return absl::InvalidArgumentError("bad part delimiter");
    at += 2;
  }
  if (parts.empty() || parts[0].media_type != "application/json") {
    return absl::InvalidArgumentError("the first part is not the submission's JSON");
  }
  return parts;
}

std::string SafeFilename(std::string_view name, int index) {
  const size_t slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name = name.substr(slash + 1);
  std::string out;
  for (const char c : name) {
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out += c;
  }
  if (out.empty() || out == "." || out == "..") out = absl::StrCat("attachment-", index);
  return out;
}

absl::StatusOr<std::vector<std::filesystem::path>> WriteSubmissionParts(
    const std::filesystem::path& dir, const std::vector<SubmissionPart>& parts) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", dir.string()));
  std::vector<std::filesystem::path> written;
  std::set<std::string> used = {"submission.json"};
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string name = "submission.json";
    if (i > 0) {
      const std::string base = SafeFilename(parts[i].filename, static_cast<int>(i));
      name = base;
      for (int n = 2; used.count(name) > 0; ++n) {
        const size_t dot = base.rfind('.');
        name = dot == std::string::npos || dot == 0
                   ? absl::StrCat(base, "-", n)
                   : absl::StrCat(base.substr(0, dot), "-", n, base.substr(dot));
      }
      used.insert(name);
    }
    const std::filesystem::path path = dir / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(parts[i].content.data(), static_cast<std::streamsize>(parts[i].content.size()));
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path.string()));
    written.push_back(path);
  }
  return written;
}

}  // namespace utpost::cli
