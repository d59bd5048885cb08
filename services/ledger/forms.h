// The ledger's logic of citizen form submissions (utpost/v1/forms.proto): form types,
// submissions encrypted to the municipality on arrival, leased fetches, acknowledgement and
// rejection. No gRPC types: form_service.cc translates; tests call this directly.
//
// Every method takes the caller's org key (from its certificate). A municipality touches only
// its own form types and submissions: another's is NOT_FOUND. Every state change is one
// synced WriteBatch (with the receipt or notice letter it creates, through Ledger); a method
// returns only after it is durable. Thread-safe; methods block on disk I/O and public-key
// operations, so call them from a worker pool.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/keyed_mutex.h"
#include "common/letter_id.h"
#include "crypto/envelope.h"
#include "crypto/key_store.h"
#include "services/ledger/forms_config.h"
#include "services/ledger/ledger.h"
#include "storage/forms_store.h"
#include "utpost/v1/forms.pb.h"

namespace utpost::ledger {

class Forms {
 public:
  // Every reference must outlive the object. `ledger` creates the receipt and notice letters;
  // `store` is on the ledger's database. Without `metrics` nothing is counted.
  Forms(const FormsConfig& config, Ledger& ledger, storage::FormsStore& store,
        const crypto::KeyStore& keys, const common::Clock& clock, LedgerMetrics* metrics = nullptr);

  // Errors: see FormService.RegisterFormType.
  [[nodiscard]] absl::StatusOr<v1::RegisterFormTypeResponse> RegisterFormType(
      std::string_view caller, const v1::RegisterFormTypeRequest& request);
  // Errors: see FormService.GetFormType.
  [[nodiscard]] absl::StatusOr<v1::GetFormTypeResponse> GetFormType(
      std::string_view caller, const v1::GetFormTypeRequest& request) const;
  // Errors: see FormService.ListFormTypes.
  [[nodiscard]] absl::StatusOr<v1::ListFormTypesResponse> ListFormTypes(
      std::string_view caller, const v1::ListFormTypesRequest& request) const;

  // `portal` is the caller. Validates, encrypts the whole submission to the form type's
  // certificate (the plaintext never reaches the store), seals the citizen's identity, and
  // stores it pending, with its receipt letter if the form type asks, in one synced write.
  // Errors: see FormService.SubmitForm.
  [[nodiscard]] absl::StatusOr<v1::SubmitFormResponse> SubmitForm(
      std::string_view portal, const v1::SubmitFormRequest& request);

  // FetchSubmissions in two steps, so that a stream holds one envelope at a time: the first
  // leases up to request.max_submissions (0: config.max_per_fetch) of the caller's pending
  // submissions that are due (never fetched, or their lease expired), oldest first, until now
  // + config.lease_time, in one synced write, and returns their metadata; the second reads one
  // envelope (NOT_FOUND once the submission is archived or rejected meanwhile). Fetches of one
  // municipality are granted one at a time, so two never lease the same submission.
  // Errors: INVALID_ARGUMENT (max_submissions, form_type_id), UNAVAILABLE (storage).
  [[nodiscard]] absl::StatusOr<std::vector<v1::SubmissionInfo>> LeaseSubmissions(
      std::string_view caller, const v1::FetchSubmissionsRequest& request);
  [[nodiscard]] absl::StatusOr<std::string> ReadEnvelope(std::string_view caller,
                                                         std::string_view submission_id) const;

  // Errors: see FormService.AcknowledgeSubmission.
  [[nodiscard]] absl::StatusOr<v1::AcknowledgeSubmissionResponse> AcknowledgeSubmission(
      std::string_view caller, const v1::AcknowledgeSubmissionRequest& request);
  // Errors: see FormService.RejectSubmission.
  [[nodiscard]] absl::StatusOr<v1::RejectSubmissionResponse> RejectSubmission(
      std::string_view caller, const v1::RejectSubmissionRequest& request);
  // Errors: see FormService.ListSubmissions.
  [[nodiscard]] absl::StatusOr<v1::ListSubmissionsResponse> ListSubmissions(
      std::string_view caller, const v1::ListSubmissionsRequest& request) const;

  const FormsConfig& config() const { return config_; }

 private:
  // The caller's submission and its id bytes, or NOT_FOUND (also another organisation's).
  absl::StatusOr<std::pair<common::LetterIdBytes, storage::SubmissionRecord>> LoadOwn(
      std::string_view caller, std::string_view submission_id) const;
  // The CMS envelope of the submission described by `json` and `request`.
  absl::StatusOr<std::string> Encrypt(const std::string& certificate_pem, std::string_view json,
                                      const v1::SubmitFormRequest& request) const;
  absl::StatusOr<storage::v1::SubmissionPersonal> OpenPersonal(
      const storage::SubmissionRecord& record) const;

  const FormsConfig config_;
  Ledger& ledger_;
  storage::FormsStore& store_;
  crypto::Envelope envelope_;
  const common::Clock& clock_;
  LedgerMetrics* const metrics_;  // may be null
  common::LetterIdGenerator ids_;
  void Count(std::string_view municipality, std::string_view outcome, size_t n = 1) {
    if (metrics_ != nullptr) metrics_->FormSubmissions(municipality, outcome, n);
  }

  // Check-then-write of one form type, one submission and one idempotency key are
  // serialised; so are the leases of one municipality. Order: a municipality's fetch lock
  // before its submissions' locks.
  common::KeyedMutex form_type_locks_;
  common::KeyedMutex submission_locks_;
  common::KeyedMutex idempotency_locks_;
  common::KeyedMutex fetch_locks_;
};

}  // namespace utpost::ledger
