#include "crypto/cms.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <climits>
#include <mutex>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/dev_provider_cert.h"
#include "crypto/digest.h"
#include "crypto/internal.h"

namespace utpost::crypto {
namespace {

using internal::DrainOpenSslErrors;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct BioMethodFree {
  void operator()(BIO_METHOD* m) const { BIO_meth_free(m); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct X509StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CmsFree {
  void operator()(CMS_ContentInfo* c) const { CMS_ContentInfo_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using BioMethodPtr = std::unique_ptr<BIO_METHOD, BioMethodFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using CmsPtr = std::unique_ptr<CMS_ContentInfo, CmsFree>;

// Content is bytes, never text: no MIME header, no CRLF translation.
constexpr unsigned int kFlags = CMS_BINARY;

int NoPassphrase(char*, int, int, void*) { return 0; }

absl::Status OpenSslError(std::string_view what) {
  return absl::InternalError(absl::StrCat(common::Av(what), ": ", DrainOpenSslErrors()));
}

// The content cipher, fetched once for the process (a fetch per envelope looks it up in
// OpenSSL's method store under its global locks). Immutable, shared by threads.
const EVP_CIPHER* ContentCipher() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

absl::StatusOr<BioPtr> MemBio(std::string_view bytes) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("input is larger than 2 GiB");
  }
  BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  if (bio == nullptr) return OpenSslError("allocating a BIO");
  return bio;
}

// Parsed OpenSSL objects by a key, for objects that cost more to parse than to use. Entries
// never go stale (each depends on its key alone); the cache is emptied when it reaches its
// size. The objects are reference-counted and may be shared by threads once parsed.
template <typename Ptr, int (*UpRef)(typename Ptr::element_type*)>
class ParsedCache {
 public:
  using Object = typename Ptr::element_type;
  explicit ParsedCache(size_t max_entries) : max_entries_(max_entries) {}

  // A new reference to the object kept under `key`, or null.
  Ptr Find(std::string_view key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(common::Av(key));
    if (it == entries_.end()) return nullptr;
    UpRef(it->second.get());
    return Ptr(it->second.get());
  }

  void Add(std::string_view key, Object* object) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.size() >= max_entries_) entries_.clear();
    if (entries_.contains(common::Av(key))) return;
    UpRef(object);
    entries_.emplace(std::string(key), Ptr(object));
  }

 private:
  const size_t max_entries_;
  std::mutex mutex_;
  absl::flat_hash_map<std::string, Ptr> entries_;
};

// Recipient certificates already checked and parsed, by their PEM. A municipality's
// certificate receives every submission to it, and checking and parsing it (OpenSSL's decoders
// for its public key) cost more than the CMS encryption itself.
ParsedCache<X509Ptr, X509_up_ref>& Recipients() {
  static auto* const cache = new ParsedCache<X509Ptr, X509_up_ref>(1024);
  return *cache;
}

// The parsed private key of `pem`, or null if it is not a PEM private key. Keys are kept by
// the SHA-256 of their PEM (the PEM itself is not kept): a provider opens every envelope made
// for it with one key, and OpenSSL 3's decoders for a PEM key cost more than opening a 64 KiB
// envelope.
PkeyPtr ParsedPrivateKey(std::string_view pem) {
  static auto* const keys = new ParsedCache<PkeyPtr, EVP_PKEY_up_ref>(64);
  Sha256 digest;
  digest.Update(pem);
  const std::string id = digest.Finish();
  if (PkeyPtr key = keys->Find(id)) return key;
  absl::StatusOr<BioPtr> bio = MemBio(pem);
  if (!bio.ok()) return nullptr;
  PkeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  keys->Add(id, key.get());
  return key;
}

absl::StatusOr<X509StackPtr> RecipientStack(std::string_view cert_pem) {
  X509Ptr cert = Recipients().Find(cert_pem);
  if (cert == nullptr) {
    if (absl::Status usable = CheckEncryptionCertificatePem(cert_pem); !usable.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the recipient certificate ", usable.message()));
    }
    UTPOST_ASSIGN_OR_RETURN(BioPtr bio, MemBio(cert_pem));
    cert.reset(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
    if (cert == nullptr) return OpenSslError("reading the recipient certificate");
    Recipients().Add(cert_pem, cert.get());
  }
  X509StackPtr stack(sk_X509_new_null());
  if (stack == nullptr || sk_X509_push(stack.get(), cert.get()) <= 0) {
    return OpenSslError("allocating a certificate stack");
  }
  cert.release();  // The stack owns it now.
  return stack;
}

// A BIO that hands what is written to it to a CmsSink; the first sink error is kept, and
// every later write fails.
struct SinkState {
  const CmsSink* sink = nullptr;
  absl::Status status;
};

int SinkWrite(BIO* bio, const char* data, size_t size, size_t* written) {
  auto* state = static_cast<SinkState*>(BIO_get_data(bio));
  if (state == nullptr || !state->status.ok()) return 0;
  if (size > 0) {
    state->status = (*state->sink)(std::string_view(data, size));
    if (!state->status.ok()) return 0;
  }
  *written = size;
  return 1;
}

long SinkCtrl(BIO*, int cmd, long, void*) {
  // BIO_f_asn1 and the cipher filter flush their downstream BIO when they finish.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int SinkCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

// The method and the state outlive the BIO made from them (the caller keeps all three).
absl::StatusOr<BioMethodPtr> NewSinkMethod() {
  BioMethodPtr method(BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "utpost CMS sink"));
  if (method == nullptr || BIO_meth_set_write_ex(method.get(), SinkWrite) != 1 ||
      BIO_meth_set_ctrl(method.get(), SinkCtrl) != 1 ||
      BIO_meth_set_create(method.get(), SinkCreate) != 1) {
    return OpenSslError("making a sink BIO method");
  }
  return method;
}

absl::StatusOr<BioPtr> NewSinkBio(BIO_METHOD* method, SinkState* state) {
  BioPtr bio(BIO_new(method));
  if (bio == nullptr) return OpenSslError("allocating a sink BIO");
  BIO_set_data(bio.get(), state);
  return bio;
}

}  // namespace

absl::StatusOr<std::string> CmsEncrypt(std::string_view recipient_cert_pem,
                                       std::string_view plaintext) {
  UTPOST_ASSIGN_OR_RETURN(X509StackPtr recipients, RecipientStack(recipient_cert_pem));
  UTPOST_ASSIGN_OR_RETURN(BioPtr in, MemBio(plaintext));
  CmsPtr cms(CMS_encrypt(recipients.get(), in.get(), ContentCipher(), kFlags));
  if (cms == nullptr) return OpenSslError("encrypting a CMS envelope");
  const int size = i2d_CMS_ContentInfo(cms.get(), nullptr);
  if (size <= 0) return OpenSslError("encoding a CMS envelope");
  std::string der(static_cast<size_t>(size), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_CMS_ContentInfo(cms.get(), &out) != size) {
    return OpenSslError("encoding a CMS envelope");
  }
  return der;
}

struct CmsEnvelopeWriter::State {
  CmsSink sink;
  SinkState sink_state;
  BioMethodPtr method;
  BioPtr out;            // the sink BIO, end of the chain
  CmsPtr cms;            // referenced by the chain; freed after it
  BIO* chain = nullptr;  // BIO_new_CMS's head: cipher filter -> ... -> asn1 -> out
  bool done = false;

  // Frees the filters BIO_new_CMS put in front of `out`, keeping `out` itself.
  void FreeChain() {
    while (chain != nullptr && chain != out.get()) {
      BIO* next = BIO_pop(chain);
      BIO_free(chain);
      chain = next;
    }
    chain = nullptr;
  }
  ~State() { FreeChain(); }
};

CmsEnvelopeWriter::CmsEnvelopeWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

CmsEnvelopeWriter::~CmsEnvelopeWriter() = default;

absl::StatusOr<std::unique_ptr<CmsEnvelopeWriter>> CmsEnvelopeWriter::Create(
    std::string_view recipient_cert_pem, CmsSink sink) {
  UTPOST_ASSIGN_OR_RETURN(X509StackPtr recipients, RecipientStack(recipient_cert_pem));
  auto state = std::make_unique<State>();
  state->sink = std::move(sink);
  state->sink_state.sink = &state->sink;
  UTPOST_ASSIGN_OR_RETURN(state->method, NewSinkMethod());
  UTPOST_ASSIGN_OR_RETURN(state->out, NewSinkBio(state->method.get(), &state->sink_state));
  // CMS_STREAM: no content yet; BIO_new_CMS encrypts what is written to its chain.
  state->cms.reset(CMS_encrypt(recipients.get(), nullptr, ContentCipher(), kFlags | CMS_STREAM));
  if (state->cms == nullptr) return OpenSslError("starting a CMS envelope");
  state->chain = BIO_new_CMS(state->out.get(), state->cms.get());
  if (state->chain == nullptr) {
    if (!state->sink_state.status.ok()) return state->sink_state.status;
    return OpenSslError("starting a CMS stream");
  }
  return std::unique_ptr<CmsEnvelopeWriter>(new CmsEnvelopeWriter(std::move(state)));
}

absl::Status CmsEnvelopeWriter::Write(std::string_view plaintext_chunk) {
  State& s = *state_;
  if (s.done) return absl::FailedPreconditionError("the CMS envelope is finished or failed");
  while (!plaintext_chunk.empty()) {
    size_t written = 0;
    if (BIO_write_ex(s.chain, plaintext_chunk.data(), plaintext_chunk.size(), &written) != 1 ||
        written == 0) {
      s.done = true;
      if (!s.sink_state.status.ok()) return s.sink_state.status;
      return OpenSslError("encrypting into a CMS envelope");
    }
    plaintext_chunk.remove_prefix(written);
  }
  return absl::OkStatus();
}

absl::Status CmsEnvelopeWriter::Finish() {
  State& s = *state_;
  if (s.done) return absl::FailedPreconditionError("the CMS envelope is finished or failed");
  s.done = true;
  // The flush runs the GCM final step, writes the tag into the structure (CMS_dataFinal)
  // and closes the indefinite lengths.
  const int flushed = BIO_flush(s.chain);
  if (!s.sink_state.status.ok()) return s.sink_state.status;
  if (flushed != 1) return OpenSslError("finishing a CMS envelope");
  s.FreeChain();
  return absl::OkStatus();
}

absl::Status CmsDecryptTo(std::string_view key_pem, std::string_view der, const CmsSink& sink) {
  PkeyPtr key = ParsedPrivateKey(key_pem);
  if (key == nullptr) return absl::InvalidArgumentError("the key is not a PEM private key");
  UTPOST_ASSIGN_OR_RETURN(BioPtr in, MemBio(der));
  CmsPtr cms(d2i_CMS_bio(in.get(), nullptr));
  if (cms == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("is not a CMS structure");
  }
  const int type = OBJ_obj2nid(CMS_get0_type(cms.get()));
  if (type != NID_id_smime_ct_authEnvelopedData && type != NID_pkcs7_enveloped) {
    return absl::InvalidArgumentError("is not a CMS enveloped-data structure");
  }
  if (BIO_pending(in.get()) != 0) {
    return absl::InvalidArgumentError("has bytes after the CMS structure");
  }
  // With no certificate OpenSSL tries the key on every recipient; for a key-transport
  // recipient a wrong key then yields a random content key, which GCM's tag refuses.
  if (CMS_decrypt_set1_pkey(cms.get(), key.get(), nullptr) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("was not made for this key");
  }
  UTPOST_ASSIGN_OR_RETURN(BioMethodPtr method, NewSinkMethod());
  SinkState state;
  state.sink = &sink;
  UTPOST_ASSIGN_OR_RETURN(BioPtr out, NewSinkBio(method.get(), &state));
  // The key is set, so CMS_decrypt only decrypts the content and checks the tag.
  if (CMS_decrypt(cms.get(), nullptr, nullptr, nullptr, out.get(), kFlags) != 1) {
    if (!state.status.ok()) return state.status;
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "does not decrypt with this key (wrong key, or changed or cut-off content)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CmsDecrypt(std::string_view key_pem, std::string_view der) {
  std::string plaintext;
  const absl::Status status = CmsDecryptTo(key_pem, der, [&](std::string_view bytes) {
    plaintext.append(bytes);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return plaintext;
}

}  // namespace utpost::crypto
