// Writes the seed inputs of every harness: fuzz/corpus/<harness>/seed-<what>, a handful of
// valid and invalid inputs each. Run by `make fuzz-seeds`; rerunning rewrites the seed-*
// files and leaves every other corpus file alone. The sealed documents differ on every run
// (a fresh data key and nonce each time); everything else is the same bytes.
//
// usage: utpost_fuzz_seeds <corpus directory>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/letter_id.h"
#include "crypto/dev_provider_cert.h"
#include "crypto/envelope.h"
#include "fuzz/fuzz_keys.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "services/ledger/form_validation.h"
#include "services/ledger/page_token.h"
#include "services/ledger/send_letter_validation.h"
#include "storage/segments.h"
#include "utpost/storage/v1/records.pb.h"
#include "utpost/v1/forms.pb.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::fuzz {
namespace {

namespace fs = std::filesystem;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

class SeedWriter {
 public:
  explicit SeedWriter(fs::path corpus) : corpus_(std::move(corpus)) {}

  void Write(std::string_view harness, std::string_view what, std::string_view bytes) {
    const fs::path dir = corpus_ / harness;
    fs::create_directories(dir);
    std::ofstream out(dir / ("seed-" + std::string(what)), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s/seed-%s\n", dir.c_str(), std::string(what).c_str());
      ok_ = false;
    }
    ++count_;
  }
  // Records that a seed meant to be valid is not, so the generator fails.
  void Expect(bool valid, std::string_view what, std::string_view why) {
    if (valid) return;
    std::fprintf(stderr, "seed %s is not what it should be: %s\n", std::string(what).c_str(),
                 std::string(why).c_str());
    ok_ = false;
  }
  bool ok() const { return ok_; }
  int count() const { return count_; }

 private:
  fs::path corpus_;
  bool ok_ = true;
  int count_ = 0;
};

std::string Le64(uint64_t v) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &v, 8);
  return out;
}

// Joins `parts` with NUL bytes (request_fuzzer's text mode).
std::string NulJoined(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.push_back('\0');
    out += parts[i];
  }
  return out;
}

void IdSeeds(SeedWriter& w) {
  constexpr std::string_view kHarness = "ids_fuzzer";
  w.Write(kHarness, "no-national-id", "15076500565");
  w.Write(kHarness, "no-national-id-check-digit", "15076500566");
  w.Write(kHarness, "no-d-number", "45070123456");
  w.Write(kHarness, "no-leap-day", "29029612410");
  w.Write(kHarness, "no-org-number", "974760673");
  w.Write(kHarness, "no-org-key", "NO974760673");
  w.Write(kHarness, "dk-cvr", "12345674");
  w.Write(kHarness, "dk-cvr-key", "DK25313763");
  w.Write(kHarness, "dk-cpr", "0101701234");
  w.Write(kHarness, "dk-cpr-dashed", " 010170-1234\n");
  w.Write(kHarness, "letter-id", "01ARZ3NDEKTSV4RRFFQ69G5FAV");
  w.Write(kHarness, "letter-id-lower", "01arz3ndektsv4rrffq69g5fav");
  w.Write(kHarness, "letter-id-crockford", "0IARZ3NDEKTSV4RRFFQ69G5FAL");
  w.Write(kHarness, "letter-id-max", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
  w.Write(kHarness, "letter-id-over-128-bits", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ");
  w.Write(kHarness, "letter-id-u", "01ARZ3NDEKTSV4RRFFQ69G5FAU");
}

v1::SendLetterRequest ValidSendLetter() {
  v1::SendLetterRequest r;
  r.mutable_recipient()->mutable_organisation()->set_norwegian_org_number("974760673");
  r.set_title("Vedtak om byggesak");
  v1::Document* doc = r.add_documents();
  doc->set_filename("vedtak.pdf");
  doc->set_media_type("application/pdf");
  doc->set_content("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n");
  r.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_AUTO);
  r.mutable_options()->mutable_print_if_unread_after()->set_seconds(7 * 24 * 3600);
  r.mutable_options()->set_security_level(v1::SECURITY_LEVEL_HIGH);
  r.mutable_reply_to()->set_danish_cvr("12345674");
  r.set_external_reference("2024/1234");
  r.set_idempotency_key("case-2024-1234-1");
  return r;
}

void RequestSeeds(SeedWriter& w) {
  constexpr std::string_view kHarness = "request_fuzzer";
  const auto send = [&w, kHarness](std::string_view what, const v1::SendLetterRequest& r,
                                   bool valid = false) {
    w.Write(kHarness, what, std::string(1, '\0') + r.SerializeAsString());
    const absl::Status status =
        ledger::ValidateSendLetter(r, ledger::LetterLimits{}, absl::FromUnixSeconds(1'790'000'000));
    w.Expect(status.ok() == valid, what, status.ToString());
  };
  send("send-valid", ValidSendLetter(), /*valid=*/true);
  {
    v1::SendLetterRequest r = ValidSendLetter();
    r.mutable_recipient()->mutable_person()->set_norwegian_national_id("15076500565");
    r.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_PRINT_ONLY);
    r.mutable_options()->clear_print_if_unread_after();
    v1::PostalAddress* a = r.mutable_postal_address();
    a->set_name("Kari Nordmann");
    a->add_address_lines("Storgata 1");
    a->set_postal_code("0150");
    a->set_city("Oslo");
    a->set_country_code("NO");
    send("send-valid-print", r, /*valid=*/true);
  }
  {
    v1::SendLetterRequest r = ValidSendLetter();
    r.mutable_recipient()->mutable_person()->set_danish_cpr("0101701234");
    r.add_documents()->CopyFrom(r.documents(0));
    r.mutable_documents(1)->set_filename("VEDTAK.PDF");
    r.mutable_documents(1)->set_media_type("Application/PDF");
    r.add_documents();
    r.set_title("");
    r.mutable_options()->set_channel_policy(static_cast<v1::ChannelPolicy>(9));
    r.mutable_options()->mutable_print_if_unread_after()->set_nanos(-5);
    r.mutable_reply_to()->set_norwegian_org_number("000000000");
    r.set_idempotency_key("has space");
    send("send-many-violations", r);
  }
  {
    v1::SendLetterRequest r = ValidSendLetter();
    for (int i = 0; i < 101; ++i) r.add_documents();
    send("send-too-many-documents", r);
  }
  {
    v1::SendLetterRequest r;
    v1::PostalAddress* a = r.mutable_postal_address();
    a->set_postal_code("123 45");
    a->set_country_code("SE");
    send("send-bare-se-address", r);
  }

  {
    v1::PreviewRoutesRequest r;
    r.add_recipients()->mutable_recipient()->mutable_person()->set_norwegian_national_id(
        "15076500565");
    v1::PreviewRecipient* org = r.add_recipients();
    org->mutable_recipient()->mutable_organisation()->set_danish_cvr("29189854");
    org->set_has_postal_address(true);
    r.mutable_options()->set_security_level(v1::SECURITY_LEVEL_HIGH);
    w.Write(kHarness, "preview-valid", std::string(1, 6) + r.SerializeAsString());
    r.add_recipients();
    r.add_recipients()->mutable_recipient()->mutable_person()->set_danish_cpr("12-34");
    r.mutable_options()->set_channel_policy(static_cast<v1::ChannelPolicy>(7));
    w.Write(kHarness, "preview-violations", std::string(1, 6) + r.SerializeAsString());
  }

  const std::string kId = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
  const auto letter_id_request = [&w, kHarness](std::string_view what, char rpc,
                                                const std::string& id) {
    v1::GetLetterRequest r;  // CancelLetterRequest has the same wire form
    r.set_letter_id(id);
    w.Write(kHarness, what, std::string(1, rpc) + r.SerializeAsString());
  };
  letter_id_request("get-valid", 1, kId);
  letter_id_request("get-lower-case", 1, "01arz3ndektsv4rrffq69g5fav");
  letter_id_request("get-not-an-id", 1, "not-a-letter-id");
  letter_id_request("cancel-valid", 3, kId);
  letter_id_request("cancel-too-long", 3, kId + "0");

  v1::ListLettersRequest list;
  list.set_page_size(20);
  list.add_statuses(v1::LETTER_STATUS_ACCEPTED);
  list.add_statuses(v1::LETTER_STATUS_PRINTED);
  list.mutable_accepted_after()->set_seconds(1700000000);
  list.mutable_accepted_before()->set_seconds(1800000000);
  absl::StatusOr<common::LetterIdBytes> last = common::DecodeLetterId(kId);
  list.set_page_token(ledger::EncodePageToken(*last, ledger::FilterHash(list)));
  w.Write(kHarness, "list-valid-token", std::string(1, 2) + list.SerializeAsString());
  list.add_statuses(v1::LETTER_STATUS_READ);
  w.Write(kHarness, "list-token-other-filters", std::string(1, 2) + list.SerializeAsString());
  list.set_page_token("bm90IGEgdG9rZW4");
  w.Write(kHarness, "list-bad-token", std::string(1, 2) + list.SerializeAsString());

  for (const uint64_t after : {uint64_t{0}, uint64_t{42}, ~uint64_t{0}}) {
    v1::WatchLetterEventsRequest r;
    r.set_after_sequence(after);
    w.Write(kHarness, "watch-" + std::to_string(after), std::string(1, 4) + r.SerializeAsString());
  }

  const auto text = [&w, kHarness](std::string_view what, const std::vector<std::string>& parts) {
    w.Write(kHarness, what, std::string(1, 5) + NulJoined(parts));
  };
  text("text-valid",
       {"Vedtak", "vedtak.pdf", "application/pdf", "%PDF-1.7", "Vedlegg 1.PDF", "application/pdf",
        "%PDF-1.4", "2024/1", "key-1", "Ola Nordmann", "Storgata 1", "0150", "Oslo"});
  text("text-invalid-utf8", {"V\xff\xfe", "\xc0\xaf.pdf", "text/plain", "x", "\xed\xa0\x80",
                             "text/plain", "y", "ref\x80", "key", "N\xf4\x90\x80\x80"});
  text("text-controls-and-folding",
       {"Tab\there", "\xc3\x86rlig.txt", "text/plain", "x", "\xc3\xa6RLIG.TXT", "text/plain", "y",
        "\xe2\x80\xae", "k\x7f", "", "", "", ""});
}

void PageTokenSeeds(SeedWriter& w) {
  constexpr std::string_view kHarness = "page_token_fuzzer";
  absl::StatusOr<common::LetterIdBytes> id = common::DecodeLetterId("01ARZ3NDEKTSV4RRFFQ69G5FAV");
  const uint64_t hash = 0x0123456789abcdef;
  const std::string token = ledger::EncodePageToken(*id, hash);
  w.Write(kHarness, "valid", Le64(hash) + token);
  w.Expect(ledger::DecodePageToken(token, hash).ok(), "valid", "does not decode");
  w.Write(kHarness, "other-filters", Le64(hash + 1) + token);
  w.Write(kHarness, "padded", Le64(hash) + token + "==");
  w.Write(kHarness, "truncated", Le64(hash) + token.substr(0, token.size() - 4));
  w.Write(kHarness, "standard-base64", Le64(0) + "+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/");
  w.Write(kHarness, "not-base64", Le64(0) + "not a token!");
}

void WatchCursorSeeds(SeedWriter& w) {
  constexpr std::string_view kHarness = "watch_cursor_fuzzer";
  // [last sequence * 2][request length][request][operations]: see watch_cursor_fuzzer.cc.
  const auto seed = [&w, kHarness](std::string_view what, uint64_t last, uint64_t after,
                                   std::string_view ops) {
    v1::WatchLetterEventsRequest r;
    r.set_after_sequence(after);
    const std::string wire = r.SerializeAsString();
    w.Write(
        kHarness, what,
        Le64(last * 2) + std::string(1, static_cast<char>(wire.size())) + wire + std::string(ops));
  };
  // Operation bytes: low 3 bits 0-1 allocate, 2 complete oldest, 3 newest, 4 picked,
  // 5 subscribe, 6 unsubscribe; bits 3-6 pick the sender or the entry; bit 7 abandons.
  seed("in-order", 0, 0, std::string("\x05\x00\x00\x02\x02", 5));
  seed("out-of-order", 100, 101, std::string("\x05\x0d\x00\x08\x00\x03\x82\x02\x06", 9));
  seed("ahead", 1000, 5000, std::string("\x00\x00\x0c\x02", 4));
  seed("empty-store", 0, 1, "");
}

// Fills every field of `message` with a plausible value, by reflection, so the seeds follow
// records.proto as it changes. A bytes field gets a document sealed as letter content.
void Fill(Message& message, const crypto::Envelope& envelope, int depth) {
  const Descriptor* d = message.GetDescriptor();
  const google::protobuf::Reflection* r = message.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->containing_oneof() != nullptr && f->index_in_oneof() != 0) continue;
    const int copies = f->is_repeated() ? 2 : 1;
    for (int c = 0; c < copies; ++c) {
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_STRING: {
          std::string value = f->name() == "letter_id"        ? std::string(kFuzzLetterId)
                              : f->name().find("sender") == 0 ? "NO974760673"
                                                              : f->name() + "-" + std::to_string(c);
          if (f->type() == FieldDescriptor::TYPE_BYTES) {
            storage::v1::LetterContent content;
            content.set_title("Vedtak");
            absl::StatusOr<crypto::EncryptedDocument> sealed =
                envelope.Seal(content.SerializeAsString(), crypto::LetterContentAad(kFuzzLetterId));
            if (sealed.ok()) value = sealed->Serialize();
          }
          f->is_repeated() ? r->AddString(&message, f, value) : r->SetString(&message, f, value);
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (depth < 4) {
            Fill(f->is_repeated() ? *r->AddMessage(&message, f) : *r->MutableMessage(&message, f),
                 envelope, depth + 1);
          }
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          const int value =
              f->enum_type()->value(f->enum_type()->value_count() > 1 ? 1 : 0)->number();
          f->is_repeated() ? r->AddEnumValue(&message, f, value)
                           : r->SetEnumValue(&message, f, value);
          break;
        }
        case FieldDescriptor::CPPTYPE_BOOL:
          f->is_repeated() ? r->AddBool(&message, f, true) : r->SetBool(&message, f, true);
          break;
        case FieldDescriptor::CPPTYPE_INT32:
          f->is_repeated() ? r->AddInt32(&message, f, 7) : r->SetInt32(&message, f, 7);
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          f->is_repeated() ? r->AddInt64(&message, f, 1700000000)
                           : r->SetInt64(&message, f, 1700000000);
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          f->is_repeated() ? r->AddUInt32(&message, f, 3) : r->SetUInt32(&message, f, 3);
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          f->is_repeated() ? r->AddUInt64(&message, f, 4096) : r->SetUInt64(&message, f, 4096);
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
        case FieldDescriptor::CPPTYPE_FLOAT:
          break;
      }
    }
  }
}

bool SealedRecordSeeds(SeedWriter& w) {
  constexpr std::string_view kHarness = "sealed_record_fuzzer";
  absl::StatusOr<std::unique_ptr<crypto::FileKeyStore>> keys = OpenFuzzKeyStore();
  if (!keys.ok()) {
    std::fprintf(stderr, "%s\n", keys.status().ToString().c_str());
    return false;
  }
  const crypto::Envelope envelope(**keys);
  const auto envelope_seed = [&w, kHarness](std::string_view what, std::string_view stored) {
    w.Write(kHarness, what, std::string(1, '\0') + std::string(stored));
  };
  absl::StatusOr<crypto::EncryptedDocument> document =
      envelope.Seal("%PDF-1.7 a document", crypto::DocumentAad(kFuzzLetterId, 0));
  absl::StatusOr<crypto::EncryptedDocument> content =
      envelope.Seal("a letter's content", crypto::LetterContentAad(kFuzzLetterId));
  if (!document.ok() || !content.ok()) return false;
  w.Expect(envelope.Open(*document, crypto::DocumentAad(kFuzzLetterId, 0)).ok(),
           "envelope-document", "does not open");
  envelope_seed("envelope-document", document->Serialize());
  envelope_seed("envelope-letter-content", content->Serialize());
  storage::v1::EncryptedDocument record;
  record.ParseFromString(document->Serialize());
  record.set_kek_id("0002");
  envelope_seed("envelope-unknown-kek", record.SerializeAsString());
  record.set_kek_id(kFuzzKekId);
  record.mutable_ciphertext()->resize(27);
  envelope_seed("envelope-short-ciphertext", record.SerializeAsString());
  record.mutable_ciphertext()->resize(40);
  envelope_seed("envelope-forged-ciphertext", record.SerializeAsString());
  envelope_seed("envelope-truncated", document->Serialize().substr(0, 30));

  const google::protobuf::FileDescriptor* file =
      storage::v1::EncryptedDocument::descriptor()->file();
  for (int i = 0; i < file->message_type_count(); ++i) {
    const Descriptor* d = file->message_type(i);
    std::unique_ptr<Message> message(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(d)->New());
    Fill(*message, envelope, 0);
    w.Write(kHarness, "record-" + d->name(),
            std::string(1, static_cast<char>(1 + i)) + message->SerializeAsString());
  }
  return true;
}

// form_fuzzer: a form type like examples/forms/barnehage.yaml (the harness puts in the
// certificate), alone and with submissions to it, valid and not.
void FormSeeds(SeedWriter& w) {
  constexpr char kHarness[] = "form_fuzzer";
  v1::FormType type;
  type.set_form_type_id("barnehageplass");
  type.set_title("S\xc3\xb8knad om barnehageplass");
  type.set_version(1);
  type.set_receipt_letter(true);
  type.add_allowed_portals()->set_norwegian_org_number("991825827");
  auto add = [&](const char* name, v1::FieldKind kind, bool required) {
    v1::FormField* f = type.add_fields();
    f->set_name(name);
    f->set_label(name);
    f->set_kind(kind);
    f->set_required(required);
    return f;
  };
  add("child_name", v1::FIELD_KIND_TEXT, true)->mutable_text()->set_max_length(100);
  auto* born = add("child_birth_date", v1::FIELD_KIND_DATE, true)->mutable_date();
  born->set_earliest("2019-01-01");
  born->set_latest("2026-12-31");
  add("parent_national_id", v1::FIELD_KIND_NATIONAL_ID, true);
  auto* hours = add("hours_per_week", v1::FIELD_KIND_NUMBER, true)->mutable_number();
  hours->set_min(10);
  hours->set_max(45);
  hours->set_integer_only(true);
  auto* choice = add("first_choice", v1::FIELD_KIND_CHOICE, true)->mutable_choice();
  choice->add_choices("Sagene barnehage");
  choice->add_choices("T\xc3\xb8yen barnehage");
  add("org", v1::FIELD_KIND_ORG_NUMBER, false);
  add("email", v1::FIELD_KIND_EMAIL, false);
  add("phone", v1::FIELD_KIND_PHONE, false);
  type.mutable_attachments()->set_max_count(2);
  type.mutable_attachments()->set_max_bytes_each(1 << 20);
  type.mutable_attachments()->add_media_types("application/pdf");
  const std::string type_bytes = type.SerializeAsString();
  w.Write(kHarness, "form-type-raw", std::string(1, '\0') + type_bytes);
  w.Write(kHarness, "form-type", std::string(1, '\1') + type_bytes);
  v1::FormType bad = type;
  bad.set_form_type_id("Not An Id");
  bad.mutable_fields(1)->mutable_date()->set_earliest("2019-02-30");
  w.Write(kHarness, "form-type-bad", std::string(1, '\1') + bad.SerializeAsString());

  v1::SubmitFormRequest request;
  request.mutable_municipality()->set_norwegian_org_number("958935420");
  request.set_form_type_id("barnehageplass");
  request.set_form_type_version(1);
  request.mutable_citizen()->set_norwegian_national_id("15076500565");
  auto value = [&](const char* name) {
    v1::FieldValue* v = request.add_values();
    v->set_name(name);
    return v;
  };
  value("child_name")->set_text("Kari Nordmann");
  value("child_birth_date")->set_date("2021-05-01");
  value("parent_national_id")->set_national_id("02028234530");
  value("hours_per_week")->set_number(41);
  value("first_choice")->set_choice("Sagene barnehage");
  value("email")->set_email("kari@example.no");
  value("phone")->set_phone("+4791234567");
  v1::Attachment* a = request.add_attachments();
  a->set_filename("vedlegg.pdf");
  a->set_media_type("application/pdf");
  a->set_content("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n");
  request.set_idempotency_key("seed-1");
  const std::string prefix =
      std::string(1, '\2') + std::string(1, static_cast<char>(type_bytes.size() >> 8)) +
      std::string(1, static_cast<char>(type_bytes.size() & 0xff)) + type_bytes;
  w.Write(kHarness, "submission", prefix + request.SerializeAsString());
  {
    // The valid seeds must be valid, or the harness never reaches past the refusals.
    char dir[] = "/tmp/utpost-seeds-XXXXXX";
    absl::StatusOr<std::string> cert =
        ::mkdtemp(dir) != nullptr ? crypto::EnsureDevProviderCertificate(dir, "seed", "seed")
                                  : absl::UnavailableError("mkdtemp");
    std::error_code ec;
    fs::remove_all(dir, ec);
    w.Expect(cert.ok(), "form certificate", cert.status().ToString());
    v1::FormType with_cert = type;
    if (cert.ok()) with_cert.set_encryption_certificate_pem(*cert);
    const ledger::FormsConfig config;
    absl::Status valid = ledger::ValidateFormType(with_cert, config);
    w.Expect(valid.ok(), "form-type", valid.ToString());
    valid = ledger::ValidateSubmitRequest(request, config);
    if (valid.ok()) valid = ledger::ValidateSubmission(request, with_cert, config);
    w.Expect(valid.ok(), "submission", valid.ToString());
  }
  v1::SubmitFormRequest wrong = request;
  wrong.mutable_values(1)->set_date("2021-02-30");
  wrong.mutable_values(2)->set_national_id("02028234531");
  wrong.mutable_values(3)->set_number(41.5);
  wrong.mutable_attachments(0)->set_media_type("image/png");
  w.Write(kHarness, "submission-bad", prefix + wrong.SerializeAsString());
}

// Segment files (segment_fuzzer): each seed is a 32-byte pointer and owner, then the file.
void SegmentSeeds(SeedWriter& w) {
  constexpr std::string_view kHarness = "segment_fuzzer";
  char pattern[] = "/tmp/utpost-seeds-XXXXXX";
  const char* made = ::mkdtemp(pattern);
  if (made == nullptr) return;
  const fs::path dir(made);
  std::vector<storage::SegmentPointer> pointers;
  {
    auto store = storage::SegmentStore::Open({.dir = dir});
    if (!store.ok()) return;
    for (int i = 0; i < 3; ++i) {
      const std::string payload(100 + 50 * i, static_cast<char>('a' + i));
      const storage::SegmentRecord record{"ownerkey", payload};
      auto appended = (*store)->Append({&record, 1});
      if (!appended.ok()) return;
      pointers.push_back(appended->pointers()[0]);
    }
  }  // closed: sealed
  std::ifstream in(dir / storage::SegmentFileName(1), std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove_all(dir);
  auto head = [](const storage::SegmentPointer& p) {
    std::string h(32, '\0');
    for (int i = 0; i < 8; ++i) h[i] = static_cast<char>(p.offset >> (8 * i));
    for (int i = 0; i < 4; ++i) h[8 + i] = static_cast<char>(p.length >> (8 * i));
    for (int i = 0; i < 4; ++i) h[12 + i] = static_cast<char>(p.crc >> (8 * i));
    // The owner key: its length, then its bytes.
    h[16] = 8;
    std::memcpy(h.data() + 17, "ownerkey", 8);
    return h;
  };
  w.Write(kHarness, "sealed", head(pointers[1]) + file);
  // The seal gone and the last record cut: a crash during its write.
  const std::string torn = file.substr(0, pointers[2].offset + storage::kSegmentHeaderBytes + 20);
  w.Write(kHarness, "torn", head(pointers[2]) + torn);
  w.Write(kHarness, "garbage-tail",
          head(pointers[0]) + file.substr(0, file.size() - 40) + std::string(64, '\0'));
  w.Write(kHarness, "empty", std::string(32, '\0'));
}

}  // namespace

}  // namespace utpost::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
    return 2;
  }
  utpost::fuzz::SeedWriter w{std::filesystem::path(argv[1])};
  utpost::fuzz::IdSeeds(w);
  utpost::fuzz::RequestSeeds(w);
  utpost::fuzz::PageTokenSeeds(w);
  utpost::fuzz::WatchCursorSeeds(w);
  utpost::fuzz::FormSeeds(w);
  utpost::fuzz::SegmentSeeds(w);
  const bool sealed = utpost::fuzz::SealedRecordSeeds(w);
  if (!sealed || !w.ok()) return 1;
  std::printf("wrote %d seeds under %s\n", w.count(), argv[1]);
  return 0;
}
