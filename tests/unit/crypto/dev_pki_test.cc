#include "crypto/dev_pki.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"

namespace utpost::crypto {
namespace {

namespace fs = std::filesystem;
using testutil::MakeTempDir;
using testutil::ModeOf;
using testutil::ReadAll;

template <auto kFree>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL_free>>;

constexpr char kOslo[] = "NO958935420";
constexpr char kDanish[] = "DK29189846";

const std::vector<DevOrganisation> kOrganisations = {
    {kOslo, "Oslo kommune"},
    {kDanish, "Dansk testkommune æøå"},
};

X509Ptr LoadCert(const fs::path& path) {
  const std::string pem = ReadAll(path);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_NE(cert, nullptr) << path;
  return cert;
}

// X509_verify_cert of `cert` against `ca` alone, for `purpose`; X509_V_OK if it verifies.
int Verify(X509* ca, X509* cert, int purpose, const char* host = nullptr,
           const char* ip = nullptr) {
  StorePtr store(X509_STORE_new());
  EXPECT_EQ(X509_STORE_add_cert(store.get(), ca), 1);
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  EXPECT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr), 1);
  EXPECT_EQ(X509_STORE_CTX_set_purpose(ctx.get(), purpose), 1);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  if (host != nullptr) {
    EXPECT_EQ(X509_VERIFY_PARAM_set1_host(param, host, 0), 1);
  }
  if (ip != nullptr) {
    EXPECT_EQ(X509_VERIFY_PARAM_set1_ip_asc(param, ip), 1);
  }
  if (X509_verify_cert(ctx.get()) == 1) return X509_V_OK;
  ERR_clear_error();
  return X509_STORE_CTX_get_error(ctx.get());
}

// A self-signed certificate with the given subject, for OrgKeyFromCertificatePem cases the
// dev PKI does not make.
std::string SelfSignedPem(const std::vector<std::pair<std::string, std::string>>& subject) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& [field, value] : subject) {
    EXPECT_EQ(X509_NAME_add_entry_by_txt(name, field.c_str(), MBSTRING_UTF8,
                                         reinterpret_cast<const unsigned char*>(value.data()),
                                         static_cast<int>(value.size()), -1, 0),
              1)
        << field;
  }
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  EXPECT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert.get());
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::map<fs::path, std::string> SnapshotFiles(const fs::path& dir) {
  std::map<fs::path, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files[entry.path()] = ReadAll(entry.path());
  }
  return files;
}

class DevPkiTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = MakeTempDir();
    dir_ = root_ / "pki";
    absl::Status status = EnsureDevPki(dir_, kOrganisations);
    ASSERT_TRUE(status.ok()) << status;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  fs::path root_;
  fs::path dir_;
};

TEST_F(DevPkiTest, WritesTheDocumentedFilesWithPrivateKeyModes) {
  EXPECT_EQ(ModeOf(dir_), 0700u);
  // The CA key is beside the served PKI, not in it.
  EXPECT_EQ(DevCaDir(dir_), root_ / "pki-ca");
  EXPECT_EQ(DevCaDir(root_ / "pki/"), root_ / "pki-ca");
  EXPECT_FALSE(fs::exists(dir_ / "ca.key"));
  EXPECT_EQ(ModeOf(DevCaDir(dir_)), 0700u);
  EXPECT_EQ(ModeOf(DevCaDir(dir_) / "ca.key"), 0600u);
  EXPECT_EQ(ReadAll(DevCaDir(dir_) / "ca.pem"), ReadAll(dir_ / "ca.pem"));
  EXPECT_EQ(ModeOf(dir_ / "server.key"), 0600u);
  EXPECT_TRUE(fs::is_regular_file(dir_ / "ca.pem"));
  EXPECT_TRUE(fs::is_regular_file(dir_ / "server.pem"));
  for (const DevOrganisation& org : kOrganisations) {
    const fs::path client = DevClientDir(dir_, org.org_key);
    EXPECT_EQ(client, dir_ / "clients" / org.org_key);
    EXPECT_EQ(ModeOf(client / "client.key"), 0600u);
    EXPECT_TRUE(fs::is_regular_file(client / "client.pem"));
    EXPECT_EQ(ReadAll(client / "ca.pem"), ReadAll(dir_ / "ca.pem"));
  }
  for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
    EXPECT_EQ(ModeOf(entry.path()) & 022, 0u) << entry.path() << " writable by others";
    EXPECT_EQ(entry.path().extension() == ".tmp", false) << entry.path();
  }
  // Keys parse as unencrypted PKCS#8 EC keys.
  const std::string key_pem = ReadAll(dir_ / "server.key");
  EXPECT_NE(key_pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(key, nullptr);
  EXPECT_TRUE(EVP_PKEY_is_a(key.get(), "EC"));
}

TEST_F(DevPkiTest, CertificatesVerifyAgainstTheCa) {
  X509Ptr ca = LoadCert(dir_ / "ca.pem");
  X509Ptr server = LoadCert(dir_ / "server.pem");
  X509Ptr client = LoadCert(DevClientDir(dir_, kOslo) / "client.pem");
  ASSERT_TRUE(ca && server && client);

  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_get_version(ca.get()), X509_VERSION_3);
  EXPECT_EQ(X509_get_signature_nid(server.get()), NID_ecdsa_with_SHA256);
  EXPECT_NE(X509_get0_subject_key_id(server.get()), nullptr);
  ASSERT_NE(X509_get0_authority_key_id(server.get()), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(server.get()),
                                  X509_get0_subject_key_id(ca.get())),
            0);
  // Serials are random and 128 bits long.
  EXPECT_NE(
      ASN1_INTEGER_cmp(X509_get0_serialNumber(server.get()), X509_get0_serialNumber(client.get())),
      0);
  EXPECT_GE(ASN1_STRING_length(X509_get0_serialNumber(server.get())), 16);

  EXPECT_EQ(Verify(ca.get(), server.get(), X509_PURPOSE_SSL_SERVER, "localhost"), X509_V_OK);
  EXPECT_EQ(Verify(ca.get(), server.get(), X509_PURPOSE_SSL_SERVER, nullptr, "127.0.0.1"),
            X509_V_OK);
  EXPECT_EQ(Verify(ca.get(), server.get(), X509_PURPOSE_SSL_SERVER, nullptr, "::1"), X509_V_OK);
  EXPECT_NE(Verify(ca.get(), server.get(), X509_PURPOSE_SSL_SERVER, "example.com"), X509_V_OK);
  EXPECT_NE(Verify(ca.get(), server.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);

  for (const DevOrganisation& org : kOrganisations) {
    X509Ptr cert = LoadCert(DevClientDir(dir_, org.org_key) / "client.pem");
    EXPECT_EQ(Verify(ca.get(), cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK) << org.org_key;
    EXPECT_NE(Verify(ca.get(), cert.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK) << org.org_key;
  }

  // A certificate from another dev PKI does not verify against this CA.
  const fs::path other = root_ / "other";
  ASSERT_TRUE(EnsureDevPki(other, {}).ok());
  X509Ptr foreign = LoadCert(other / "server.pem");
  EXPECT_NE(Verify(ca.get(), foreign.get(), X509_PURPOSE_SSL_SERVER, "localhost"), X509_V_OK);
}

TEST_F(DevPkiTest, ClientCertificatesNameTheirOrganisation) {
  absl::StatusOr<std::string> oslo =
      OrgKeyFromCertificatePem(ReadAll(DevClientDir(dir_, kOslo) / "client.pem"));
  ASSERT_TRUE(oslo.ok()) << oslo.status();
  EXPECT_EQ(*oslo, "NO958935420");

  absl::StatusOr<std::string> danish =
      OrgKeyFromCertificatePem(ReadAll(DevClientDir(dir_, kDanish) / "client.pem"));
  ASSERT_TRUE(danish.ok()) << danish.status();
  EXPECT_EQ(*danish, "DK29189846");

  X509Ptr cert = LoadCert(DevClientDir(dir_, kOslo) / "client.pem");
  X509_NAME* subject = X509_get_subject_name(cert.get());
  char buffer[256];
  ASSERT_GT(X509_NAME_get_text_by_NID(subject, NID_organizationName, buffer, sizeof(buffer)), 0);
  EXPECT_STREQ(buffer, "Oslo kommune");
  ASSERT_GT(X509_NAME_get_text_by_NID(subject, NID_commonName, buffer, sizeof(buffer)), 0);
  EXPECT_STREQ(buffer, "Oslo kommune");
  ASSERT_GT(X509_NAME_get_text_by_NID(subject, OBJ_txt2nid("2.5.4.97"), buffer, sizeof(buffer)), 0);
  EXPECT_STREQ(buffer, "NTRNO-958935420");
}

TEST_F(DevPkiTest, CertificateWithoutOrganisationIsUnauthenticated) {
  absl::StatusOr<std::string> server = OrgKeyFromCertificatePem(ReadAll(dir_ / "server.pem"));
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnauthenticated) << server.status();
  EXPECT_EQ(OrgKeyFromCertificatePem(ReadAll(dir_ / "ca.pem")).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(OrgKeyFromCertificatePem("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(OrgKeyFromCertificatePem("-----BEGIN CERTIFICATE-----\nAAAA\n").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(OrgKeyFromCertificatePemTest, ReadsOrganizationIdentifierAndSerialNumberWhenAccepted) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> subject;
    absl::StatusCode code;
    std::string org_key;
  };
  const std::vector<Case> cases = {
      {{{"O", "Oslo kommune"}, {"organizationIdentifier", "NTRNO-958935420"}},
       absl::StatusCode::kOk,
       "NO958935420"},
      {{{"2.5.4.97", "NTRDK-29189846"}}, absl::StatusCode::kOk, "DK29189846"},
      // Older Norwegian enterprise certificates carry the number as serialNumber.
      {{{"O", "Oslo kommune"}, {"serialNumber", "958935420"}},
       absl::StatusCode::kOk,
       "NO958935420"},
      // The organizationIdentifier decides when present.
      {{{"organizationIdentifier", "NTRDK-29189846"}, {"serialNumber", "958935420"}},
       absl::StatusCode::kOk,
       "DK29189846"},
      {{{"organizationIdentifier", "NTRNO-958935421"}}, absl::StatusCode::kUnauthenticated, ""},
      {{{"organizationIdentifier", "NTRDK-29189847"}}, absl::StatusCode::kUnauthenticated, ""},
      {{{"organizationIdentifier", "NTRNO-95893542"}}, absl::StatusCode::kUnauthenticated, ""},
      {{{"organizationIdentifier", "VATNO-958935420"}}, absl::StatusCode::kUnauthenticated, ""},
      {{{"organizationIdentifier", "NTRNO-958935420"},
        {"organizationIdentifier", "NTRDK-29189846"}},
       absl::StatusCode::kUnauthenticated,
       ""},
      {{{"serialNumber", "958935421"}}, absl::StatusCode::kUnauthenticated, ""},
      {{{"serialNumber", "12345678901"}}, absl::StatusCode::kUnauthenticated, ""},
      {{{"O", "Oslo kommune"}, {"CN", "958935420"}}, absl::StatusCode::kUnauthenticated, ""},
  };
  for (const Case& c : cases) {
    const std::string pem = SelfSignedPem(c.subject);
    absl::StatusOr<std::string> org_key =
        OrgKeyFromCertificatePem(pem, /*accept_serial_number_org=*/true);
    std::string description;
    for (const auto& [field, value] : c.subject) description += field + "=" + value + " ";
    EXPECT_EQ(org_key.status().code(), c.code) << description << org_key.status();
    if (org_key.ok()) {
      EXPECT_EQ(*org_key, c.org_key) << description;
    }
  }
}

TEST(OrgKeyFromCertificatePemTest, SerialNumberNamesNoOrganisationByDefault) {
  const std::string serial_only =
      SelfSignedPem({{"O", "Oslo kommune"}, {"serialNumber", "958935420"}});
  absl::StatusOr<std::string> refused = OrgKeyFromCertificatePem(serial_only);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated) << refused.status();
  EXPECT_EQ(
      OrgKeyFromCertificatePem(serial_only, /*accept_serial_number_org=*/false).status().code(),
      absl::StatusCode::kUnauthenticated);
  absl::StatusOr<std::string> accepted =
      OrgKeyFromCertificatePem(serial_only, /*accept_serial_number_org=*/true);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(*accepted, "NO958935420");
  // organizationIdentifier is read either way, and decides over a serialNumber.
  const std::string both =
      SelfSignedPem({{"organizationIdentifier", "NTRDK-29189846"}, {"serialNumber", "958935420"}});
  EXPECT_EQ(OrgKeyFromCertificatePem(both).value_or(""), "DK29189846");
}

TEST_F(DevPkiTest, SecondCallKeepsEveryFile) {
  const std::map<fs::path, std::string> before = SnapshotFiles(dir_);
  ASSERT_FALSE(before.empty());
  absl::Status status = EnsureDevPki(dir_, kOrganisations);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(SnapshotFiles(dir_), before);

  // A new organisation gets a certificate from the same CA; the others stay as they were.
  status = EnsureDevPki(dir_, {{"NO974760673", "Brønnøysundregistrene"}});
  ASSERT_TRUE(status.ok()) << status;
  std::map<fs::path, std::string> after = SnapshotFiles(dir_);
  for (const auto& [path, content] : before) EXPECT_EQ(after[path], content) << path;
  X509Ptr ca = LoadCert(dir_ / "ca.pem");
  X509Ptr added = LoadCert(DevClientDir(dir_, "NO974760673") / "client.pem");
  EXPECT_EQ(Verify(ca.get(), added.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(DevPkiTest, TheCaKeyIsNotOpenedOnceEveryCertificateExists) {
  // Without the CA key, nothing can be issued; with every certificate present, nothing needs
  // to be, and the key is neither read nor made again.
  const fs::path ca_key = DevCaDir(dir_) / "ca.key";
  fs::remove(ca_key);
  const std::map<fs::path, std::string> before = SnapshotFiles(dir_);
  absl::Status status = EnsureDevPki(dir_, kOrganisations);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_FALSE(fs::exists(ca_key)) << "no new CA in place of the missing one";
  EXPECT_EQ(SnapshotFiles(dir_), before);

  // A certificate that must be issued now names the problem instead of making a new CA.
  status = EnsureDevPki(dir_, {{"NO974760673", "Brønnøysundregistrene"}});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_FALSE(fs::exists(ca_key));
}

TEST_F(DevPkiTest, ACaKeyInTheServedDirectoryIsMovedOut) {
  // The layout of earlier releases: the CA key among the served files.
  const fs::path ca_dir = DevCaDir(dir_);
  const std::string key = ReadAll(ca_dir / "ca.key");
  fs::rename(ca_dir / "ca.key", dir_ / "ca.key");
  fs::remove_all(ca_dir);
  absl::Status status = EnsureDevPki(dir_, kOrganisations);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_FALSE(fs::exists(dir_ / "ca.key"));
  EXPECT_EQ(ReadAll(ca_dir / "ca.key"), key);
  EXPECT_EQ(ReadAll(ca_dir / "ca.pem"), ReadAll(dir_ / "ca.pem"));
  // And it still issues from the same CA.
  status = EnsureDevPki(dir_, {{"NO974760673", "Brønnøysundregistrene"}});
  ASSERT_TRUE(status.ok()) << status;
  X509Ptr ca = LoadCert(dir_ / "ca.pem");
  X509Ptr added = LoadCert(DevClientDir(dir_, "NO974760673") / "client.pem");
  EXPECT_EQ(Verify(ca.get(), added.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(DevPkiTest, HalfWrittenPairIsReportedNotReplaced) {
  fs::remove(dir_ / "server.pem");
  absl::Status status = EnsureDevPki(dir_, kOrganisations);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("server.key"), std::string::npos) << status;
}

TEST(DevPkiValidationTest, InvalidOrganisationIsRejectedBeforeWriting) {
  const fs::path root = MakeTempDir();
  const fs::path dir = root / "pki";
  for (const DevOrganisation& org : std::vector<DevOrganisation>{
           {"NO958935421", "wrong check digit"},
           {"DK29189847", "wrong check digit"},
           {"SE5560000000", "not Nordic enough"},
           {"NO../../etc", "path"},
           {"NO958935420", ""},
       }) {
    absl::Status status = EnsureDevPki(dir, {org});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << org.org_key << " " << status;
    EXPECT_FALSE(fs::exists(dir)) << org.org_key;
  }
  std::error_code ec;
  fs::remove_all(root, ec);
}

// Drives a client and a server SSL object, connected by a BIO pair, through the handshake.
bool Handshake(SSL* client, SSL* server) {
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; round < 100 && !(client_done && server_done); ++round) {
    if (!client_done) {
      const int rc = SSL_do_handshake(client);
      if (rc == 1) {
        client_done = true;
      } else if (SSL_get_error(client, rc) != SSL_ERROR_WANT_READ) {
        return false;
      }
    }
    if (!server_done) {
      const int rc = SSL_do_handshake(server);
      if (rc == 1) {
        server_done = true;
      } else if (SSL_get_error(server, rc) != SSL_ERROR_WANT_READ) {
        return false;
      }
    }
  }
  return client_done && server_done;
}

TEST_F(DevPkiTest, MutualTlsHandshakeIdentifiesTheClient) {
  const fs::path client_dir = DevClientDir(dir_, kOslo);
  SslCtxPtr server_ctx(SSL_CTX_new(TLS_server_method()));
  ASSERT_NE(server_ctx, nullptr);
  ASSERT_EQ(SSL_CTX_use_certificate_chain_file(server_ctx.get(), (dir_ / "server.pem").c_str()), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey_file(server_ctx.get(), (dir_ / "server.key").c_str(),
                                        SSL_FILETYPE_PEM),
            1);
  ASSERT_EQ(SSL_CTX_load_verify_locations(server_ctx.get(), (dir_ / "ca.pem").c_str(), nullptr), 1);
  SSL_CTX_set_verify(server_ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);

  SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
  ASSERT_NE(client_ctx, nullptr);
  ASSERT_EQ(
      SSL_CTX_use_certificate_chain_file(client_ctx.get(), (client_dir / "client.pem").c_str()), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey_file(client_ctx.get(), (client_dir / "client.key").c_str(),
                                        SSL_FILETYPE_PEM),
            1);
  ASSERT_EQ(
      SSL_CTX_load_verify_locations(client_ctx.get(), (client_dir / "ca.pem").c_str(), nullptr), 1);
  SSL_CTX_set_verify(client_ctx.get(), SSL_VERIFY_PEER, nullptr);

  SslPtr server(SSL_new(server_ctx.get()));
  SslPtr client(SSL_new(client_ctx.get()));
  ASSERT_TRUE(server && client);
  ASSERT_EQ(SSL_set1_host(client.get(), "localhost"), 1);
  ASSERT_EQ(SSL_set_tlsext_host_name(client.get(), "localhost"), 1);
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  ASSERT_EQ(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
  SSL_set_bio(client.get(), client_bio, client_bio);
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());

  ASSERT_TRUE(Handshake(client.get(), server.get())) << ERR_error_string(ERR_get_error(), nullptr);
  EXPECT_EQ(SSL_get_verify_result(client.get()), X509_V_OK);
  EXPECT_EQ(SSL_get_verify_result(server.get()), X509_V_OK);

  X509Ptr peer(SSL_get1_peer_certificate(server.get()));
  ASSERT_NE(peer, nullptr);
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_X509(bio.get(), peer.get()), 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  absl::StatusOr<std::string> org_key =
      OrgKeyFromCertificatePem(std::string(data, static_cast<size_t>(size)));
  ASSERT_TRUE(org_key.ok()) << org_key.status();
  EXPECT_EQ(*org_key, kOslo);
}

// Issues a certificate with the dev CA through the openssl command line: the subject and
// subjectAltName as given. Returns the PEM, or "" (with a test failure) if openssl fails.
std::string IssueWithOpenssl(const fs::path& pki, const fs::path& work, const std::string& subject,
                             const std::string& san) {
  const fs::path ca = DevCaDir(pki);
  const std::string key = (work / "k.pem").string(), csr = (work / "r.csr").string(),
                    cert = (work / "c.pem").string(), ext = (work / "ext.cnf").string();
  std::ofstream(ext) << "subjectAltName=" << san << "\nextendedKeyUsage=clientAuth\n";
  const std::string command =
      "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + key +
      " -out " + csr + " -subj '" + subject + "' 2>/dev/null && openssl x509 -req -in " + csr +
      " -CA " + (ca / "ca.pem").string() + " -CAkey " + (ca / "ca.key").string() +
      " -days 1 -extfile " + ext + " -out " + cert + " 2>/dev/null";
  if (std::system(command.c_str()) != 0) {
    ADD_FAILURE() << "openssl failed: " << command;
    return "";
  }
  return ReadAll(cert);
}

TEST_F(DevPkiTest, ComponentCertificatesNameTheirComponentAndNoOrganisation) {
  ASSERT_TRUE(EnsureDevPki(dir_, kOrganisations, {"ledger", "router"}).ok());
  const std::string router = ReadAll(DevComponentDir(dir_, "router") / "client.pem");
  absl::StatusOr<CertificateIdentity> identity = IdentityFromCertificatePem(router);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->kind, CertificateIdentity::Kind::kComponent);
  EXPECT_EQ(identity->name, "router");
  // Never an organisation, whatever the organisation reader is asked.
  EXPECT_EQ(OrgKeyFromCertificatePem(router, true).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ReadAll(DevComponentDir(dir_, "router") / "ca.pem"), ReadAll(dir_ / "ca.pem"));
  EXPECT_EQ(ModeOf(DevComponentDir(dir_, "router") / "client.key"), 0600u);

  absl::StatusOr<CertificateIdentity> oslo =
      IdentityFromCertificatePem(ReadAll(DevClientDir(dir_, kOslo) / "client.pem"));
  ASSERT_TRUE(oslo.ok()) << oslo.status();
  EXPECT_EQ(oslo->kind, CertificateIdentity::Kind::kOrganisation);
  EXPECT_EQ(oslo->name, "NO958935420");
  EXPECT_EQ(IdentityFromCertificatePem(ReadAll(dir_ / "server.pem")).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(EnsureDevPki(dir_, {}, {"Router"}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EnsureDevPki(dir_, {}, {"../x"}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DevPkiTest, ACertificateNamingBothAComponentAndAnOrganisationIsNeither) {
  const std::string both =
      IssueWithOpenssl(dir_, root_, "/CN=mixed/organizationIdentifier=NTRNO-958935420",
                       "URI:urn:utpost:component:router");
  ASSERT_FALSE(both.empty());
  EXPECT_EQ(IdentityFromCertificatePem(both).status().code(), absl::StatusCode::kUnauthenticated);

  const std::string two = IssueWithOpenssl(
      dir_, root_, "/CN=two", "URI:urn:utpost:component:router,URI:urn:utpost:component:ledger");
  EXPECT_EQ(IdentityFromCertificatePem(two).status().code(), absl::StatusCode::kUnauthenticated);

  const std::string bad_name =
      IssueWithOpenssl(dir_, root_, "/CN=bad", "URI:urn:utpost:component:Router/../x");
  EXPECT_EQ(IdentityFromCertificatePem(bad_name).status().code(),
            absl::StatusCode::kUnauthenticated);

  // Another URI does not make a component: the organisation is read as before.
  const std::string other_uri =
      IssueWithOpenssl(dir_, root_, "/CN=org/organizationIdentifier=NTRNO-958935420",
                       "URI:https://example.org/component/router");
  absl::StatusOr<CertificateIdentity> org = IdentityFromCertificatePem(other_uri);
  ASSERT_TRUE(org.ok()) << org.status();
  EXPECT_EQ(org->kind, CertificateIdentity::Kind::kOrganisation);
  // A serialNumber is an organisation only when accepted; then it too excludes a component.
  const std::string serial = IssueWithOpenssl(dir_, root_, "/CN=s/serialNumber=958935420",
                                              "URI:urn:utpost:component:router");
  EXPECT_TRUE(IdentityFromCertificatePem(serial, false).ok());
  EXPECT_EQ(IdentityFromCertificatePem(serial, true).status().code(),
            absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace utpost::crypto
