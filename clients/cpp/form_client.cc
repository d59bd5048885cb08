#include "clients/cpp/form_client.h"

#include "absl/strings/ascii.h"
#include "clients/cpp/shard_follow.h"
#include "common/call_headers.h"
#include "common/grpc_status.h"
#include "common/ids.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace utpost::client {

absl::StatusOr<v1::OrganisationId> OrganisationFromIdentifier(std::string_view text) {
  std::string digits(absl::StripAsciiWhitespace(common::Av(text)));
  std::string prefix;
  if (digits.size() > 2 && absl::ascii_isalpha(digits[0]) && absl::ascii_isalpha(digits[1])) {
    prefix = absl::AsciiStrToUpper(digits.substr(0, 2));
    digits = digits.substr(2);
  }
  v1::OrganisationId id;
  if ((prefix.empty() || prefix == "NO") && digits.size() == 9) {
    UTPOST_RETURN_IF_ERROR(common::ValidateNorwegianOrgNumber(digits));
    id.set_norwegian_org_number(digits);
  } else if ((prefix.empty() || prefix == "DK") && digits.size() == 8) {
    UTPOST_RETURN_IF_ERROR(common::ValidateDanishCvr(digits));
    id.set_danish_cvr(digits);
  } else {
    return absl::InvalidArgumentError(
        "an organisation is a Norwegian org number (9 digits) or a Danish CVR (8 digits), "
        "optionally prefixed NO or DK");
  }
  return id;
}

FormClient::FormClient(std::shared_ptr<grpc::Channel> channel, ConnectionOptions options,
                       absl::Duration timeout)
    : stub_(v1::FormService::NewStub(channel)), options_(std::move(options)), timeout_(timeout) {}

void FormClient::Prepare(grpc::ClientContext& context, bool deadline) const {
  if (deadline) context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  context.set_wait_for_ready(options_.wait_for_ready);
  if (options_.insecure) {
    context.AddMetadata(common::kInsecureOrganisationHeader, options_.organisation);
  }
}

template <typename Request, typename Response>
absl::StatusOr<Response> FormClient::Call(
    grpc::Status (v1::FormService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    const Request& request) {
  for (int hops = 0;;) {
    grpc::ClientContext context;
    Prepare(context);
    Response response;
    absl::Status status =
        common::FromGrpcStatus((stub_.get()->*method)(&context, request, &response));
    if (status.ok()) return response;
    // Another ledger shard serves the organisation: call it there from now on.
    if (!FollowShard<v1::FormService>(status, hops, stub_, options_)) return status;
  }
}

absl::StatusOr<v1::RegisterFormTypeResponse> FormClient::RegisterFormType(
    const v1::FormType& form_type) {
  v1::RegisterFormTypeRequest request;
  *request.mutable_form_type() = form_type;
  return Call(&v1::FormService::Stub::RegisterFormType, request);
}

absl::StatusOr<v1::FormType> FormClient::GetFormType(std::string_view form_type_id,
                                                     const v1::OrganisationId* municipality) {
  v1::GetFormTypeRequest request;
  request.set_form_type_id(std::string(form_type_id));
  if (municipality != nullptr) *request.mutable_municipality() = *municipality;
  UTPOST_ASSIGN_OR_RETURN(v1::GetFormTypeResponse response,
                          Call(&v1::FormService::Stub::GetFormType, request));
  return std::move(*response.mutable_form_type());
}

absl::StatusOr<v1::ListFormTypesResponse> FormClient::ListFormTypes(
    const v1::ListFormTypesRequest& request) {
  return Call(&v1::FormService::Stub::ListFormTypes, request);
}

absl::StatusOr<v1::SubmitFormResponse> FormClient::Submit(const v1::SubmitFormRequest& request) {
  return Call(&v1::FormService::Stub::SubmitForm, request);
}

absl::Status FormClient::Fetch(
    const v1::FetchSubmissionsRequest& request,
    const std::function<bool(const v1::FetchSubmissionsResponse&)>& on_submission) {
  for (int hops = 0;;) {
    grpc::ClientContext context;
    Prepare(context, /*deadline=*/false);
    auto reader = stub_->FetchSubmissions(&context, request);
    v1::FetchSubmissionsResponse response;
    bool any = false;
    while (reader->Read(&response)) {
      any = true;
      if (!on_submission(response)) {
        context.TryCancel();
        reader->Finish().ok();  // the stream ends CANCELLED, as asked
        return absl::OkStatus();
      }
    }
    absl::Status status = common::FromGrpcStatus(reader->Finish());
    // A stream refused at once by the wrong ledger shard is opened again at the right one.
    if (any || !FollowShard<v1::FormService>(status, hops, stub_, options_)) return status;
  }
}

absl::StatusOr<v1::AcknowledgeSubmissionResponse> FormClient::Acknowledge(
    std::string_view submission_id) {
  v1::AcknowledgeSubmissionRequest request;
  request.set_submission_id(std::string(submission_id));
  return Call(&v1::FormService::Stub::AcknowledgeSubmission, request);
}

absl::StatusOr<v1::RejectSubmissionResponse> FormClient::Reject(std::string_view submission_id,
                                                                std::string_view reason) {
  v1::RejectSubmissionRequest request;
  request.set_submission_id(std::string(submission_id));
  request.set_reason(std::string(reason));
  return Call(&v1::FormService::Stub::RejectSubmission, request);
}

absl::StatusOr<v1::ListSubmissionsResponse> FormClient::ListSubmissions(
    const v1::ListSubmissionsRequest& request) {
  return Call(&v1::FormService::Stub::ListSubmissions, request);
}

}  // namespace utpost::client
