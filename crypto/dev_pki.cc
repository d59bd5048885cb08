#include "crypto/dev_pki.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/ids.h"
#include "common/status_macros.h"
#include "crypto/internal.h"
#include "crypto/secret.h"

namespace utpost::crypto {
namespace {

using internal::DrainOpenSslErrors;
using internal::ErrnoError;
using internal::Fd;

namespace fs = std::filesystem;

constexpr long kCaDays = 3650;
constexpr long kLeafDays = 730;
// Certificates start a few minutes in the past so that a peer whose clock is slightly
// behind still accepts them right after they are made.
constexpr long kBackdateSeconds = 5 * 60;
constexpr int kSerialBits = 128;
constexpr absl::string_view kDevOrgName = "utpost development";
constexpr absl::string_view kNorwayPrefix = "NO";
constexpr absl::string_view kDenmarkPrefix = "DK";
constexpr absl::string_view kNorwayOrgIdPrefix = "NTRNO-";
constexpr absl::string_view kDenmarkOrgIdPrefix = "NTRDK-";
constexpr mode_t kPrivateFileMode = 0600;
constexpr mode_t kPublicFileMode = 0644;
constexpr mode_t kDirMode = 0700;

template <auto kFree>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

[[nodiscard]] absl::Status OpenSslError(absl::string_view what) {
  return absl::InternalError(absl::StrCat("dev PKI: ", what, ": ", DrainOpenSslErrors()));
}

// Never prompts on a terminal for a passphrase: the dev keys have none.
int NoPassphrase(char*, int, int, void*) { return 0; }

int OrganizationIdentifierNid() { return OBJ_txt2nid("2.5.4.97"); }

// --- Files -------------------------------------------------------------------------------

[[nodiscard]] absl::Status MakeDir(const fs::path& dir) {
  std::error_code ec;
  if (dir.has_parent_path()) {
    fs::create_directories(dir.parent_path(), ec);
    if (ec) {
      return absl::ErrnoToStatus(ec.value(), absl::StrCat("creating ", dir.parent_path().string()));
    }
  }
  if (::mkdir(dir.c_str(), kDirMode) != 0 && errno != EEXIST) {
    return ErrnoError(errno, "creating directory", dir);
  }
  if (!fs::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(dir.string(), " is not a directory"));
  }
  return absl::OkStatus();
}

[[nodiscard]] absl::StatusOr<bool> Exists(const fs::path& path) {
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  if (ec) return absl::ErrnoToStatus(ec.value(), absl::StrCat("inspecting ", path.string()));
  return exists;
}

// True if both files of a certificate and its key exist, false if neither does. One without
// the other is left for a person to sort out rather than overwritten.
[[nodiscard]] absl::StatusOr<bool> PairExists(const fs::path& cert, const fs::path& key) {
  UTPOST_ASSIGN_OR_RETURN(const bool cert_exists, Exists(cert));
  UTPOST_ASSIGN_OR_RETURN(const bool key_exists, Exists(key));
  if (cert_exists != key_exists) {
    return absl::FailedPreconditionError(absl::StrCat(
        cert_exists ? cert.string() : key.string(), " exists without ",
        cert_exists ? key.string() : cert.string(), "; delete it to have both made again"));
  }
  return cert_exists;
}

[[nodiscard]] absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError(errno, "opening", path);
  std::string content;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "reading", path);
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  return content;
}

// Writes `content` to `path` with `mode` from the moment the file exists: a temporary file
// made with O_CREAT | O_EXCL, fsynced, renamed into place without replacing anything, then
// the directory fsynced.
[[nodiscard]] absl::Status WriteNewFile(const fs::path& path, std::string_view content,
                                        mode_t mode) {
  const SecretBytes random = SecretBytes::Random(8);
  std::string suffix;
  for (size_t i = 0; i < random.size(); ++i) {
    absl::StrAppend(&suffix, absl::Hex(random.data()[i], absl::kZeroPad2));
  }
  const fs::path tmp =
      path.parent_path() / absl::StrCat(".", path.filename().string(), ".", suffix, ".tmp");
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) return ErrnoError(errno, "creating", tmp);
  absl::Status status;
  size_t done = 0;
  while (status.ok() && done < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoError(errno, "writing", tmp);
    } else {
      done += static_cast<size_t>(n);
    }
  }
  if (status.ok() && ::fsync(fd.get()) != 0) status = ErrnoError(errno, "syncing", tmp);
  if (const int raw = fd.Release(); ::close(raw) != 0 && status.ok()) {
    status = ErrnoError(errno, "closing", tmp);
  }
  if (status.ok() &&
      ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) {
      status = absl::AbortedError(
          absl::StrCat(path.string(), " was created by someone else at the same time; retry"));
    } else if (errno == EINVAL || errno == ENOSYS) {
      // No RENAME_NOREPLACE on this file system; link() also refuses to replace.
      if (::link(tmp.c_str(), path.c_str()) != 0) {
        status = ErrnoError(errno, "linking into", path);
      } else {
        ::unlink(tmp.c_str());
      }
    } else {
      status = ErrnoError(errno, "renaming into", path);
    }
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  Fd dir(::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return ErrnoError(errno, "opening directory", path.parent_path());
  if (::fsync(dir.get()) != 0) return ErrnoError(errno, "syncing directory", path.parent_path());
  return absl::OkStatus();
}

// --- PEM ---------------------------------------------------------------------------------

[[nodiscard]] absl::StatusOr<std::string> BioContents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  if (size < 0 || (size > 0 && data == nullptr)) return OpenSslError("reading a memory BIO");
  return std::string(data, static_cast<size_t>(size));
}

[[nodiscard]] absl::StatusOr<std::string> CertificatePem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError("encoding a certificate");
  }
  return BioContents(bio.get());
}

[[nodiscard]] absl::StatusOr<SecretBytes> PrivateKeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("encoding a private key");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  if (size <= 0 || data == nullptr) return OpenSslError("reading a memory BIO");
  return SecretBytes(std::string_view(data, static_cast<size_t>(size)));
}

[[nodiscard]] absl::StatusOr<BioPtr> ReadOnlyBio(std::string_view data) {
  if (data.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("PEM data larger than 2 GiB");
  }
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (bio == nullptr) return OpenSslError("allocating a BIO");
  return bio;
}

[[nodiscard]] absl::StatusOr<X509Ptr> ParseCertificate(std::string_view pem) {
  UTPOST_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a PEM certificate: ", DrainOpenSslErrors()));
  }
  return cert;
}

[[nodiscard]] absl::StatusOr<PkeyPtr> ParsePrivateKey(std::string_view pem) {
  UTPOST_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an unencrypted PEM private key: ", DrainOpenSslErrors()));
  }
  return key;
}

// --- Certificates ------------------------------------------------------------------------

struct NameEntry {
  int nid;
  std::string value;
};

struct Extension {
  int nid;
  std::string value;  // in openssl x509v3_config syntax
};

struct CertSpec {
  std::vector<NameEntry> subject;
  long days = kLeafDays;
  std::vector<Extension> extensions;
};

[[nodiscard]] absl::StatusOr<PkeyPtr> NewP256Key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (key == nullptr) return OpenSslError("generating a P-256 key");
  return key;
}

[[nodiscard]] absl::Status SetRandomSerial(X509* cert) {
  BignumPtr serial(BN_new());
  // 128 random bits with the top one set: never zero, always 16 bytes, far from guessable.
  if (serial == nullptr ||
      BN_rand(serial.get(), kSerialBits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpenSslError("making a serial number");
  }
  return absl::OkStatus();
}

// Makes a certificate for `key` signed by `issuer_key`; self-signed if `issuer` is null.
[[nodiscard]] absl::StatusOr<X509Ptr> MakeCertificate(const CertSpec& spec, EVP_PKEY* key,
                                                      X509* issuer, EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (cert == nullptr) return OpenSslError("allocating a certificate");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return OpenSslError("setting version");
  UTPOST_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(spec.days), 0, nullptr) ==
          nullptr) {
    return OpenSslError("setting the validity period");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  for (const NameEntry& entry : spec.subject) {
    if (X509_NAME_add_entry_by_NID(subject, entry.nid, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(entry.value.data()),
                                   static_cast<int>(entry.value.size()), -1, 0) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("subject ", OBJ_nid2sn(entry.nid), "=",
                                                     entry.value,
                                                     " rejected: ", DrainOpenSslErrors()));
    }
  }
  X509* issuer_cert = issuer != nullptr ? issuer : cert.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert)) != 1) {
    return OpenSslError("setting the issuer");
  }
  if (X509_set_pubkey(cert.get(), key) != 1) return OpenSslError("setting the public key");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert, cert.get(), nullptr, nullptr, 0);
  // Lets authorityKeyIdentifier find the key id of a self-signed certificate.
  if (X509V3_set_issuer_pkey(&ctx, issuer_key) != 1) return OpenSslError("setting issuer key");
  for (const Extension& ext : spec.extensions) {
    ExtensionPtr x(X509V3_EXT_nconf_nid(nullptr, &ctx, ext.nid, ext.value.c_str()));
    if (x == nullptr || X509_add_ext(cert.get(), x.get(), -1) != 1) {
      return OpenSslError(absl::StrCat("adding ", OBJ_nid2sn(ext.nid), "=", ext.value));
    }
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) {
    return OpenSslError("signing a certificate");
  }
  return cert;
}

std::vector<Extension> LeafExtensions(absl::string_view extended_key_usage) {
  return {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, std::string(extended_key_usage)},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
}

struct Issuer {
  X509Ptr cert;
  PkeyPtr key;
  std::string cert_pem;
};

// Makes a key and a certificate and writes them, the key first: a crash in between leaves
// a key without a certificate, which PairExists reports.
[[nodiscard]] absl::Status MakeAndWrite(const CertSpec& spec, const Issuer& issuer,
                                        const fs::path& cert_path, const fs::path& key_path) {
  UTPOST_ASSIGN_OR_RETURN(PkeyPtr key, NewP256Key());
  UTPOST_ASSIGN_OR_RETURN(X509Ptr cert,
                          MakeCertificate(spec, key.get(), issuer.cert.get(), issuer.key.get()));
  UTPOST_ASSIGN_OR_RETURN(SecretBytes key_pem, PrivateKeyPem(key.get()));
  UTPOST_ASSIGN_OR_RETURN(std::string cert_pem, CertificatePem(cert.get()));
  UTPOST_RETURN_IF_ERROR(WriteNewFile(key_path, key_pem.view(), kPrivateFileMode));
  return WriteNewFile(cert_path, cert_pem, kPublicFileMode);
}

[[nodiscard]] absl::StatusOr<Issuer> EnsureCa(const fs::path& dir) {
  const fs::path cert_path = dir / "ca.pem";
  const fs::path key_path = dir / "ca.key";
  UTPOST_ASSIGN_OR_RETURN(const bool exists, PairExists(cert_path, key_path));
  Issuer ca;
  if (exists) {
    UTPOST_ASSIGN_OR_RETURN(ca.cert_pem, ReadFile(cert_path));
    UTPOST_ASSIGN_OR_RETURN(std::string key_text, ReadFile(key_path));
    const SecretBytes key_pem(key_text);
    OPENSSL_cleanse(key_text.data(), key_text.size());
    absl::StatusOr<X509Ptr> cert = ParseCertificate(ca.cert_pem);
    if (!cert.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(cert_path.string(), ": ", cert.status().message()));
    }
    absl::StatusOr<PkeyPtr> key = ParsePrivateKey(key_pem.view());
    if (!key.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(key_path.string(), ": ", key.status().message()));
    }
    ca.cert = *std::move(cert);
    ca.key = *std::move(key);
    if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
      ERR_clear_error();
      return absl::FailedPreconditionError(
          absl::StrCat(key_path.string(), " does not match ", cert_path.string()));
    }
    return ca;
  }

  CertSpec spec;
  spec.days = kCaDays;
  spec.subject = {{NID_commonName, "utpost development CA"},
                  {NID_organizationName, std::string(kDevOrgName)}};
  spec.extensions = {
      {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
      {NID_key_usage, "critical,keyCertSign,cRLSign"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
  UTPOST_ASSIGN_OR_RETURN(ca.key, NewP256Key());
  UTPOST_ASSIGN_OR_RETURN(ca.cert, MakeCertificate(spec, ca.key.get(), nullptr, ca.key.get()));
  UTPOST_ASSIGN_OR_RETURN(SecretBytes key_pem, PrivateKeyPem(ca.key.get()));
  UTPOST_ASSIGN_OR_RETURN(ca.cert_pem, CertificatePem(ca.cert.get()));
  UTPOST_RETURN_IF_ERROR(WriteNewFile(key_path, key_pem.view(), kPrivateFileMode));
  UTPOST_RETURN_IF_ERROR(WriteNewFile(cert_path, ca.cert_pem, kPublicFileMode));
  return ca;
}

// The organizationIdentifier value for an org key, or INVALID_ARGUMENT.
[[nodiscard]] absl::StatusOr<std::string> OrganizationIdentifier(absl::string_view org_key) {
  if (absl::StartsWith(org_key, kNorwayPrefix)) {
    const absl::string_view number = org_key.substr(kNorwayPrefix.size());
    UTPOST_RETURN_IF_ERROR(
        common::ValidateNorwegianOrgNumber(std::string_view(number.data(), number.size())));
    return absl::StrCat(kNorwayOrgIdPrefix, number);
  }
  if (absl::StartsWith(org_key, kDenmarkPrefix)) {
    const absl::string_view number = org_key.substr(kDenmarkPrefix.size());
    UTPOST_RETURN_IF_ERROR(
        common::ValidateDanishCvr(std::string_view(number.data(), number.size())));
    return absl::StrCat(kDenmarkOrgIdPrefix, number);
  }
  return absl::InvalidArgumentError(
      "an org key is \"NO\" + 9-digit organisation number or \"DK\" + 8-digit CVR number");
}

// The single value of attribute `nid` in `name`, nullopt if absent. Several values are an
// error: which one the certificate speaks for would be a guess.
[[nodiscard]] absl::StatusOr<std::optional<std::string>> SingleNameValue(X509_NAME* name, int nid) {
  const int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return std::nullopt;
  if (X509_NAME_get_index_by_NID(name, nid, index) >= 0) {
    return absl::UnauthenticatedError(
        absl::StrCat("certificate subject has more than one ", OBJ_nid2ln(nid)));
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int size = ASN1_STRING_to_UTF8(&utf8, data);
  if (size < 0) {
    ERR_clear_error();
    return absl::UnauthenticatedError(
        absl::StrCat("certificate subject ", OBJ_nid2ln(nid), " is not a valid string"));
  }
  std::string value(reinterpret_cast<const char*>(utf8), static_cast<size_t>(size));
  OPENSSL_free(utf8);
  return value;
}

}  // namespace

fs::path DevClientDir(const fs::path& dir, std::string_view org_key) {
  return dir / "clients" / std::string(org_key);
}

fs::path DevComponentDir(const fs::path& dir, std::string_view name) {
  return dir / "components" / std::string(name);
}

bool ValidComponentName(std::string_view name) {
  if (name.empty() || name.size() > 32 || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

fs::path DevCaDir(const fs::path& dir) {
  fs::path normal = dir.lexically_normal();
  if (!normal.has_filename()) normal = normal.parent_path();  // "data/pki/" -> "data/pki"
  return normal.parent_path() / (normal.filename().string() + "-ca");
}

absl::Status EnsureDevPki(const fs::path& dir, const std::vector<DevOrganisation>& organisations,
                          const std::vector<std::string>& components) {
  for (const std::string& name : components) {
    if (!ValidComponentName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("dev component \"", absl::CHexEscape(name), "\": not a component name"));
    }
  }
  // Everything is checked before anything is written; the org key also becomes a directory
  // name, and validation keeps it to letters and digits.
  std::vector<std::string> org_ids;
  for (const DevOrganisation& org : organisations) {
    absl::StatusOr<std::string> org_id = OrganizationIdentifier(org.org_key);
    if (!org_id.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("dev organisation \"", org.org_key, "\": ", org_id.status().message()));
    }
    if (org.name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("dev organisation \"", org.org_key, "\" has no name"));
    }
    org_ids.push_back(*std::move(org_id));
  }

  UTPOST_RETURN_IF_ERROR(MakeDir(dir));
  const fs::path ca_dir = DevCaDir(dir);
  const fs::path served_ca = dir / "ca.pem";

  // Earlier releases kept the CA key beside the served files: move it to the CA directory
  // (a rename: its content is not read).
  UTPOST_ASSIGN_OR_RETURN(const bool old_ca_key, Exists(dir / "ca.key"));
  if (old_ca_key) {
    UTPOST_RETURN_IF_ERROR(MakeDir(ca_dir));
    UTPOST_ASSIGN_OR_RETURN(const bool new_ca_key, Exists(ca_dir / "ca.key"));
    if (new_ca_key) {
      return absl::FailedPreconditionError(
          absl::StrCat("both ", (dir / "ca.key").string(), " and ", (ca_dir / "ca.key").string(),
                       " exist; remove the one that does not belong to ", served_ca.string()));
    }
    UTPOST_ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(served_ca));
    UTPOST_ASSIGN_OR_RETURN(const bool ca_pem_copied, Exists(ca_dir / "ca.pem"));
    if (!ca_pem_copied) {
      UTPOST_RETURN_IF_ERROR(WriteNewFile(ca_dir / "ca.pem", ca_pem, kPublicFileMode));
    }
    if (::rename((dir / "ca.key").c_str(), (ca_dir / "ca.key").c_str()) != 0) {
      return ErrnoError(errno, "moving the dev CA key to", ca_dir / "ca.key");
    }
  }

  // What is missing. The CA key is read only if something has to be issued.
  const fs::path server_cert = dir / "server.pem";
  const fs::path server_key = dir / "server.key";
  UTPOST_ASSIGN_OR_RETURN(const bool server_exists, PairExists(server_cert, server_key));
  std::vector<bool> client_exists;
  for (const DevOrganisation& org : organisations) {
    const fs::path client_dir = DevClientDir(dir, org.org_key);
    UTPOST_ASSIGN_OR_RETURN(const bool exists,
                            PairExists(client_dir / "client.pem", client_dir / "client.key"));
    client_exists.push_back(exists);
  }
  std::vector<bool> component_exists;
  for (const std::string& name : components) {
    const fs::path component_dir = DevComponentDir(dir, name);
    UTPOST_ASSIGN_OR_RETURN(const bool exists,
                            PairExists(component_dir / "client.pem", component_dir / "client.key"));
    component_exists.push_back(exists);
  }
  UTPOST_ASSIGN_OR_RETURN(const bool served_ca_exists, Exists(served_ca));
  auto any_missing = [](const std::vector<bool>& exists) {
    return std::find(exists.begin(), exists.end(), false) != exists.end();
  };
  const bool must_issue =
      !server_exists || any_missing(client_exists) || any_missing(component_exists);

  std::optional<Issuer> ca;
  if (must_issue || !served_ca_exists) {
    UTPOST_ASSIGN_OR_RETURN(const bool ca_exists, Exists(ca_dir / "ca.pem"));
    if (!ca_exists && served_ca_exists) {
      // A new CA would not be the one the existing certificates chain to.
      return absl::FailedPreconditionError(
          absl::StrCat("the dev CA that issued ", served_ca.string(), " is not in ",
                       ca_dir.string(), ", so the missing certificates cannot be issued; delete ",
                       dir.string(), " to have a new dev PKI made"));
    }
    UTPOST_RETURN_IF_ERROR(MakeDir(ca_dir));
    UTPOST_ASSIGN_OR_RETURN(ca, EnsureCa(ca_dir));
    if (served_ca_exists) {
      UTPOST_ASSIGN_OR_RETURN(const std::string served, ReadFile(served_ca));
      if (served != ca->cert_pem) {
        return absl::FailedPreconditionError(
            absl::StrCat(served_ca.string(), " is not the certificate of the dev CA in ",
                         ca_dir.string(), "; delete ", dir.string(), " to have it made again"));
      }
    } else {
      UTPOST_RETURN_IF_ERROR(WriteNewFile(served_ca, ca->cert_pem, kPublicFileMode));
    }
  }
  UTPOST_ASSIGN_OR_RETURN(const std::string ca_pem, ReadFile(served_ca));

  if (!server_exists) {
    CertSpec spec;
    spec.subject = {{NID_commonName, "localhost"},
                    {NID_organizationName, std::string(kDevOrgName)}};
    spec.extensions = LeafExtensions("serverAuth");
    spec.extensions.push_back({NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"});
    UTPOST_RETURN_IF_ERROR(MakeAndWrite(spec, *ca, server_cert, server_key));
  }

  if (!organisations.empty()) UTPOST_RETURN_IF_ERROR(MakeDir(dir / "clients"));
  for (size_t i = 0; i < organisations.size(); ++i) {
    const DevOrganisation& org = organisations[i];
    const fs::path client_dir = DevClientDir(dir, org.org_key);
    UTPOST_RETURN_IF_ERROR(MakeDir(client_dir));
    if (!client_exists[i]) {
      CertSpec spec;
      spec.subject = {{NID_commonName, org.name},
                      {NID_organizationName, org.name},
                      {OrganizationIdentifierNid(), org_ids[i]}};
      spec.extensions = LeafExtensions("clientAuth");
      UTPOST_RETURN_IF_ERROR(
          MakeAndWrite(spec, *ca, client_dir / "client.pem", client_dir / "client.key"));
    }
    const fs::path client_ca = client_dir / "ca.pem";
    UTPOST_ASSIGN_OR_RETURN(const bool ca_copied, Exists(client_ca));
    if (!ca_copied) {
      UTPOST_RETURN_IF_ERROR(WriteNewFile(client_ca, ca_pem, kPublicFileMode));
    }
  }

  if (!components.empty()) UTPOST_RETURN_IF_ERROR(MakeDir(dir / "components"));
  for (size_t i = 0; i < components.size(); ++i) {
    const std::string& name = components[i];
    const fs::path component_dir = DevComponentDir(dir, name);
    UTPOST_RETURN_IF_ERROR(MakeDir(component_dir));
    if (!component_exists[i]) {
      // No organisation in the subject, and the component URI: IdentityFromCertificatePem
      // reads it as this component and never as an organisation.
      CertSpec spec;
      spec.subject = {{NID_commonName, absl::StrCat("utpost ", name)},
                      {NID_organizationName, std::string(kDevOrgName)}};
      spec.extensions = LeafExtensions("clientAuth");
      spec.extensions.push_back(
          {NID_subject_alt_name, absl::StrCat("URI:", kComponentUriPrefix, name)});
      UTPOST_RETURN_IF_ERROR(
          MakeAndWrite(spec, *ca, component_dir / "client.pem", component_dir / "client.key"));
    }
    const fs::path component_ca = component_dir / "ca.pem";
    UTPOST_ASSIGN_OR_RETURN(const bool ca_copied, Exists(component_ca));
    if (!ca_copied) {
      UTPOST_RETURN_IF_ERROR(WriteNewFile(component_ca, ca_pem, kPublicFileMode));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> OrgKeyFromCertificatePem(std::string_view pem,
                                                     bool accept_serial_number_org) {
  absl::StatusOr<X509Ptr> cert = ParseCertificate(pem);
  if (!cert.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate cannot be read: ", cert.status().message()));
  }
  X509_NAME* subject = X509_get_subject_name(cert->get());

  UTPOST_ASSIGN_OR_RETURN(std::optional<std::string> org_id,
                          SingleNameValue(subject, OrganizationIdentifierNid()));
  if (org_id.has_value()) {
    absl::string_view value = *org_id;
    absl::string_view country;
    absl::Status valid;
    if (absl::ConsumePrefix(&value, kNorwayOrgIdPrefix)) {
      country = kNorwayPrefix;
      valid = common::ValidateNorwegianOrgNumber(std::string_view(value.data(), value.size()));
    } else if (absl::ConsumePrefix(&value, kDenmarkOrgIdPrefix)) {
      country = kDenmarkPrefix;
      valid = common::ValidateDanishCvr(std::string_view(value.data(), value.size()));
    } else {
      return absl::UnauthenticatedError(
          absl::StrCat("certificate organizationIdentifier \"", absl::CHexEscape(*org_id),
                       "\" is neither NTRNO-<organisation number> nor NTRDK-<CVR number>"));
    }
    if (!valid.ok()) {
      return absl::UnauthenticatedError(absl::StrCat("certificate organizationIdentifier \"",
                                                     absl::CHexEscape(*org_id),
                                                     "\": ", valid.message()));
    }
    return absl::StrCat(country, value);
  }

  if (!accept_serial_number_org) {
    return absl::UnauthenticatedError(
        "certificate subject names no organisation (no organizationIdentifier NTRNO-/NTRDK-)");
  }
  UTPOST_ASSIGN_OR_RETURN(std::optional<std::string> serial,
                          SingleNameValue(subject, NID_serialNumber));
  if (serial.has_value() && serial->size() == 9) {
    if (absl::Status valid = common::ValidateNorwegianOrgNumber(*serial); !valid.ok()) {
      return absl::UnauthenticatedError(absl::StrCat("certificate subject serialNumber \"",
                                                     absl::CHexEscape(*serial),
                                                     "\": ", valid.message()));
    }
    return absl::StrCat(kNorwayPrefix, *serial);
  }
  return absl::UnauthenticatedError(
      "certificate subject names no organisation (no organizationIdentifier "
      "NTRNO-/NTRDK-, no 9-digit serialNumber)");
}

namespace {

using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;

// The component names of the certificate's subjectAltName URIs with kComponentUriPrefix.
// A URI with the prefix but no valid name is UNAUTHENTICATED.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> ComponentUris(X509* cert) {
  std::vector<std::string> names;
  int critical = 0;
  GeneralNamesPtr sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  if (sans == nullptr) {
    ERR_clear_error();
    if (critical == -2) {
      return absl::UnauthenticatedError("certificate has more than one subjectAltName");
    }
    return names;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    const std::string_view value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                                 static_cast<size_t>(ASN1_STRING_length(uri)));
    std::string_view component = value;
    if (component.substr(0, std::strlen(kComponentUriPrefix)) != kComponentUriPrefix) continue;
    component.remove_prefix(std::strlen(kComponentUriPrefix));
    if (!ValidComponentName(component)) {
      return absl::UnauthenticatedError(
          absl::StrCat("certificate names an invalid component \"",
                       absl::CHexEscape(absl::string_view(value.data(), value.size())), "\""));
    }
    names.emplace_back(component);
  }
  return names;
}

}  // namespace

absl::StatusOr<CertificateIdentity> IdentityFromCertificatePem(std::string_view pem,
                                                               bool accept_serial_number_org) {
  absl::StatusOr<X509Ptr> cert = ParseCertificate(pem);
  if (!cert.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate cannot be read: ", cert.status().message()));
  }
  UTPOST_ASSIGN_OR_RETURN(std::vector<std::string> components, ComponentUris(cert->get()));
  X509_NAME* subject = X509_get_subject_name(cert->get());
  // Whether the subject carries anything an organisation could be read from, valid or not:
  // a component certificate must not look like an organisation's in any way.
  const bool names_organisation =
      X509_NAME_get_index_by_NID(subject, OrganizationIdentifierNid(), -1) >= 0 ||
      (accept_serial_number_org && X509_NAME_get_index_by_NID(subject, NID_serialNumber, -1) >= 0);
  if (components.empty()) {
    UTPOST_ASSIGN_OR_RETURN(std::string org,
                            OrgKeyFromCertificatePem(pem, accept_serial_number_org));
    return CertificateIdentity{CertificateIdentity::Kind::kOrganisation, std::move(org)};
  }
  if (components.size() > 1) {
    return absl::UnauthenticatedError("certificate names more than one component");
  }
  if (names_organisation) {
    return absl::UnauthenticatedError(
        "certificate names both a component and an organisation; it is refused as either");
  }
  return CertificateIdentity{CertificateIdentity::Kind::kComponent, std::move(components[0])};
}

}  // namespace utpost::crypto
