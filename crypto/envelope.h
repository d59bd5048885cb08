// Envelope encryption of documents at rest: a fresh 256-bit data key per document,
// AES-256-GCM with a 96-bit random nonce, additional authenticated data binding the
// ciphertext to its letter and position, and the data key wrapped by the key store's
// current key-encryption key.
//
// EncryptedDocument can only be made by Envelope::Seal or parsed from its stored form, so a
// store that takes an EncryptedDocument cannot be handed plaintext by mistake.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/key_store.h"
#include "crypto/secret.h"

namespace utpost::crypto {

class EncryptedDocument {
 public:
  const std::string& kek_id() const { return kek_id_; }
  const std::string& wrapped_key() const { return wrapped_key_; }
  // nonce (12) || ciphertext || tag (16)
  const std::string& ciphertext() const { return ciphertext_; }

  // The self-contained stored form (a utpost.storage.v1.EncryptedDocument message), for small
  // sealed values (letter content, event details).
  std::string Serialize() const;
  // DATA_LOSS if `stored` is not a well-formed self-contained stored form.
  [[nodiscard]] static absl::StatusOr<EncryptedDocument> Parse(std::string_view stored);

  // Documents are stored in two parts, so that the small key part can be destroyed apart
  // from the ciphertext: this is the key part (a utpost.storage.v1.DocumentKeyRecord: KEK id
  // and wrapped data key); ciphertext() is the other.
  std::string SerializeKey() const;
  // Reassembles a document from its stored key part and its ciphertext. DATA_LOSS if either
  // is malformed.
  [[nodiscard]] static absl::StatusOr<EncryptedDocument> FromParts(std::string_view stored_key,
                                                                   std::string ciphertext);

 private:
  friend class Envelope;
  EncryptedDocument() = default;
  std::string kek_id_;
  std::string wrapped_key_;
  std::string ciphertext_;
};

// The additional authenticated data for document `position` of letter `letter_id`.
std::string DocumentAad(std::string_view letter_id, uint32_t position);

// The additional authenticated data for the sealed detail of event `index` of letter
// `letter_id`, so a detail cannot be moved to another event or letter.
std::string EventDetailAad(std::string_view letter_id, uint32_t index);

// The additional authenticated data for the sealed personal content of letter `letter_id`
// (recipient, address, title), so it cannot be moved to another letter or taken for a document.
std::string LetterContentAad(std::string_view letter_id);

// The additional authenticated data for the sealed personal data of form submission
// `submission_id` (the citizen), so it cannot be moved to another submission or a letter.
std::string SubmissionPersonalAad(std::string_view submission_id);

class Envelope {
 public:
  // `keys` must outlive the Envelope. Thread-safe.
  explicit Envelope(const KeyStore& keys) : keys_(keys) {}

  // Encrypts `plaintext` under a fresh data key. Errors come from the key store.
  [[nodiscard]] absl::StatusOr<EncryptedDocument> Seal(std::string_view plaintext,
                                                       std::string_view aad) const;

  // Decrypts. DATA_LOSS if the ciphertext, wrapped key or aad does not authenticate;
  // NOT_FOUND if the KEK is unknown.
  [[nodiscard]] absl::StatusOr<std::string> Open(const EncryptedDocument& doc,
                                                 std::string_view aad) const;

 private:
  const KeyStore& keys_;
};

// Low-level AES-256-GCM, shared by the envelope and the file key store.
// Output: nonce (12) || ciphertext || tag (16).
[[nodiscard]] absl::StatusOr<std::string> AesGcmSeal(const SecretBytes& key,
                                                     std::string_view plaintext,
                                                     std::string_view aad);
// DATA_LOSS if it does not authenticate.
[[nodiscard]] absl::StatusOr<std::string> AesGcmOpen(const SecretBytes& key,
                                                     std::string_view sealed, std::string_view aad);

// The key check value of a key-encryption key: HMAC-SHA256 under `key` of the fixed label
// "utpost.v1.kek-check-value", truncated to 16 bytes. A MAC of a public constant: it tells
// two keys apart without revealing anything that helps to find the key.
std::string KeyCheckValue(const SecretBytes& key);

}  // namespace utpost::crypto
