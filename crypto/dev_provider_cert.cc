#include "crypto/dev_provider_cert.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/internal.h"
#include "crypto/secret.h"

namespace utpost::crypto {
namespace {

namespace fs = std::filesystem;
using internal::DrainOpenSslErrors;
using internal::ErrnoError;
using internal::Fd;

constexpr int kRsaBits = 2048;
constexpr long kDays = 2 * 365;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, ExtFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

int NoPassphrase(char*, int, int, void*) { return 0; }

absl::Status OpenSslError(std::string_view what) {
  return absl::InternalError(absl::StrCat(common::Av(what), ": ", DrainOpenSslErrors()));
}

absl::Status MakeDir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError(errno, "creating", dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
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

// Writes a new file with `mode` from its creation, synced. ALREADY_EXISTS if it exists.
absl::Status WriteNewFile(const fs::path& path, std::string_view content, mode_t mode) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    if (errno == EEXIST) return absl::AlreadyExistsError(absl::StrCat(path.string(), " exists"));
    return ErrnoError(errno, "creating", path);
  }
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "writing", path);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return ErrnoError(errno, "syncing", path);
  return absl::OkStatus();
}

absl::StatusOr<std::string> BioString(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  if (size < 0 || (size > 0 && data == nullptr)) return OpenSslError("reading a memory BIO");
  return std::string(data, static_cast<size_t>(size));
}

struct CertAndKey {
  std::string cert_pem;
  SecretBytes key_pem;
};

absl::StatusOr<CertAndKey> MakeSelfSigned(std::string_view name) {
  // P-256: made in a millisecond (an RSA key takes a hundred times longer, on every fresh
  // dev start), and CMS encrypts to it by key agreement (openssl cms -decrypt reads it).
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (key == nullptr) return OpenSslError("generating a P-256 key");
  X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return OpenSslError("allocating a certificate");
  }
  BnPtr serial(BN_new());
  if (serial == nullptr || BN_rand(serial.get(), 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return OpenSslError("making a serial number");
  }
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(kDays), 0, nullptr) ==
          nullptr) {
    return OpenSslError("setting the validity period");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const std::string cn(name);
  const std::string org = "utpost dev provider";
  if (X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1 ||
      X509_NAME_add_entry_by_NID(subject, NID_organizationName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(org.data()),
                                 static_cast<int>(org.size()), -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), subject) != 1 ||
      X509_set_pubkey(cert.get(), key.get()) != 1) {
    return OpenSslError("setting the subject");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] :
       {std::pair<int, const char*>{NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,keyAgreement"},
        {NID_subject_key_identifier, "hash"}}) {
    ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
    if (ext == nullptr || X509_add_ext(cert.get(), ext.get(), -1) != 1) {
      return OpenSslError(absl::StrCat("adding ", OBJ_nid2sn(nid)));
    }
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    return OpenSslError("signing a certificate");
  }
  CertAndKey out;
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  if (cert_bio == nullptr || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) {
    return OpenSslError("encoding a certificate");
  }
  UTPOST_ASSIGN_OR_RETURN(out.cert_pem, BioString(cert_bio.get()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (key_bio == nullptr || PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0,
                                                     nullptr, nullptr) != 1) {
    return OpenSslError("encoding a private key");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(key_bio.get(), &data);
  if (size <= 0 || data == nullptr) return OpenSslError("reading a memory BIO");
  out.key_pem = SecretBytes(std::string_view(data, static_cast<size_t>(size)));
  OPENSSL_cleanse(data, static_cast<size_t>(size));
  return out;
}

}  // namespace

fs::path DevProviderDir(const fs::path& providers_dir, std::string_view provider_id) {
  return providers_dir / std::string(provider_id);
}

absl::StatusOr<std::string> EnsureDevProviderCertificate(const fs::path& providers_dir,
                                                         std::string_view provider_id,
                                                         std::string_view name) {
  std::error_code ec;
  if (providers_dir.has_parent_path()) fs::create_directories(providers_dir.parent_path(), ec);
  UTPOST_RETURN_IF_ERROR(MakeDir(providers_dir));
  const fs::path dir = DevProviderDir(providers_dir, provider_id);
  UTPOST_RETURN_IF_ERROR(MakeDir(dir));
  const fs::path cert_path = dir / "cert.pem";
  const fs::path key_path = dir / "key.pem";
  const bool cert_exists = fs::exists(cert_path, ec);
  const bool key_exists = fs::exists(key_path, ec);
  if (cert_exists != key_exists) {
    return absl::FailedPreconditionError(absl::StrCat(
        cert_exists ? cert_path.string() : key_path.string(), " exists without ",
        cert_exists ? key_path.string() : cert_path.string(), "; delete it to have both made"));
  }
  if (cert_exists) return ReadFile(cert_path);
  UTPOST_ASSIGN_OR_RETURN(CertAndKey made, MakeSelfSigned(name));
  // The key first: a certificate without its key would be of no use to the simulator.
  UTPOST_RETURN_IF_ERROR(WriteNewFile(key_path, made.key_pem.view(), 0600));
  UTPOST_RETURN_IF_ERROR(WriteNewFile(cert_path, made.cert_pem, 0644));
  return made.cert_pem;
}

absl::Status CheckEncryptionCertificatePem(std::string_view pem) {
  if (pem.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("is larger than 2 GiB");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslError("allocating a BIO");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  if (cert == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("is not a PEM X.509 certificate");
  }
  X509Ptr second(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  ERR_clear_error();
  if (second != nullptr) {
    return absl::InvalidArgumentError("must hold one certificate (it holds more)");
  }
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("has a public key that cannot be read");
  }
  if (EVP_PKEY_is_a(key, "RSA")) {
    if (EVP_PKEY_get_bits(key) < kRsaBits) {
      return absl::InvalidArgumentError(absl::StrCat("has an RSA key of ", EVP_PKEY_get_bits(key),
                                                     " bits; at least ", kRsaBits, " are needed"));
    }
    return absl::OkStatus();
  }
  if (EVP_PKEY_is_a(key, "EC")) return absl::OkStatus();
  return absl::InvalidArgumentError("must have an RSA or EC public key (CMS encryption)");
}

}  // namespace utpost::crypto
