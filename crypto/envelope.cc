#include "crypto/envelope.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "crypto/internal.h"
#include "utpost/storage/v1/records.pb.h"

namespace utpost::crypto {
namespace {

using internal::DrainOpenSslErrors;

constexpr size_t kKeySize = 32;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
// The EVP update calls take an int length; larger inputs go through in slices of this size.
// A multiple of the AES block size keeps every slice but the last whole-block.
constexpr size_t kMaxSlice = size_t{1} << 30;

// Includes the terminating NUL, which separates it from the letter id.
constexpr std::string_view kDocumentAadPrefix{"utpost.v1.document", sizeof("utpost.v1.document")};

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

[[nodiscard]] absl::Status OpenSslInternal(absl::string_view what) {
  return absl::InternalError(absl::StrCat("AES-256-GCM: ", what, ": ", DrainOpenSslErrors()));
}

struct GcmContext {
  const EVP_CIPHER* cipher = nullptr;  // shared, never freed
  CipherCtxPtr ctx;
};

// Fetched once for the process: a fetch per call looks the algorithm up in OpenSSL's method
// store under its global locks, which cost more than encrypting a small document. A fetched
// cipher is immutable and may be shared by threads.
const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

[[nodiscard]] absl::StatusOr<GcmContext> NewGcmContext() {
  GcmContext gcm;
  gcm.cipher = Aes256Gcm();
  if (gcm.cipher == nullptr) return OpenSslInternal("fetching the cipher");
  gcm.ctx.reset(EVP_CIPHER_CTX_new());
  if (gcm.ctx == nullptr) return OpenSslInternal("allocating a cipher context");
  return gcm;
}

// Feeds `aad` to an initialised context.
[[nodiscard]] bool UpdateAad(EVP_CIPHER_CTX* ctx, std::string_view aad, bool encrypt) {
  while (!aad.empty()) {
    const size_t n = std::min(aad.size(), kMaxSlice);
    int out_len = 0;
    const auto* in = reinterpret_cast<const unsigned char*>(aad.data());
    const int ok = encrypt ? EVP_EncryptUpdate(ctx, nullptr, &out_len, in, static_cast<int>(n))
                           : EVP_DecryptUpdate(ctx, nullptr, &out_len, in, static_cast<int>(n));
    if (ok != 1) return false;
    aad.remove_prefix(n);
  }
  return true;
}

// Runs `in` through an initialised context into `out` (which has room for in.size() bytes:
// GCM is a stream mode, so output length equals input length).
[[nodiscard]] bool UpdateData(EVP_CIPHER_CTX* ctx, std::string_view in, unsigned char* out,
                              bool encrypt) {
  while (!in.empty()) {
    const size_t n = std::min(in.size(), kMaxSlice);
    int out_len = 0;
    const auto* src = reinterpret_cast<const unsigned char*>(in.data());
    const int ok = encrypt ? EVP_EncryptUpdate(ctx, out, &out_len, src, static_cast<int>(n))
                           : EVP_DecryptUpdate(ctx, out, &out_len, src, static_cast<int>(n));
    if (ok != 1 || static_cast<size_t>(out_len) != n) return false;
    in.remove_prefix(n);
    out += n;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> AesGcmSeal(const SecretBytes& key, std::string_view plaintext,
                                       std::string_view aad) {
  if (key.size() != kKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-256-GCM needs a 32-byte key, got ", key.size(), " bytes"));
  }
  UTPOST_ASSIGN_OR_RETURN(GcmContext gcm, NewGcmContext());

  std::string out;
  out.resize(kNonceSize + plaintext.size() + kTagSize);
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  unsigned char* body = nonce + kNonceSize;
  unsigned char* tag = body + plaintext.size();
  {
    // A fresh random nonce per seal; with a fresh data key per document as well, a nonce is
    // never reused under one key.
    const SecretBytes random_nonce = SecretBytes::Random(kNonceSize);
    std::memcpy(nonce, random_nonce.data(), kNonceSize);
  }

  // AES-256-GCM's default IV length is 12 bytes, so no IV-length parameter is needed.
  if (EVP_EncryptInit_ex2(gcm.ctx.get(), gcm.cipher, key.data(), nonce, nullptr) != 1) {
    return OpenSslInternal("initialising encryption");
  }
  if (!UpdateAad(gcm.ctx.get(), aad, /*encrypt=*/true)) {
    return OpenSslInternal("authenticating the aad");
  }
  if (!UpdateData(gcm.ctx.get(), plaintext, body, /*encrypt=*/true)) {
    return OpenSslInternal("encrypting");
  }
  int final_len = 0;
  if (EVP_EncryptFinal_ex(gcm.ctx.get(), tag, &final_len) != 1 || final_len != 0) {
    return OpenSslInternal("finishing encryption");
  }
  if (EVP_CIPHER_CTX_ctrl(gcm.ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize), tag) !=
      1) {
    return OpenSslInternal("reading the tag");
  }
  return out;
}

absl::StatusOr<std::string> AesGcmOpen(const SecretBytes& key, std::string_view sealed,
                                       std::string_view aad) {
  if (key.size() != kKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-256-GCM needs a 32-byte key, got ", key.size(), " bytes"));
  }
  if (sealed.size() < kNonceSize + kTagSize) {
    return absl::DataLossError(
        absl::StrCat("sealed data is ", sealed.size(), " bytes, shorter than a nonce and a tag"));
  }
  UTPOST_ASSIGN_OR_RETURN(GcmContext gcm, NewGcmContext());

  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  const std::string_view body = sealed.substr(kNonceSize, sealed.size() - kNonceSize - kTagSize);
  // EVP_CTRL_AEAD_SET_TAG takes a non-const pointer but only reads from it.
  unsigned char tag[kTagSize];
  std::memcpy(tag, sealed.data() + sealed.size() - kTagSize, kTagSize);

  if (EVP_DecryptInit_ex2(gcm.ctx.get(), gcm.cipher, key.data(), nonce, nullptr) != 1) {
    return OpenSslInternal("initialising decryption");
  }
  if (!UpdateAad(gcm.ctx.get(), aad, /*encrypt=*/false)) {
    return OpenSslInternal("authenticating the aad");
  }
  std::string plaintext;
  plaintext.resize(body.size());
  if (!UpdateData(gcm.ctx.get(), body, reinterpret_cast<unsigned char*>(plaintext.data()),
                  /*encrypt=*/false)) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return OpenSslInternal("decrypting");
  }
  if (EVP_CIPHER_CTX_ctrl(gcm.ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagSize), tag) !=
      1) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return OpenSslInternal("setting the tag");
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(gcm.ctx.get(), nullptr, &final_len) != 1) {
    // Unauthenticated plaintext must not outlive the failed check.
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    ERR_clear_error();
    return absl::DataLossError("AES-256-GCM: the data or its aad does not authenticate");
  }
  return plaintext;
}

std::string DocumentAad(std::string_view letter_id, uint32_t position) {
  std::string aad;
  aad.reserve(kDocumentAadPrefix.size() + letter_id.size() + 1 + 4);
  aad.append(kDocumentAadPrefix);
  aad.append(letter_id);
  aad.push_back('\0');
  aad.push_back(static_cast<char>((position >> 24) & 0xff));
  aad.push_back(static_cast<char>((position >> 16) & 0xff));
  aad.push_back(static_cast<char>((position >> 8) & 0xff));
  aad.push_back(static_cast<char>(position & 0xff));
  return aad;
}

std::string EventDetailAad(std::string_view letter_id, uint32_t index) {
  std::string aad("utpost.v1.event-detail", sizeof("utpost.v1.event-detail"));  // with NUL
  aad.append(letter_id);
  aad.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8) {
    aad.push_back(static_cast<char>((index >> shift) & 0xff));
  }
  return aad;
}

std::string KeyCheckValue(const SecretBytes& key) {
  static constexpr std::string_view kLabel = "utpost.v1.kek-check-value";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // HMAC-SHA256 of a constant cannot fail short of a broken OpenSSL, and a wrong check value
  // would make start-up refuse a good key (or accept a bad one): stop loudly instead.
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(kLabel.data()), kLabel.size(), mac,
           &mac_len) == nullptr ||
      mac_len != 32) {
    std::fprintf(stderr, "utpost: FATAL: HMAC-SHA256 failed: %s\n", DrainOpenSslErrors().c_str());
    std::abort();
  }
  std::string check(reinterpret_cast<const char*>(mac), 16);
  OPENSSL_cleanse(mac, sizeof(mac));
  return check;
}

std::string SubmissionPersonalAad(std::string_view submission_id) {
  std::string aad("utpost.v1.submission-personal", sizeof("utpost.v1.submission-personal"));
  aad.append(submission_id);
  return aad;
}

std::string LetterContentAad(std::string_view letter_id) {
  std::string aad("utpost.v1.letter-content", sizeof("utpost.v1.letter-content"));  // with NUL
  aad.append(letter_id);
  return aad;
}

std::string EncryptedDocument::Serialize() const {
  utpost::storage::v1::EncryptedDocument record;
  record.set_kek_id(kek_id_);
  record.set_wrapped_key(wrapped_key_);
  record.set_ciphertext(ciphertext_);
  return record.SerializeAsString();
}

std::string EncryptedDocument::SerializeKey() const {
  utpost::storage::v1::DocumentKeyRecord record;
  record.set_kek_id(kek_id_);
  record.set_wrapped_key(wrapped_key_);
  return record.SerializeAsString();
}

absl::StatusOr<EncryptedDocument> EncryptedDocument::FromParts(std::string_view stored_key,
                                                               std::string ciphertext) {
  utpost::storage::v1::DocumentKeyRecord record;
  if (stored_key.size() > static_cast<size_t>(INT_MAX) ||
      !record.ParseFromArray(stored_key.data(), static_cast<int>(stored_key.size()))) {
    return absl::DataLossError("stored document key does not parse");
  }
  if (record.kek_id().empty()) {
    return absl::DataLossError("stored document key has no key-encryption key id");
  }
  if (record.wrapped_key().empty()) {
    return absl::DataLossError("stored document key has no wrapped data key");
  }
  if (ciphertext.size() < kNonceSize + kTagSize) {
    return absl::DataLossError(absl::StrCat("stored document ciphertext is ", ciphertext.size(),
                                            " bytes, shorter than a nonce and a tag"));
  }
  EncryptedDocument doc;
  doc.kek_id_ = std::move(*record.mutable_kek_id());
  doc.wrapped_key_ = std::move(*record.mutable_wrapped_key());
  doc.ciphertext_ = std::move(ciphertext);
  return doc;
}

absl::StatusOr<EncryptedDocument> EncryptedDocument::Parse(std::string_view stored) {
  if (stored.size() > static_cast<size_t>(INT_MAX)) {
    return absl::DataLossError("stored encrypted document is larger than 2 GiB");
  }
  utpost::storage::v1::EncryptedDocument record;
  if (!record.ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
    return absl::DataLossError("stored encrypted document does not parse");
  }
  if (record.kek_id().empty()) {
    return absl::DataLossError("stored encrypted document has no key-encryption key id");
  }
  if (record.wrapped_key().empty()) {
    return absl::DataLossError("stored encrypted document has no wrapped data key");
  }
  if (record.ciphertext().size() < kNonceSize + kTagSize) {
    return absl::DataLossError(absl::StrCat("stored encrypted document's ciphertext is ",
                                            record.ciphertext().size(),
                                            " bytes, shorter than a nonce and a tag"));
  }
  EncryptedDocument doc;
  doc.kek_id_ = std::move(*record.mutable_kek_id());
  doc.wrapped_key_ = std::move(*record.mutable_wrapped_key());
  doc.ciphertext_ = std::move(*record.mutable_ciphertext());
  return doc;
}

absl::StatusOr<EncryptedDocument> Envelope::Seal(std::string_view plaintext,
                                                 std::string_view aad) const {
  const SecretBytes data_key = SecretBytes::Random(kKeySize);
  // Wrap first: a key store that is down fails the call before any bulk encryption.
  UTPOST_ASSIGN_OR_RETURN(WrappedKey wrapped, keys_.Wrap(data_key, aad));
  UTPOST_ASSIGN_OR_RETURN(std::string ciphertext, AesGcmSeal(data_key, plaintext, aad));
  EncryptedDocument doc;
  doc.kek_id_ = std::move(wrapped.kek_id);
  doc.wrapped_key_ = std::move(wrapped.wrapped);
  doc.ciphertext_ = std::move(ciphertext);
  return doc;
}

absl::StatusOr<std::string> Envelope::Open(const EncryptedDocument& doc,
                                           std::string_view aad) const {
  if (doc.ciphertext_.size() < kNonceSize + kTagSize) {
    return absl::DataLossError(absl::StrCat("document ciphertext is ", doc.ciphertext_.size(),
                                            " bytes, shorter than a nonce and a tag"));
  }
  UTPOST_ASSIGN_OR_RETURN(SecretBytes data_key,
                          keys_.Unwrap(WrappedKey{doc.kek_id_, doc.wrapped_key_}, aad));
  if (data_key.size() != kKeySize) {
    return absl::DataLossError(
        absl::StrCat("unwrapped data key is ", data_key.size(), " bytes, not 32"));
  }
  return AesGcmOpen(data_key, doc.ciphertext_, aad);
}

}  // namespace utpost::crypto
