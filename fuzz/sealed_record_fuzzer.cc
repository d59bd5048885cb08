// Decoders of what the ledger reads back from RocksDB: crypto::EncryptedDocument::Parse,
// Envelope::Open with a real FileKeyStore key, and every message of
// proto/utpost/storage/v1/records.proto. The first input byte picks the decoder: 0 the
// envelope, k > 0 the k-th message (in the order the proto file declares them, modulo their
// count), so a message added to records.proto is fuzzed without changing this file.
//
// Invariants:
//   - Parse answers a document or DATA_LOSS; a parsed document's stored form parses to the
//     same document, and its two stored parts (the wrapped key, kept apart for
//     crypto-shredding, and the ciphertext) make the same document again.
//   - Open answers the plaintext, DATA_LOSS or NOT_FOUND; never another code, never a crash.
//     A document the seed generator sealed under the fixed key opens.
//   - A record that parses re-serializes to bytes that parse to the same record.
//   - In a record with a string field "letter_id", every bytes field that parses as an
//     EncryptedDocument is opened as the letter's sealed content would be
//     (LetterContentAad); what opens is parsed as a LetterContent.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/envelope.h"
#include "crypto/file_key_store.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_keys.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/logging.h"
#include "utpost/storage/v1/records.pb.h"

namespace utpost::fuzz {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// The fixed-key store, made once per process: a harness runs millions of inputs.
const crypto::KeyStore& Keys() {
  static const crypto::FileKeyStore* const keys = [] {
    absl::StatusOr<std::unique_ptr<crypto::FileKeyStore>> store = OpenFuzzKeyStore();
    UTPOST_FUZZ_CHECK(store.ok());
    return store->release();
  }();
  return *keys;
}

std::string Deterministic(const Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    UTPOST_FUZZ_CHECK(message.SerializePartialToCodedStream(&coded));
  }
  return out;
}

// Opens `doc` under `aad`; returns the plaintext if it authenticates.
absl::StatusOr<std::string> CheckOpen(const crypto::EncryptedDocument& doc, std::string_view aad) {
  absl::StatusOr<std::string> plain = crypto::Envelope(Keys()).Open(doc, aad);
  const absl::StatusCode code = plain.status().code();
  UTPOST_FUZZ_CHECK(code == absl::StatusCode::kOk || code == absl::StatusCode::kDataLoss ||
                    code == absl::StatusCode::kNotFound);
  if (plain.ok()) UTPOST_FUZZ_CHECK(doc.kek_id() == kFuzzKekId);
  return plain;
}

// Parses `stored`; on success checks the round trip and returns the document.
absl::StatusOr<crypto::EncryptedDocument> CheckParse(std::string_view stored) {
  absl::StatusOr<crypto::EncryptedDocument> doc = crypto::EncryptedDocument::Parse(stored);
  if (!doc.ok()) {
    UTPOST_FUZZ_CHECK(doc.status().code() == absl::StatusCode::kDataLoss);
    return doc;
  }
  const std::string serialized = doc->Serialize();
  absl::StatusOr<crypto::EncryptedDocument> parts =
      crypto::EncryptedDocument::FromParts(doc->SerializeKey(), doc->ciphertext());
  UTPOST_FUZZ_CHECK(parts.ok());
  UTPOST_FUZZ_CHECK(parts->kek_id() == doc->kek_id() &&
                    parts->wrapped_key() == doc->wrapped_key() &&
                    parts->ciphertext() == doc->ciphertext());
  absl::StatusOr<crypto::EncryptedDocument> again = crypto::EncryptedDocument::Parse(serialized);
  UTPOST_FUZZ_CHECK(again.ok());
  UTPOST_FUZZ_CHECK(again->kek_id() == doc->kek_id() &&
                    again->wrapped_key() == doc->wrapped_key() &&
                    again->ciphertext() == doc->ciphertext());
  return doc;
}

void FuzzEnvelope(std::string_view stored) {
  absl::StatusOr<crypto::EncryptedDocument> doc = CheckParse(stored);
  if (!doc.ok()) return;
  (void)CheckOpen(*doc, crypto::DocumentAad(kFuzzLetterId, 0));
  (void)CheckOpen(*doc, crypto::LetterContentAad(kFuzzLetterId));
}

// Follows the record's sealed fields as the ledger does when it shows a letter.
void FuzzSealedFields(const Message& record) {
  const Descriptor* descriptor = record.GetDescriptor();
  const FieldDescriptor* letter_id = descriptor->FindFieldByName("letter_id");
  if (letter_id == nullptr || letter_id->type() != FieldDescriptor::TYPE_STRING ||
      letter_id->is_repeated()) {
    return;
  }
  const std::string id = record.GetReflection()->GetString(record, letter_id);
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->type() != FieldDescriptor::TYPE_BYTES || field->is_repeated()) continue;
    const std::string sealed = record.GetReflection()->GetString(record, field);
    if (sealed.empty()) continue;
    absl::StatusOr<crypto::EncryptedDocument> doc = CheckParse(sealed);
    if (!doc.ok()) continue;
    absl::StatusOr<std::string> plain = CheckOpen(*doc, crypto::LetterContentAad(id));
    if (plain.ok()) {
      storage::v1::LetterContent content;
      (void)content.ParseFromString(*plain);
    }
  }
}

void FuzzRecord(const Descriptor* descriptor, std::string_view bytes) {
  const Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor);
  UTPOST_FUZZ_CHECK(prototype != nullptr);
  std::unique_ptr<Message> record(prototype->New());
  if (!record->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  const std::string serialized = Deterministic(*record);
  UTPOST_FUZZ_CHECK(serialized.size() == record->ByteSizeLong());
  std::unique_ptr<Message> again(prototype->New());
  UTPOST_FUZZ_CHECK(again->ParseFromString(serialized));
  UTPOST_FUZZ_CHECK(Deterministic(*again) == serialized);
  FuzzSealedFields(*record);
}

}  // namespace
}  // namespace utpost::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Records with invalid UTF-8 are refused by the parser, which also logs each one.
  google::protobuf::SetLogHandler(nullptr);
  (void)utpost::fuzz::Keys();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] == 0) {
    utpost::fuzz::FuzzEnvelope(rest);
    return 0;
  }
  const google::protobuf::FileDescriptor* file =
      utpost::storage::v1::EncryptedDocument::descriptor()->file();
  utpost::fuzz::FuzzRecord(file->message_type((data[0] - 1) % file->message_type_count()), rest);
  return 0;
}
