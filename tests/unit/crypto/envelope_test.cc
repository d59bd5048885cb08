#include "crypto/envelope.h"

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "crypto/file_key_store.h"
#include "crypto/key_store.h"
#include "crypto/secret.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"
#include "utpost/storage/v1/records.pb.h"

namespace utpost::crypto {
namespace {

namespace fs = std::filesystem;
using testutil::MakeTempDir;

constexpr char kLetterId[] = "01HZX3K9Q8W7E6R5T4Y3U2I1O0";

// Rewrites the stored form of `doc` through `mutate`, as an attacker with write access to
// the database could.
template <typename Mutate>
EncryptedDocument Tampered(const EncryptedDocument& doc, Mutate mutate) {
  storage::v1::EncryptedDocument record;
  EXPECT_TRUE(record.ParseFromString(doc.Serialize()));
  mutate(record);
  absl::StatusOr<EncryptedDocument> parsed = EncryptedDocument::Parse(record.SerializeAsString());
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return *std::move(parsed);
}

void FlipBit(std::string& bytes, size_t index) {
  bytes[index] = static_cast<char>(bytes[index] ^ 1);
}

class EnvelopeTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir() / "keys";
    absl::StatusOr<std::string> id = FileKeyStore::EnsureKey(dir_);
    ASSERT_TRUE(id.ok()) << id.status();
    Reopen();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_.parent_path(), ec);
  }

  void Reopen() {
    envelope_.reset();
    absl::StatusOr<std::unique_ptr<FileKeyStore>> keys = FileKeyStore::Open(dir_);
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
    envelope_ = std::make_unique<Envelope>(*keys_);
  }

  EncryptedDocument SealOrDie(std::string_view plaintext, std::string_view aad) {
    absl::StatusOr<EncryptedDocument> doc = envelope_->Seal(plaintext, aad);
    EXPECT_TRUE(doc.ok()) << doc.status();
    return *std::move(doc);
  }

  void ExpectRoundTrip(const std::string& plaintext) {
    const std::string aad = DocumentAad(kLetterId, 0);
    absl::StatusOr<EncryptedDocument> doc = envelope_->Seal(plaintext, aad);
    ASSERT_TRUE(doc.ok()) << doc.status();
    EXPECT_EQ(doc->ciphertext().size(), 12 + plaintext.size() + 16);
    EXPECT_EQ(doc->wrapped_key().size(), 12u + 32u + 16u);
    EXPECT_EQ(doc->kek_id(), "0001");

    absl::StatusOr<std::string> opened = envelope_->Open(*doc, aad);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_TRUE(*opened == plaintext);

    // The stored form is exactly the message's serialization.
    const std::string stored = doc->Serialize();
    storage::v1::EncryptedDocument record;
    record.set_kek_id(doc->kek_id());
    record.set_wrapped_key(doc->wrapped_key());
    record.set_ciphertext(doc->ciphertext());
    EXPECT_TRUE(stored == record.SerializeAsString());

    // Documents are stored in two parts, the key part apart from the ciphertext.
    storage::v1::DocumentKeyRecord key_record;
    ASSERT_TRUE(key_record.ParseFromString(doc->SerializeKey()));
    EXPECT_EQ(key_record.kek_id(), doc->kek_id());
    EXPECT_EQ(key_record.wrapped_key(), doc->wrapped_key());
    absl::StatusOr<EncryptedDocument> joined =
        EncryptedDocument::FromParts(doc->SerializeKey(), doc->ciphertext());
    ASSERT_TRUE(joined.ok()) << joined.status();
    absl::StatusOr<std::string> rejoined = envelope_->Open(*joined, aad);
    ASSERT_TRUE(rejoined.ok()) << rejoined.status();
    EXPECT_TRUE(*rejoined == plaintext);

    // The same through the stored form.
    absl::StatusOr<EncryptedDocument> parsed = EncryptedDocument::Parse(stored);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->kek_id(), doc->kek_id());
    EXPECT_EQ(parsed->wrapped_key(), doc->wrapped_key());
    EXPECT_TRUE(parsed->ciphertext() == doc->ciphertext());
    absl::StatusOr<std::string> reopened = envelope_->Open(*parsed, aad);
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    EXPECT_TRUE(*reopened == plaintext);
  }

  void ExpectDataLoss(const EncryptedDocument& doc, std::string_view aad) {
    absl::StatusOr<std::string> opened = envelope_->Open(doc, aad);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << opened.status();
  }

  fs::path dir_;
  std::unique_ptr<FileKeyStore> keys_;
  std::unique_ptr<Envelope> envelope_;
};

TEST_F(EnvelopeTest, RoundTripsShortText) { ExpectRoundTrip("Vedtak om byggetillatelse"); }

TEST_F(EnvelopeTest, RoundTripsEmptyDocument) { ExpectRoundTrip(""); }

TEST_F(EnvelopeTest, RoundTripsEightMebibytes) {
  const SecretBytes random = SecretBytes::Random(8 << 20);
  ExpectRoundTrip(std::string(random.view()));
}

TEST_F(EnvelopeTest, TwoSealsOfTheSamePlaintextDiffer) {
  const std::string aad = DocumentAad(kLetterId, 0);
  const EncryptedDocument a = SealOrDie("same text", aad);
  const EncryptedDocument b = SealOrDie("same text", aad);
  EXPECT_NE(a.ciphertext(), b.ciphertext());
  EXPECT_NE(a.ciphertext().substr(0, 12), b.ciphertext().substr(0, 12)) << "nonce reused";
  EXPECT_NE(a.wrapped_key(), b.wrapped_key());
}

TEST_F(EnvelopeTest, CiphertextDoesNotContainThePlaintext) {
  const std::string marker = "PLAINTEXT-MARKER-7f3a";
  std::string plaintext;
  for (int i = 0; i < 1000; ++i) plaintext += marker;
  const EncryptedDocument doc = SealOrDie(plaintext, DocumentAad(kLetterId, 0));
  EXPECT_EQ(doc.Serialize().find(marker), std::string::npos);
  EXPECT_EQ(doc.ciphertext().find(marker), std::string::npos);
}

TEST_F(EnvelopeTest, TamperedCiphertextIsDataLoss) {
  const std::string aad = DocumentAad(kLetterId, 0);
  const EncryptedDocument doc = SealOrDie("Skattemelding 2024", aad);
  ExpectDataLoss(
      Tampered(doc,
               [](storage::v1::EncryptedDocument& r) { FlipBit(*r.mutable_ciphertext(), 12 + 3); }),
      aad);
}

TEST_F(EnvelopeTest, TamperedNonceIsDataLoss) {
  const std::string aad = DocumentAad(kLetterId, 0);
  const EncryptedDocument doc = SealOrDie("Skattemelding 2024", aad);
  ExpectDataLoss(
      Tampered(doc, [](storage::v1::EncryptedDocument& r) { FlipBit(*r.mutable_ciphertext(), 0); }),
      aad);
}

TEST_F(EnvelopeTest, TamperedTagIsDataLoss) {
  const std::string aad = DocumentAad(kLetterId, 0);
  const EncryptedDocument doc = SealOrDie("Skattemelding 2024", aad);
  ExpectDataLoss(Tampered(doc,
                          [](storage::v1::EncryptedDocument& r) {
                            FlipBit(*r.mutable_ciphertext(), r.ciphertext().size() - 1);
                          }),
                 aad);
}

TEST_F(EnvelopeTest, TruncatedCiphertextIsDataLoss) {
  const std::string aad = DocumentAad(kLetterId, 0);
  const EncryptedDocument doc = SealOrDie("Skattemelding 2024", aad);
  ExpectDataLoss(Tampered(doc,
                          [](storage::v1::EncryptedDocument& r) {
                            r.mutable_ciphertext()->resize(r.ciphertext().size() - 1);
                          }),
                 aad);
}

TEST_F(EnvelopeTest, TamperedWrappedKeyIsDataLoss) {
  const std::string aad = DocumentAad(kLetterId, 0);
  const EncryptedDocument doc = SealOrDie("Skattemelding 2024", aad);
  for (size_t index : {size_t{0}, size_t{20}, doc.wrapped_key().size() - 1}) {
    ExpectDataLoss(Tampered(doc,
                            [index](storage::v1::EncryptedDocument& r) {
                              FlipBit(*r.mutable_wrapped_key(), index);
                            }),
                   aad);
  }
}

TEST_F(EnvelopeTest, SwappedWrappedKeyIsDataLoss) {
  const std::string aad = DocumentAad(kLetterId, 0);
  const EncryptedDocument a = SealOrDie("document a", aad);
  const EncryptedDocument b = SealOrDie("document b", aad);
  // b's data key authenticates under the aad, but does not open a's ciphertext.
  ExpectDataLoss(
      Tampered(a, [&b](storage::v1::EncryptedDocument& r) { r.set_wrapped_key(b.wrapped_key()); }),
      aad);
}

TEST_F(EnvelopeTest, WrongAadIsDataLoss) {
  const EncryptedDocument doc = SealOrDie("Skattemelding 2024", DocumentAad(kLetterId, 1));
  ExpectDataLoss(doc, DocumentAad("01HZX3K9Q8W7E6R5T4Y3U2I1O1", 1));  // other letter
  ExpectDataLoss(doc, DocumentAad(kLetterId, 0));                     // other position
  ExpectDataLoss(doc, DocumentAad(kLetterId, 1u << 24));              // other byte order
  ExpectDataLoss(doc, "");
  absl::StatusOr<std::string> opened = envelope_->Open(doc, DocumentAad(kLetterId, 1));
  ASSERT_TRUE(opened.ok()) << opened.status();
}

TEST_F(EnvelopeTest, UnknownKekIsNotFound) {
  const std::string aad = DocumentAad(kLetterId, 0);
  const EncryptedDocument doc = SealOrDie("x", aad);
  absl::StatusOr<std::string> opened = envelope_->Open(
      Tampered(doc, [](storage::v1::EncryptedDocument& r) { r.set_kek_id("0042"); }), aad);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kNotFound) << opened.status();
}

TEST_F(EnvelopeTest, KeyRotation) {
  const std::string aad = DocumentAad(kLetterId, 0);
  const EncryptedDocument old_doc = SealOrDie("sealed before rotation", aad);
  EXPECT_EQ(old_doc.kek_id(), "0001");

  absl::StatusOr<std::string> rotated = FileKeyStore::Rotate(dir_);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(*rotated, "0002");
  // A store opened before the rotation keeps using the old key.
  EXPECT_EQ(SealOrDie("y", aad).kek_id(), "0001");

  Reopen();
  const EncryptedDocument new_doc = SealOrDie("sealed after rotation", aad);
  EXPECT_EQ(new_doc.kek_id(), "0002");

  absl::StatusOr<std::string> opened_old = envelope_->Open(old_doc, aad);
  ASSERT_TRUE(opened_old.ok()) << opened_old.status();
  EXPECT_EQ(*opened_old, "sealed before rotation");
  absl::StatusOr<std::string> opened_new = envelope_->Open(new_doc, aad);
  ASSERT_TRUE(opened_new.ok()) << opened_new.status();
  EXPECT_EQ(*opened_new, "sealed after rotation");

  // A wrapped key claiming the other kek id does not authenticate under it.
  ExpectDataLoss(Tampered(new_doc, [](storage::v1::EncryptedDocument& r) { r.set_kek_id("0001"); }),
                 aad);
}

TEST(EncryptedDocumentTest, ParseRejectsMalformedStoredForms) {
  for (std::string_view stored :
       {std::string_view(""), std::string_view("\xff\xff\xff"), std::string_view("garbage")}) {
    absl::StatusOr<EncryptedDocument> parsed = EncryptedDocument::Parse(stored);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss)
        << absl::CHexEscape(std::string(stored));
  }
  storage::v1::EncryptedDocument record;
  record.set_kek_id("0001");
  record.set_wrapped_key(std::string(60, 'k'));
  record.set_ciphertext(std::string(27, 'c'));  // shorter than nonce + tag
  EXPECT_EQ(EncryptedDocument::Parse(record.SerializeAsString()).status().code(),
            absl::StatusCode::kDataLoss);
  record.set_ciphertext(std::string(28, 'c'));
  EXPECT_TRUE(EncryptedDocument::Parse(record.SerializeAsString()).ok());
  record.clear_kek_id();
  EXPECT_EQ(EncryptedDocument::Parse(record.SerializeAsString()).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(DocumentAadTest, HasTheDocumentedLayout) {
  using namespace std::string_literals;
  EXPECT_EQ(DocumentAad("ABC", 0x01020304), "utpost.v1.document\0ABC\0\x01\x02\x03\x04"s);
  EXPECT_EQ(DocumentAad("", 0), "utpost.v1.document\0\0\0\0\0\0"s);
  EXPECT_NE(DocumentAad("AB", 1), DocumentAad("A", 1));
}

// A key store that is down.
class UnavailableKeyStore final : public KeyStore {
 public:
  absl::StatusOr<WrappedKey> Wrap(const SecretBytes&, std::string_view) const override {
    return absl::UnavailableError("kms down");
  }
  absl::StatusOr<SecretBytes> Unwrap(const WrappedKey&, std::string_view) const override {
    return absl::UnavailableError("kms down");
  }
  std::string CurrentKeyId() const override { return "kms-1"; }
  std::vector<std::string> KeyIds() const override { return {"kms-1"}; }
  absl::StatusOr<std::string> CheckValue(std::string_view) const override {
    return absl::UnavailableError("kms down");
  }
};

TEST(EncryptedDocumentTest, FromPartsRefusesMalformedParts) {
  storage::v1::DocumentKeyRecord key;
  key.set_kek_id("0001");
  key.set_wrapped_key(std::string(60, 'w'));
  const std::string ciphertext(28, 'c');
  EXPECT_TRUE(EncryptedDocument::FromParts(key.SerializeAsString(), ciphertext).ok());
  EXPECT_EQ(
      EncryptedDocument::FromParts(key.SerializeAsString(), std::string(27, 'c')).status().code(),
      absl::StatusCode::kDataLoss);
  EXPECT_EQ(EncryptedDocument::FromParts("\xff\xff", ciphertext).status().code(),
            absl::StatusCode::kDataLoss);
  key.clear_wrapped_key();
  EXPECT_EQ(EncryptedDocument::FromParts(key.SerializeAsString(), ciphertext).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(EventDetailAadTest, BindsLetterAndIndex) {
  using namespace std::string_literals;
  EXPECT_EQ(EventDetailAad("ABC", 0x01020304), "utpost.v1.event-detail\0ABC\0\x01\x02\x03\x04"s);
  EXPECT_NE(EventDetailAad("ABC", 1), EventDetailAad("ABC", 2));
  EXPECT_NE(EventDetailAad("ABC", 1), DocumentAad("ABC", 1));
}

TEST(KeyCheckValueTest, IsTheTruncatedHmacOfTheLabel) {
  // HMAC-SHA256(key = 32 bytes 0x00..0x1f, "utpost.v1.kek-check-value"), first 16 bytes,
  // computed independently (Python's hmac module).
  std::string raw;
  for (int i = 0; i < 32; ++i) raw.push_back(static_cast<char>(i));
  const SecretBytes key(raw);
  EXPECT_EQ(absl::BytesToHexString(KeyCheckValue(key)), "ac3a268b97d7febabe198f6d66a4cc51");
  const SecretBytes other = SecretBytes::Random(32);
  EXPECT_NE(KeyCheckValue(other), KeyCheckValue(key));
  EXPECT_EQ(KeyCheckValue(other).size(), 16u);
}

TEST(EnvelopeErrorsTest, KeyStoreErrorsPassThrough) {
  UnavailableKeyStore keys;
  Envelope envelope(keys);
  EXPECT_EQ(envelope.Seal("x", "aad").status().code(), absl::StatusCode::kUnavailable);
}

TEST(AesGcmTest, MatchesTheGcmSpecificationTestCase16) {
  const SecretBytes key(
      absl::HexStringToBytes("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"));
  const std::string plaintext = absl::HexStringToBytes(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449"
      "a6b525b16aedf5aa0de657ba637b39");
  const std::string aad = absl::HexStringToBytes("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const std::string sealed = absl::HexStringToBytes(
      "cafebabefacedbaddecaf888"
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b105682"
      "8838c5f61e6393ba7a0abcc9f662"
      "76fc6ece0f4e1768cddf8853bb2d551b");
  absl::StatusOr<std::string> opened = AesGcmOpen(key, sealed, aad);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, plaintext);

  absl::StatusOr<std::string> resealed = AesGcmSeal(key, plaintext, aad);
  ASSERT_TRUE(resealed.ok()) << resealed.status();
  EXPECT_EQ(resealed->size(), sealed.size());
}

TEST(AesGcmTest, RejectsBadKeysAndShortInput) {
  EXPECT_EQ(AesGcmSeal(SecretBytes(16), "x", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AesGcmOpen(SecretBytes(16), std::string(40, 'x'), "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AesGcmOpen(SecretBytes(32), std::string(27, 'x'), "").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(AesGcmOpen(SecretBytes(32), std::string(28, 'x'), "").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(SecretBytesTest, RandomAndMoves) {
  SecretBytes a = SecretBytes::Random(32);
  SecretBytes b = SecretBytes::Random(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a.view(), b.view());
  const std::string a_copy(a.view());
  SecretBytes moved(std::move(a));
  EXPECT_EQ(moved.view(), a_copy);
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): a moved-from secret is left empty
  b = std::move(moved);
  EXPECT_EQ(b.view(), a_copy);
  EXPECT_EQ(SecretBytes::Random(0).size(), 0u);
}

}  // namespace
}  // namespace utpost::crypto
