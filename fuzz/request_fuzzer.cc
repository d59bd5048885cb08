// Request parsing and validation of every LetterService RPC, at the level reachable without a
// database. The first input byte picks the request type; the rest is its wire form.
//
//   SendLetter         parse, then ValidateSendLetter with the default limits and with tight
//                      ones. OK implies the documented limits hold; a refusal is
//                      INVALID_ARGUMENT carrying a google.rpc.BadRequest whose field paths
//                      are the documented ones and whose text is valid UTF-8.
//   GetLetter,         parse, then DecodeLetterId of letter_id: a decoded id re-encodes to
//   CancelLetter       the canonical spelling of the one sent.
//   ListLetters        parse, then FilterHash and DecodePageToken as ListLetters calls them.
//   WatchLetterEvents  parse; the cursor check is in watch_cursor_fuzzer.cc.
//   (byte 5)           SendLetter text fields set from raw bytes, past the parser's UTF-8
//                      check, so the validator's own text checks see invalid UTF-8 too.
//   PreviewRoutes      parse, then ValidatePreviewRoutes: OK implies 1..1000 recipients, each
//   (byte 6)           naming a person or an organisation by one identifier; a refusal names
//                      only the documented paths.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "common/field_violations.h"
#include "common/letter_id.h"
#include "fuzz/fuzz_check.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/stubs/logging.h"
#include "services/ledger/page_token.h"
#include "services/ledger/send_letter_validation.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::fuzz {
namespace {

bool IsUtf8(std::string_view s) {
  return google::protobuf::internal::IsStructurallyValidUTF8(s.data(), static_cast<int>(s.size()));
}

// Code points of valid UTF-8 `s`: every byte that is not a continuation byte starts one.
size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// `field` with every "[<digits>]" replaced by "[i]", as send_letter_validation.h writes paths.
std::string PathPattern(std::string_view field) {
  std::string out;
  size_t i = 0;
  while (i < field.size()) {
    if (field[i] == '[') {
      size_t end = i + 1;
      while (end < field.size() && absl::ascii_isdigit(static_cast<unsigned char>(field[end]))) {
        ++end;
      }
      if (end > i + 1 && end < field.size() && field[end] == ']') {
        out += "[i]";
        i = end + 1;
        continue;
      }
    }
    out += field[i++];
  }
  return out;
}

// The field paths send_letter_validation.h documents, plus "recipient.person" and
// "recipient.organisation" (a person or organisation that holds neither kind of id), which it
// reports but does not list.
bool IsSendLetterField(std::string_view field) {
  static const auto* const kFields = new absl::flat_hash_set<std::string>{
      "recipient",
      "recipient.person",
      "recipient.person.norwegian_national_id",
      "recipient.person.danish_cpr",
      "recipient.organisation",
      "recipient.organisation.norwegian_org_number",
      "recipient.organisation.danish_cvr",
      "postal_address.name",
      "postal_address.address_lines",
      "postal_address.address_lines[i]",
      "postal_address.postal_code",
      "postal_address.city",
      "postal_address.country_code",
      "title",
      "documents",
      "documents[i].filename",
      "documents[i].media_type",
      "documents[i].content",
      "options.channel_policy",
      "options.print_if_unread_after",
      "options.security_level",
      "options.deliver_after",
      "reply_to",
      "reply_to.norwegian_org_number",
      "reply_to.danish_cvr",
      "external_reference",
      "idempotency_key",
  };
  return kFields->contains(PathPattern(field));
}

// A refusal as every RPC makes one: INVALID_ARGUMENT with a BadRequest naming fields that
// `known_field` accepts, all of it valid UTF-8 (the details travel as protobuf strings).
template <typename KnownField>
void CheckRefusal(const absl::Status& status, KnownField&& known_field) {
  UTPOST_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  UTPOST_FUZZ_CHECK(!status.message().empty());
  UTPOST_FUZZ_CHECK(IsUtf8(std::string_view(status.message().data(), status.message().size())));
  const std::optional<google::rpc::BadRequest> details = common::GetBadRequest(status);
  UTPOST_FUZZ_CHECK(details.has_value());
  UTPOST_FUZZ_CHECK(details->field_violations_size() > 0);
  for (const auto& violation : details->field_violations()) {
    if (!known_field(violation.field())) {
      std::fprintf(stderr, "undocumented field path: %s\n", violation.field().c_str());
    }
    UTPOST_FUZZ_CHECK(known_field(violation.field()));
    UTPOST_FUZZ_CHECK(!violation.description().empty());
    UTPOST_FUZZ_CHECK(IsUtf8(violation.description()));
  }
}

void CheckSendLetter(const v1::SendLetterRequest& request, const ledger::LetterLimits& limits) {
  const absl::Status status =
      ledger::ValidateSendLetter(request, limits, absl::FromUnixSeconds(1'790'000'000));
  if (!status.ok()) {
    CheckRefusal(status, IsSendLetterField);
    return;
  }
  UTPOST_FUZZ_CHECK(request.recipient().recipient_case() != v1::Recipient::RECIPIENT_NOT_SET);
  UTPOST_FUZZ_CHECK(IsUtf8(request.title()));
  const size_t title_chars = CodePoints(request.title());
  UTPOST_FUZZ_CHECK(title_chars >= 1 && title_chars <= static_cast<size_t>(limits.max_title_chars));
  UTPOST_FUZZ_CHECK(request.documents_size() >= 1 &&
                    request.documents_size() <= limits.max_documents);
  uint64_t total_bytes = 0;
  for (const v1::Document& doc : request.documents()) {
    UTPOST_FUZZ_CHECK(!doc.filename().empty() && doc.filename().size() <= 255);
    UTPOST_FUZZ_CHECK(IsUtf8(doc.filename()));
    UTPOST_FUZZ_CHECK(doc.filename().find('/') == std::string::npos);
    UTPOST_FUZZ_CHECK(!doc.media_type().empty() && !doc.content().empty());
    if (request.options().channel_policy() == v1::CHANNEL_POLICY_PRINT_ONLY) {
      UTPOST_FUZZ_CHECK(doc.media_type() == "application/pdf");
    }
    total_bytes += doc.content().size();
  }
  UTPOST_FUZZ_CHECK(total_bytes <= limits.max_total_bytes);
  UTPOST_FUZZ_CHECK(v1::ChannelPolicy_IsValid(request.options().channel_policy()));
  UTPOST_FUZZ_CHECK(v1::SecurityLevel_IsValid(request.options().security_level()));
  UTPOST_FUZZ_CHECK(IsUtf8(request.external_reference()));
  UTPOST_FUZZ_CHECK(request.idempotency_key().size() <= 128);
}

void FuzzSendLetter(std::string_view wire) {
  v1::SendLetterRequest request;
  if (!request.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) return;
  CheckSendLetter(request, ledger::LetterLimits{});
  // Limits small enough for a fuzzer's inputs to cross them.
  CheckSendLetter(request, ledger::LetterLimits{
                               .max_total_bytes = 64, .max_documents = 3, .max_title_chars = 8});
}

// Text fields set straight from the input, which the wire cannot carry (proto3 refuses invalid
// UTF-8 in strings), so the validator's own UTF-8, length and character checks see anything.
// The parts, separated by NUL bytes: title, two documents' filename, media type and content,
// external reference, idempotency key, postal name, one address line, postal code, city.
void FuzzSendLetterText(std::string_view input) {
  std::vector<std::string> parts;
  for (size_t start = 0; parts.size() < 13;) {
    const size_t end = input.find('\0', start);
    parts.emplace_back(
        input.substr(start, end == std::string_view::npos ? input.size() - start : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  parts.resize(13);
  v1::SendLetterRequest request;
  request.mutable_recipient()->mutable_organisation()->set_norwegian_org_number("974760673");
  request.set_title(parts[0]);
  for (int i = 0; i < 2; ++i) {
    v1::Document* doc = request.add_documents();
    doc->set_filename(parts[1 + 3 * i]);
    doc->set_media_type(parts[2 + 3 * i]);
    doc->set_content(parts[3 + 3 * i]);
  }
  request.set_external_reference(parts[7]);
  request.set_idempotency_key(parts[8]);
  if (!parts[9].empty()) {
    v1::PostalAddress* address = request.mutable_postal_address();
    address->set_name(parts[9]);
    address->add_address_lines(parts[10]);
    address->set_postal_code(parts[11]);
    address->set_city(parts[12]);
    address->set_country_code("NO");
  }
  CheckSendLetter(request, ledger::LetterLimits{});
}

// What GetLetter and CancelLetter do with letter_id before they touch the database.
void CheckLetterId(const std::string& letter_id) {
  absl::StatusOr<common::LetterIdBytes> id = common::DecodeLetterId(letter_id);
  if (!id.ok()) {
    UTPOST_FUZZ_CHECK(id.status().code() == absl::StatusCode::kInvalidArgument);
    UTPOST_FUZZ_CHECK(
        IsUtf8(std::string_view(id.status().message().data(), id.status().message().size())));
    return;
  }
  UTPOST_FUZZ_CHECK(letter_id.size() == common::kLetterIdLength);
  const std::string encoded = common::EncodeLetterId(*id);
  UTPOST_FUZZ_CHECK(encoded.size() == letter_id.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    const char sent = absl::ascii_toupper(static_cast<unsigned char>(letter_id[i]));
    UTPOST_FUZZ_CHECK(encoded[i] == sent || (encoded[i] == '1' && (sent == 'I' || sent == 'L')) ||
                      (encoded[i] == '0' && sent == 'O'));
  }
}

void FuzzLetterIdRequest(std::string_view wire, bool cancel) {
  if (cancel) {
    v1::CancelLetterRequest request;
    if (request.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) {
      CheckLetterId(request.letter_id());
    }
  } else {
    v1::GetLetterRequest request;
    if (request.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) {
      CheckLetterId(request.letter_id());
    }
  }
}

void FuzzListLetters(std::string_view wire) {
  v1::ListLettersRequest request;
  if (!request.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) return;
  const uint64_t filter_hash = ledger::FilterHash(request);
  // Paging does not change the filters.
  v1::ListLettersRequest next_page = request;
  next_page.set_page_size(request.page_size() + 1);
  next_page.set_page_token("x");
  UTPOST_FUZZ_CHECK(ledger::FilterHash(next_page) == filter_hash);

  if (request.page_token().empty()) return;
  absl::StatusOr<common::LetterIdBytes> before =
      ledger::DecodePageToken(request.page_token(), filter_hash);
  if (before.ok()) {
    UTPOST_FUZZ_CHECK(ledger::EncodePageToken(*before, filter_hash) == request.page_token());
  } else {
    CheckRefusal(before.status(), [](const std::string& field) { return field == "page_token"; });
  }
}

void FuzzWatchLetterEvents(std::string_view wire) {
  v1::WatchLetterEventsRequest request;
  if (!request.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) return;
  // A parsed request re-serializes to a form that parses to the same cursor.
  v1::WatchLetterEventsRequest again;
  UTPOST_FUZZ_CHECK(again.ParseFromString(request.SerializeAsString()));
  UTPOST_FUZZ_CHECK(again.after_sequence() == request.after_sequence());
}

// The paths ValidatePreviewRoutes documents: recipients, recipients[i].recipient and the
// recipient's own paths below it, options.*.
bool IsPreviewField(std::string_view field) {
  const std::string pattern = PathPattern(field);
  if (pattern == "recipients") return true;
  constexpr std::string_view kRecipient = "recipients[i].";
  if (pattern.rfind(kRecipient, 0) == 0) {
    const std::string rest = pattern.substr(kRecipient.size());
    return rest.rfind("recipient", 0) == 0 && IsSendLetterField(rest);
  }
  return pattern.rfind("options.", 0) == 0 && IsSendLetterField(pattern);
}

void FuzzPreviewRoutes(std::string_view wire) {
  v1::PreviewRoutesRequest request;
  if (!request.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) return;
  const absl::Status status =
      ledger::ValidatePreviewRoutes(request, ledger::LetterLimits{}, absl::Now());
  if (!status.ok()) {
    CheckRefusal(status, IsPreviewField);
    return;
  }
  UTPOST_FUZZ_CHECK(request.recipients_size() >= 1);
  UTPOST_FUZZ_CHECK(request.recipients_size() <= ledger::kMaxPreviewRecipients);
  for (const v1::PreviewRecipient& r : request.recipients()) {
    const v1::Recipient& who = r.recipient();
    UTPOST_FUZZ_CHECK(who.has_person() || who.has_organisation());
    if (who.has_person()) {
      UTPOST_FUZZ_CHECK(!who.person().norwegian_national_id().empty() ||
                        !who.person().danish_cpr().empty());
    } else {
      UTPOST_FUZZ_CHECK(!who.organisation().norwegian_org_number().empty() ||
                        !who.organisation().danish_cvr().empty());
    }
  }
}

}  // namespace
}  // namespace utpost::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Requests with invalid UTF-8 are refused by the parser, which also logs each one.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view wire(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0:
      utpost::fuzz::FuzzSendLetter(wire);
      break;
    case 1:
      utpost::fuzz::FuzzLetterIdRequest(wire, /*cancel=*/false);
      break;
    case 2:
      utpost::fuzz::FuzzListLetters(wire);
      break;
    case 3:
      utpost::fuzz::FuzzLetterIdRequest(wire, /*cancel=*/true);
      break;
    case 4:
      utpost::fuzz::FuzzWatchLetterEvents(wire);
      break;
    case 5:
      utpost::fuzz::FuzzSendLetterText(wire);
      break;
    case 6:
      utpost::fuzz::FuzzPreviewRoutes(wire);
      break;
  }
  return 0;
}
