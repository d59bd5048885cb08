#include "services/ledger/forms.h"

#include <algorithm>
#include <deque>
#include <optional>

#include "absl/hash/hash.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/field_violations.h"
#include "common/ids.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/text_rules.h"
#include "crypto/cms.h"
#include "crypto/digest.h"
#include "crypto/secret.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "services/ledger/form_letters.h"
#include "services/ledger/form_validation.h"
#include "services/ledger/page_token.h"
#include "services/ledger/submission_mime.h"

namespace utpost::ledger {
namespace {

using common::FromProto;
using common::ToProto;

constexpr int kMaxReasonChars = 1000;
constexpr size_t kMaxFormTypeIdChars = 64;

std::string DeterministicBytes(const google::protobuf::MessageLite& message) {
  message.ByteSizeLong();
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeWithCachedSizes(&coded);
  return out;
}

std::string Sha256Of(std::string_view bytes) {
  crypto::Sha256 sha;
  sha.Update(bytes);
  return sha.Finish();
}

// The org key of a valid OrganisationId.
std::string OrgKeyOf(const v1::OrganisationId& org) {
  absl::StatusOr<std::string> key =
      org.has_norwegian_org_number()
          ? common::MakeOrgKey(common::IdKind::kNorwegianOrgNumber, org.norwegian_org_number())
          : common::MakeOrgKey(common::IdKind::kDanishCvr, org.danish_cvr());
  return key.ok() ? *key : std::string();
}

v1::OrganisationId OrgIdOf(std::string_view org_key) {
  v1::OrganisationId id;
  if (org_key.starts_with("DK")) {
    id.set_danish_cvr(std::string(org_key.substr(2)));
  } else {
    id.set_norwegian_org_number(std::string(org_key.substr(org_key.starts_with("NO") ? 2 : 0)));
  }
  return id;
}

bool AllowsPortal(const v1::FormType& form_type, std::string_view portal) {
  return std::any_of(form_type.allowed_portals().begin(), form_type.allowed_portals().end(),
                     [&](const v1::OrganisationId& org) { return OrgKeyOf(org) == portal; });
}

// The request's deterministic serialization with each attachment's content replaced by its
// SHA-256, so that fingerprinting a large request copies none of its attachments.
std::string FingerprintedBytes(const v1::SubmitFormRequest& request) {
  v1::SubmitFormRequest skeleton;
  *skeleton.mutable_municipality() = request.municipality();
  skeleton.set_form_type_id(request.form_type_id());
  skeleton.set_form_type_version(request.form_type_version());
  *skeleton.mutable_citizen() = request.citizen();
  *skeleton.mutable_values() = request.values();
  for (const v1::Attachment& attachment : request.attachments()) {
    v1::Attachment* a = skeleton.add_attachments();
    a->set_filename(attachment.filename());
    a->set_media_type(attachment.media_type());
    a->set_content(Sha256Of(attachment.content()));
  }
  skeleton.set_idempotency_key(request.idempotency_key());
  return DeterministicBytes(skeleton);
}

// SubmissionIdempotencyRecord.fingerprint_version of what Fingerprint computes.
constexpr uint32_t kFingerprintVersion = 1;

// Version 1: GMAC of FingerprintedBytes under the ledger's fingerprint key, with the record's
// `nonce`. Keyed: a form may hold little more than a national identity number and a choice,
// which an unkeyed hash would let whoever reads the database find by trying them all.
std::string Fingerprint(const v1::SubmitFormRequest& request, const crypto::SecretBytes& key,
                        std::string_view nonce) {
  std::string bytes = FingerprintedBytes(request);
  crypto::Gmac gmac(key, nonce);
  gmac.Update(bytes);
  crypto::Wipe(bytes);
  return gmac.Finish();
}

// True if `previous` was recorded for a request equal to `request`. Version 0, as written
// before versions were: SHA-256 of FingerprintedBytes. DATA_LOSS for a version-1 record
// without a whole nonce, FAILED_PRECONDITION for a version this release does not know.
absl::StatusOr<bool> SameSubmission(const storage::v1::SubmissionIdempotencyRecord& previous,
                                    const v1::SubmitFormRequest& request,
                                    const crypto::SecretBytes& key) {
  switch (previous.fingerprint_version()) {
    case kFingerprintVersion:
      if (previous.fingerprint_nonce().size() != crypto::Gmac::kNonceBytes) {
        return absl::DataLossError(absl::StrCat(
            "idempotency record of submission ", previous.submission_id(),
            " has a fingerprint nonce of ", previous.fingerprint_nonce().size(), " bytes"));
      }
      return previous.request_sha256() == Fingerprint(request, key, previous.fingerprint_nonce());
    case 0: {
      std::string bytes = FingerprintedBytes(request);
      const bool same = previous.request_sha256() == Sha256Of(bytes);
      crypto::Wipe(bytes);
      return same;
    }
    default:
      return absl::FailedPreconditionError(
          absl::StrCat("idempotency record of submission ", previous.submission_id(),
                       " has fingerprint version ", previous.fingerprint_version(),
                       ", newer than this release knows"));
  }
}

absl::StatusOr<common::LetterIdBytes> ParseSubmissionId(std::string_view id) {
  absl::StatusOr<common::LetterIdBytes> bytes = common::DecodeLetterId(id);
  if (!bytes.ok()) {
    return common::FieldError(absl::StatusCode::kInvalidArgument, "submission_id",
                              std::string(bytes.status().message()));
  }
  return bytes;
}

absl::Status SubmissionNotFound(std::string_view id) {
  return absl::NotFoundError(absl::StrCat("submission ", common::Av(id), " not found"));
}

uint64_t SubmissionFilterHash(const v1::ListSubmissionsRequest& request) {
  return absl::HashOf(static_cast<int>(request.state()), request.form_type_id());
}

int64_t UnixMs(absl::Time t) { return absl::ToUnixMillis(t); }

}  // namespace

Forms::Forms(const FormsConfig& config, Ledger& ledger, storage::FormsStore& store,
             const crypto::KeyStore& keys, const common::Clock& clock, LedgerMetrics* metrics)
    : config_(config),
      ledger_(ledger),
      store_(store),
      envelope_(keys),
      clock_(clock),
      metrics_(metrics) {}

absl::StatusOr<v1::RegisterFormTypeResponse> Forms::RegisterFormType(
    std::string_view caller, const v1::RegisterFormTypeRequest& request) {
  if (!request.has_form_type()) {
    return common::FieldError(absl::StatusCode::kInvalidArgument, "form_type", "is required");
  }
  UTPOST_RETURN_IF_ERROR(ValidateFormType(request.form_type(), config_));
  v1::FormType definition = request.form_type();
  definition.clear_municipality();
  definition.clear_update_time();
  const std::string hash = Sha256Of(DeterministicBytes(definition));

  const std::string& id = definition.form_type_id();
  common::KeyedMutex::Lock lock(form_type_locks_, absl::StrCat(common::Av(caller), "/", id));
  UTPOST_ASSIGN_OR_RETURN(std::optional<storage::FormTypeRecord> stored,
                          store_.GetFormType(caller, id));
  v1::RegisterFormTypeResponse response;
  if (stored) {
    const uint32_t stored_version = stored->form_type().version();
    if (definition.version() < stored_version) {
      return common::FieldError(
          absl::StatusCode::kFailedPrecondition, "form_type.version",
          absl::StrCat("is ", definition.version(), "; version ", stored_version,
                       " is registered: a changed definition needs a greater version"));
    }
    if (definition.version() == stored_version) {
      if (stored->definition_sha256() != hash) {
        return common::FieldError(
            absl::StatusCode::kAlreadyExists, "form_type.version",
            absl::StrCat("version ", stored_version,
                         " is registered with another definition; a changed definition needs a "
                         "greater version"));
      }
      *response.mutable_form_type() = std::move(*stored->mutable_form_type());
      response.set_replayed(true);
      return response;
    }
  }
  storage::FormTypeRecord record;
  *record.mutable_form_type() = std::move(definition);
  *record.mutable_form_type()->mutable_municipality() = OrgIdOf(caller);
  *record.mutable_form_type()->mutable_update_time() = ToProto(clock_.Now());
  record.set_definition_sha256(hash);
  UTPOST_RETURN_IF_ERROR(store_.PutFormType(caller, record));
  *response.mutable_form_type() = std::move(*record.mutable_form_type());
  return response;
}

absl::StatusOr<v1::GetFormTypeResponse> Forms::GetFormType(
    std::string_view caller, const v1::GetFormTypeRequest& request) const {
  common::FieldViolations v;
  if (request.has_municipality()) {
    common::CheckOrganisationId(v, request.municipality(), "municipality");
  }
  if (!IsFormTypeId(request.form_type_id())) {
    v.Add("form_type_id", "must be 1..64 characters of a-z, 0-9 and -, starting with a letter");
  }
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  const std::string municipality =
      request.has_municipality() ? OrgKeyOf(request.municipality()) : std::string(caller);
  UTPOST_ASSIGN_OR_RETURN(std::optional<storage::FormTypeRecord> stored,
                          store_.GetFormType(municipality, request.form_type_id()));
  // A form type that the caller neither owns nor may submit to is as absent as an unknown one.
  if (!stored || (municipality != caller && !AllowsPortal(stored->form_type(), caller))) {
    return common::FieldError(absl::StatusCode::kNotFound, "form_type_id",
                              absl::StrCat("no form type \"", request.form_type_id(), "\" of ",
                                           municipality, " is available to ", common::Av(caller)));
  }
  v1::GetFormTypeResponse response;
  *response.mutable_form_type() = std::move(*stored->mutable_form_type());
  return response;
}

absl::StatusOr<v1::ListFormTypesResponse> Forms::ListFormTypes(
    std::string_view caller, const v1::ListFormTypesRequest& request) const {
  common::FieldViolations v;
  if (request.page_size() < 0 || request.page_size() > 1000) {
    v.Add("page_size", "must be between 0 and 1000");
  }
  std::string after;
  if (!request.page_token().empty()) {
    if (!absl::WebSafeBase64Unescape(common::Av(request.page_token()), &after) ||
        !IsFormTypeId(after) || absl::WebSafeBase64Escape(after) != request.page_token()) {
      v.Add("page_token", "is not a token this server issued");
    }
  }
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  const size_t page_size = request.page_size() == 0 ? 50 : request.page_size();
  UTPOST_ASSIGN_OR_RETURN(std::vector<storage::FormTypeRecord> records,
                          store_.ListFormTypes(caller, after, page_size + 1));
  v1::ListFormTypesResponse response;
  for (size_t i = 0; i < records.size() && i < page_size; ++i) {
    *response.add_form_types() = std::move(*records[i].mutable_form_type());
  }
  if (records.size() > page_size) {
    response.set_next_page_token(absl::WebSafeBase64Escape(
        response.form_types(response.form_types_size() - 1).form_type_id()));
  }
  return response;
}

absl::StatusOr<std::string> Forms::Encrypt(const std::string& certificate_pem,
                                           std::string_view json,
                                           const v1::SubmitFormRequest& request) const {
  const std::string boundary = ChooseBoundary(
      json, request, [] { return std::string(crypto::SecretBytes::Random(16).view()); });
  std::string envelope;
  UTPOST_ASSIGN_OR_RETURN(
      std::unique_ptr<crypto::CmsEnvelopeWriter> writer,
      crypto::CmsEnvelopeWriter::Create(certificate_pem, [&envelope](std::string_view der) {
        envelope.append(der);
        return absl::OkStatus();
      }));
  UTPOST_RETURN_IF_ERROR(WriteSubmissionMime(
      json, request, boundary, [&writer](std::string_view bytes) { return writer->Write(bytes); }));
  UTPOST_RETURN_IF_ERROR(writer->Finish());
  return envelope;
}

absl::StatusOr<v1::SubmitFormResponse> Forms::SubmitForm(std::string_view portal,
                                                         const v1::SubmitFormRequest& request) {
  UTPOST_RETURN_IF_ERROR(ValidateSubmitRequest(request, config_));
  const std::string municipality = OrgKeyOf(request.municipality());
  UTPOST_ASSIGN_OR_RETURN(std::optional<storage::FormTypeRecord> stored,
                          store_.GetFormType(municipality, request.form_type_id()));
  if (!stored) {
    return common::FieldError(
        absl::StatusCode::kNotFound, "form_type_id",
        absl::StrCat(municipality, " has no form type \"", request.form_type_id(), "\""));
  }
  const v1::FormType& form_type = stored->form_type();
  if (!AllowsPortal(form_type, portal)) {
    return common::FieldError(
        absl::StatusCode::kPermissionDenied, "form_type_id",
        absl::StrCat("form type \"", form_type.form_type_id(), "\" of ", municipality,
                     " does not allow ", common::Av(portal), " to submit it"));
  }
  if (request.form_type_version() != 0 && request.form_type_version() != form_type.version()) {
    return common::FieldError(
        absl::StatusCode::kFailedPrecondition, "form_type_version",
        absl::StrCat("is ", request.form_type_version(), "; the form type is at version ",
                     form_type.version(), ": fill in the current version"));
  }
  UTPOST_RETURN_IF_ERROR(ValidateSubmission(request, form_type, config_));

  // Check-then-write of one idempotency key is serialised so that two concurrent retries
  // cannot both create a submission.
  std::optional<common::KeyedMutex::Lock> idempotency_lock;
  const std::string& key = request.idempotency_key();
  if (!key.empty()) {
    idempotency_lock.emplace(idempotency_locks_, absl::StrCat(common::Av(portal), "/", key));
    UTPOST_ASSIGN_OR_RETURN(auto previous, store_.GetIdempotency(portal, key));
    if (previous) {
      UTPOST_ASSIGN_OR_RETURN(const bool same,
                              SameSubmission(*previous, request, ledger_.fingerprint_key()));
      if (!same) {
        return common::FieldError(
            absl::StatusCode::kAlreadyExists, "idempotency_key",
            absl::StrCat("was already used for a different request (submission ",
                         previous->submission_id(), "); use a new key for a new submission"));
      }
      v1::SubmitFormResponse response;
      response.set_submission_id(previous->submission_id());
      *response.mutable_receipt_time() = previous->receipt_time();
      response.set_receipt_letter_id(previous->receipt_letter_id());
      response.set_replayed(true);
      return response;
    }
  }

  const absl::Time now = clock_.Now();
  const std::string submission_id = ids_.Next(now);
  UTPOST_ASSIGN_OR_RETURN(common::LetterIdBytes id, common::DecodeLetterId(submission_id));
  const google::protobuf::Timestamp now_proto = ToProto(now);

  // The whole submission is encrypted to the municipality before anything is written.
  SubmissionHeader header;
  header.submission_id = submission_id;
  header.form_type_id = form_type.form_type_id();
  header.form_type_version = form_type.version();
  header.form_title = form_type.title();
  header.municipality = municipality;
  header.portal = std::string(portal);
  header.receipt_time = now;
  std::string json = SubmissionJson(header, request);
  absl::StatusOr<std::string> envelope =
      Encrypt(form_type.encryption_certificate_pem(), json, request);
  crypto::Wipe(json);
  UTPOST_RETURN_IF_ERROR(envelope.status());

  storage::v1::SubmissionPersonal personal;
  *personal.mutable_citizen() = request.citizen();
  personal.set_form_title(form_type.title());
  std::string plain_personal = DeterministicBytes(personal);
  absl::StatusOr<crypto::EncryptedDocument> sealed =
      envelope_.Seal(plain_personal, crypto::SubmissionPersonalAad(submission_id));
  crypto::Wipe(plain_personal);
  UTPOST_RETURN_IF_ERROR(sealed.status());

  storage::NewSubmission submission;
  submission.id = id;
  storage::SubmissionRecord& record = submission.record;
  v1::SubmissionInfo& info = *record.mutable_info();
  info.set_submission_id(submission_id);
  info.set_form_type_id(form_type.form_type_id());
  info.set_form_type_version(form_type.version());
  *info.mutable_municipality() = request.municipality();
  *info.mutable_portal() = OrgIdOf(portal);
  *info.mutable_receipt_time() = now_proto;
  info.set_state(v1::SUBMISSION_STATE_PENDING);
  info.set_envelope_size_bytes(envelope->size());
  info.set_attachment_count(static_cast<uint32_t>(request.attachments_size()));
  record.set_municipality(municipality);
  record.set_portal(std::string(portal));
  record.set_sealed_personal(sealed->Serialize());
  record.set_due_unix_ms(UnixMs(now));
  submission.envelope = *std::move(envelope);
  if (!key.empty()) {
    submission.idempotency_key = key;
    const crypto::SecretBytes nonce = crypto::SecretBytes::Random(crypto::Gmac::kNonceBytes);
    submission.idempotency.set_request_sha256(
        Fingerprint(request, ledger_.fingerprint_key(), nonce.view()));
    submission.idempotency.set_fingerprint_nonce(std::string(nonce.view()));
    submission.idempotency.set_fingerprint_version(kFingerprintVersion);
    submission.idempotency.set_submission_id(submission_id);
    *submission.idempotency.mutable_receipt_time() = now_proto;
  }

  v1::SubmitFormResponse response;
  response.set_submission_id(submission_id);
  *response.mutable_receipt_time() = now_proto;
  if (!form_type.receipt_letter()) {
    UTPOST_RETURN_IF_ERROR(store_.CommitNewSubmission(submission, nullptr));
    Count(municipality, "accepted");
    return response;
  }
  FormLetterFacts facts{municipality, request.citizen(), form_type.title(), submission_id, now};
  UTPOST_ASSIGN_OR_RETURN(v1::SendLetterRequest receipt, ReceiptLetter(facts));
  UTPOST_ASSIGN_OR_RETURN(
      v1::SendLetterResponse letter,
      ledger_.CreateLetterWith(municipality, receipt, [&](const storage::NewLetter& new_letter) {
        const std::string& letter_id = new_letter.record.letter_id();
        record.mutable_info()->set_receipt_letter_id(letter_id);
        if (!key.empty()) submission.idempotency.set_receipt_letter_id(letter_id);
        return store_.CommitNewSubmission(submission, &new_letter);
      }));
  Count(municipality, "accepted");
  response.set_receipt_letter_id(letter.letter_id());
  return response;
}

absl::StatusOr<std::pair<common::LetterIdBytes, storage::SubmissionRecord>> Forms::LoadOwn(
    std::string_view caller, std::string_view submission_id) const {
  UTPOST_ASSIGN_OR_RETURN(common::LetterIdBytes id, ParseSubmissionId(submission_id));
  UTPOST_ASSIGN_OR_RETURN(std::optional<storage::SubmissionRecord> record,
                          store_.GetSubmission(id));
  // Another organisation's submission is indistinguishable from one that does not exist.
  if (!record || record->municipality() != caller) return SubmissionNotFound(submission_id);
  return std::make_pair(id, std::move(*record));
}

absl::StatusOr<std::vector<v1::SubmissionInfo>> Forms::LeaseSubmissions(
    std::string_view caller, const v1::FetchSubmissionsRequest& request) {
  common::FieldViolations v;
  if (request.max_submissions() > static_cast<uint32_t>(config_.max_per_fetch)) {
    v.Add("max_submissions", absl::StrCat("must be at most ", config_.max_per_fetch));
  }
  if (!request.form_type_id().empty() && !IsFormTypeId(request.form_type_id())) {
    v.Add("form_type_id", "must be 1..64 characters of a-z, 0-9 and -, starting with a letter");
  }
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  const size_t max =
      request.max_submissions() == 0 ? config_.max_per_fetch : request.max_submissions();
  common::KeyedMutex::Lock fetch_lock(fetch_locks_, std::string(caller));
  const absl::Time now = clock_.Now();
  const bool filtered = !request.form_type_id().empty();
  // A filtered fetch may pass over other form types' submissions; the scan is bounded.
  const size_t scan = filtered ? static_cast<size_t>(config_.list_max_scan) : max;
  UTPOST_ASSIGN_OR_RETURN(std::vector<storage::PendingEntry> due,
                          store_.ScanPending(caller, UnixMs(now), scan));
  std::deque<common::KeyedMutex::Lock> locks;
  std::vector<storage::SubmissionChange> changes;
  const absl::Time lease_end = now + config_.lease_time;
  for (const storage::PendingEntry& entry : due) {
    if (changes.size() == max) break;
    locks.emplace_back(submission_locks_, common::IdBytesKey(entry.id));
    UTPOST_ASSIGN_OR_RETURN(std::optional<storage::SubmissionRecord> record,
                            store_.GetSubmission(entry.id));
    if (!record) return absl::DataLossError("pending entry of a submission that does not exist");
    // Acknowledged or rejected since the scan, or moved by another lease: not due here.
    if (record->info().state() != v1::SUBMISSION_STATE_PENDING ||
        record->due_unix_ms() != entry.due_unix_ms) {
      continue;
    }
    if (filtered && record->info().form_type_id() != request.form_type_id()) continue;
    storage::SubmissionChange& change = changes.emplace_back();
    change.id = entry.id;
    change.pending_due_before = record->due_unix_ms();
    record->set_due_unix_ms(UnixMs(lease_end));
    v1::SubmissionInfo& info = *record->mutable_info();
    info.set_fetch_count(info.fetch_count() + 1);
    *info.mutable_lease_expire_time() = ToProto(absl::FromUnixMillis(UnixMs(lease_end)));
    change.record = std::move(*record);
  }
  if (!changes.empty()) UTPOST_RETURN_IF_ERROR(store_.CommitChanges(changes, nullptr));
  Count(caller, "fetched", changes.size());
  std::vector<v1::SubmissionInfo> leased;
  leased.reserve(changes.size());
  for (storage::SubmissionChange& change : changes) {
    leased.push_back(std::move(*change.record.mutable_info()));
  }
  return leased;
}

absl::StatusOr<std::string> Forms::ReadEnvelope(std::string_view caller,
                                                std::string_view submission_id) const {
  UTPOST_ASSIGN_OR_RETURN(auto loaded, LoadOwn(caller, submission_id));
  return store_.GetEnvelope(loaded.first);
}

absl::StatusOr<v1::AcknowledgeSubmissionResponse> Forms::AcknowledgeSubmission(
    std::string_view caller, const v1::AcknowledgeSubmissionRequest& request) {
  UTPOST_ASSIGN_OR_RETURN(common::LetterIdBytes id, ParseSubmissionId(request.submission_id()));
  common::KeyedMutex::Lock lock(submission_locks_, common::IdBytesKey(id));
  UTPOST_ASSIGN_OR_RETURN(auto loaded, LoadOwn(caller, request.submission_id()));
  storage::SubmissionRecord& record = loaded.second;
  v1::AcknowledgeSubmissionResponse response;
  switch (record.info().state()) {
    case v1::SUBMISSION_STATE_ARCHIVED:
      *response.mutable_submission() = std::move(*record.mutable_info());
      response.set_replayed(true);
      return response;
    case v1::SUBMISSION_STATE_REJECTED:
      return absl::FailedPreconditionError(absl::StrCat(
          "submission ", request.submission_id(), " was rejected; it cannot be acknowledged"));
    default:
      break;
  }
  storage::SubmissionChange change;
  change.id = id;
  change.pending_due_before = record.due_unix_ms();
  change.delete_envelope = true;
  record.clear_sealed_personal();
  v1::SubmissionInfo& info = *record.mutable_info();
  info.set_state(v1::SUBMISSION_STATE_ARCHIVED);
  *info.mutable_state_time() = ToProto(clock_.Now());
  info.clear_lease_expire_time();
  change.record = std::move(record);
  UTPOST_RETURN_IF_ERROR(store_.CommitChanges({change}, nullptr));
  Count(caller, "acknowledged");
  *response.mutable_submission() = std::move(*change.record.mutable_info());
  return response;
}

absl::StatusOr<storage::v1::SubmissionPersonal> Forms::OpenPersonal(
    const storage::SubmissionRecord& record) const {
  UTPOST_ASSIGN_OR_RETURN(crypto::EncryptedDocument sealed,
                          crypto::EncryptedDocument::Parse(record.sealed_personal()));
  UTPOST_ASSIGN_OR_RETURN(
      std::string plain,
      envelope_.Open(sealed, crypto::SubmissionPersonalAad(record.info().submission_id())));
  storage::v1::SubmissionPersonal personal;
  const bool parsed = personal.ParseFromString(plain);
  crypto::Wipe(plain);
  if (!parsed) return absl::DataLossError("sealed submission data does not parse");
  return personal;
}

absl::StatusOr<v1::RejectSubmissionResponse> Forms::RejectSubmission(
    std::string_view caller, const v1::RejectSubmissionRequest& request) {
  common::FieldViolations v;
  if (!common::DecodeLetterId(request.submission_id()).ok()) {
    v.Add("submission_id", "is not a submission id (26 characters, Crockford base32)");
  }
  common::CheckText(v, "reason", request.reason(), 1, kMaxReasonChars);
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  UTPOST_ASSIGN_OR_RETURN(common::LetterIdBytes id, ParseSubmissionId(request.submission_id()));
  common::KeyedMutex::Lock lock(submission_locks_, common::IdBytesKey(id));
  UTPOST_ASSIGN_OR_RETURN(auto loaded, LoadOwn(caller, request.submission_id()));
  storage::SubmissionRecord& record = loaded.second;
  v1::RejectSubmissionResponse response;
  switch (record.info().state()) {
    case v1::SUBMISSION_STATE_REJECTED:
      *response.mutable_submission() = std::move(*record.mutable_info());
      response.set_replayed(true);
      return response;
    case v1::SUBMISSION_STATE_ARCHIVED:
      return absl::FailedPreconditionError(absl::StrCat(
          "submission ", request.submission_id(), " was acknowledged; it cannot be rejected"));
    default:
      break;
  }
  UTPOST_ASSIGN_OR_RETURN(storage::v1::SubmissionPersonal personal, OpenPersonal(record));
  const FormLetterFacts facts{std::string(caller), personal.citizen(), personal.form_title(),
                              record.info().submission_id(),
                              FromProto(record.info().receipt_time())};
  UTPOST_ASSIGN_OR_RETURN(v1::SendLetterRequest notice, NoticeLetter(facts, request.reason()));

  storage::SubmissionChange change;
  change.id = id;
  change.pending_due_before = record.due_unix_ms();
  change.delete_envelope = true;
  record.clear_sealed_personal();
  v1::SubmissionInfo& info = *record.mutable_info();
  info.set_state(v1::SUBMISSION_STATE_REJECTED);
  *info.mutable_state_time() = ToProto(clock_.Now());
  info.clear_lease_expire_time();
  change.record = std::move(record);
  UTPOST_RETURN_IF_ERROR(ledger_
                             .CreateLetterWith(caller, notice,
                                               [&](const storage::NewLetter& letter) {
                                                 change.record.mutable_info()->set_notice_letter_id(
                                                     letter.record.letter_id());
                                                 return store_.CommitChanges({change}, &letter);
                                               })
                             .status());
  Count(caller, "rejected");
  *response.mutable_submission() = std::move(*change.record.mutable_info());
  return response;
}

absl::StatusOr<v1::ListSubmissionsResponse> Forms::ListSubmissions(
    std::string_view caller, const v1::ListSubmissionsRequest& request) const {
  common::FieldViolations v;
  if (request.page_size() < 0 || request.page_size() > 1000) {
    v.Add("page_size", "must be between 0 and 1000");
  }
  if (!v1::SubmissionState_IsValid(request.state())) {
    v.Add("state", absl::StrCat("unknown value ", static_cast<int>(request.state())));
  }
  if (!request.form_type_id().empty() && (request.form_type_id().size() > kMaxFormTypeIdChars ||
                                          !IsFormTypeId(request.form_type_id()))) {
    v.Add("form_type_id", "must be 1..64 characters of a-z, 0-9 and -, starting with a letter");
  }
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  const uint64_t filter_hash = SubmissionFilterHash(request);
  std::optional<common::LetterIdBytes> before;
  if (!request.page_token().empty()) {
    UTPOST_ASSIGN_OR_RETURN(before, DecodePageToken(request.page_token(), filter_hash));
  }
  const size_t page_size = request.page_size() == 0 ? 50 : request.page_size();
  const bool filtered =
      request.state() != v1::SUBMISSION_STATE_UNSPECIFIED || !request.form_type_id().empty();
  v1::ListSubmissionsResponse response;
  size_t scanned = 0;
  bool exhausted = false;
  std::optional<common::LetterIdBytes> last;
  while (static_cast<size_t>(response.submissions_size()) < page_size &&
         scanned < static_cast<size_t>(config_.list_max_scan)) {
    const size_t want = !filtered ? page_size - response.submissions_size()
                                  : std::min<size_t>(256, config_.list_max_scan - scanned);
    UTPOST_ASSIGN_OR_RETURN(auto ids, store_.ListSubmissionIds(caller, before, want));
    if (ids.size() < want) exhausted = true;
    for (const auto& id : ids) {
      ++scanned;
      last = id;
      UTPOST_ASSIGN_OR_RETURN(auto record, store_.GetSubmission(id));
      if (!record) return absl::DataLossError("list entry of a submission that does not exist");
      const bool match = (request.state() == v1::SUBMISSION_STATE_UNSPECIFIED ||
                          record->info().state() == request.state()) &&
                         (request.form_type_id().empty() ||
                          record->info().form_type_id() == request.form_type_id());
      if (match) *response.add_submissions() = std::move(*record->mutable_info());
      if (static_cast<size_t>(response.submissions_size()) == page_size) break;
    }
    if (exhausted || ids.empty()) break;
    before = last;
  }
  if (!exhausted && last) response.set_next_page_token(EncodePageToken(*last, filter_hash));
  return response;
}

}  // namespace utpost::ledger
