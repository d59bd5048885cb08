// CMS (RFC 5652) envelopes for the receivers of letters: mailbox and print providers.
//
// Format: DER ContentInfo holding AuthEnvelopedData (RFC 5083) with AES-256-GCM content
// encryption (RFC 5084), one recipient: the provider's certificate. Key management follows
// the certificate's key: RSA (>= 2048 bits) by key transport (ktri, RSAES-PKCS1-v1_5, as
// OpenSSL's default), EC by ECDH key agreement (kari, dhSinglePass-stdDH-sha1kdf with
// AES-256 key wrap, OpenSSL's default for the content cipher).
// Why AuthEnvelopedData and not EnvelopedData with AES-CBC: the receiver learns when a byte
// was changed or cut off (the GCM tag covers all of the content), a wrong key fails instead
// of yielding garbage, and the OpenSSL 3.0 of Debian 12 opens it:
//   openssl cms -decrypt -inform DER -inkey key.pem -in envelope.der -out document
// exits non-zero (while still writing the unauthenticated bytes) when the tag does not match,
// so a receiver must check the exit status.
//
// Thread safety: the free functions are thread-safe; a CmsEnvelopeWriter is used by one
// thread at a time.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace utpost::crypto {

// Receives the next bytes of an envelope, in order. A non-OK status stops the writer, which
// returns that status.
using CmsSink = std::function<absl::Status(std::string_view der_bytes)>;

// Encrypts `plaintext` to the one certificate in `recipient_cert_pem` (RSA >= 2048 bits or
// EC). INVALID_ARGUMENT if the certificate is not usable (see CheckEncryptionCertificatePem),
// INTERNAL if OpenSSL fails. The whole envelope is built in memory: for documents of more
// than a few MiB use CmsEnvelopeWriter.
[[nodiscard]] absl::StatusOr<std::string> CmsEncrypt(std::string_view recipient_cert_pem,
                                                     std::string_view plaintext);

// Builds the same envelope as CmsEncrypt from plaintext given in chunks, handing DER bytes
// to the sink as they are made, so memory stays bounded (a few KiB of buffers) whatever the
// size of the document. The DER uses indefinite lengths (BER streaming form, as
// `openssl cms -encrypt -stream` makes); receivers parse it like the definite form.
// Write and Finish return the sink's error or INTERNAL; after an error, or after Finish,
// the writer accepts nothing more (FAILED_PRECONDITION). Destroying a writer that was not
// finished leaves the sink with a truncated envelope, which does not decrypt.
class CmsEnvelopeWriter {
 public:
  // INVALID_ARGUMENT if the certificate is not usable; INTERNAL if OpenSSL fails. The sink
  // may already receive the first bytes (the recipient info) here.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<CmsEnvelopeWriter>> Create(
      std::string_view recipient_cert_pem, CmsSink sink);
  ~CmsEnvelopeWriter();
  CmsEnvelopeWriter(const CmsEnvelopeWriter&) = delete;
  CmsEnvelopeWriter& operator=(const CmsEnvelopeWriter&) = delete;

  // Encrypts the next chunk (any size, including 0).
  [[nodiscard]] absl::Status Write(std::string_view plaintext_chunk);
  // Ends the content, appends the authentication tag and closes the structure.
  [[nodiscard]] absl::Status Finish();

  struct State;

 private:
  explicit CmsEnvelopeWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Decrypts a DER (or BER) envelope made for the key in `key_pem` (PEM private key, RSA or
// EC). INVALID_ARGUMENT when `der` is not a CMS envelope, when the key is not one of its
// recipients, or when the content does not authenticate; the message names which, without
// any content. Holds the envelope and the plaintext in memory.
[[nodiscard]] absl::StatusOr<std::string> CmsDecrypt(std::string_view key_pem,
                                                     std::string_view der);

// As CmsDecrypt, but hands the plaintext to `sink` in chunks instead of collecting it.
// The plaintext is only authentic once this returns OK: the sink may have received bytes of
// an envelope that then fails (INVALID_ARGUMENT), and must discard them.
[[nodiscard]] absl::Status CmsDecryptTo(std::string_view key_pem, std::string_view der,
                                        const CmsSink& sink);

}  // namespace utpost::crypto
