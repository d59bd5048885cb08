// A client of utpost.v1.FormService (utpost/v1/forms.proto): municipalities register form
// types, fetch, acknowledge and reject submissions; portals submit. Errors are absl::Status
// with google.rpc.BadRequest field violations kept as payload, as LetterClient's.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/cpp/utpost_client.h"
#include "utpost/v1/forms.grpc.pb.h"

namespace utpost::client {

// An OrganisationId from a Norwegian org number or Danish CVR (with or without its "NO" /
// "DK" prefix). INVALID_ARGUMENT naming what is wrong.
[[nodiscard]] absl::StatusOr<v1::OrganisationId> OrganisationFromIdentifier(std::string_view text);

class FormClient {
 public:
  // `timeout` bounds each unary call; a fetch stream has no deadline of its own.
  FormClient(std::shared_ptr<grpc::Channel> channel, ConnectionOptions options,
             absl::Duration timeout = absl::Seconds(60));

  [[nodiscard]] absl::StatusOr<v1::RegisterFormTypeResponse> RegisterFormType(
      const v1::FormType& form_type);
  // `municipality` empty: the caller's own form type.
  [[nodiscard]] absl::StatusOr<v1::FormType> GetFormType(
      std::string_view form_type_id, const v1::OrganisationId* municipality = nullptr);
  [[nodiscard]] absl::StatusOr<v1::ListFormTypesResponse> ListFormTypes(
      const v1::ListFormTypesRequest& request);
  [[nodiscard]] absl::StatusOr<v1::SubmitFormResponse> Submit(const v1::SubmitFormRequest& request);
  // Leases and streams up to request.max_submissions pending submissions to `on_submission`,
  // one at a time, until the server ends the stream or `on_submission` returns false (the
  // rest of the leased submissions are then offered again when their leases expire). Returns
  // the stream's end (OK when on_submission stopped it).
  [[nodiscard]] absl::Status Fetch(
      const v1::FetchSubmissionsRequest& request,
      const std::function<bool(const v1::FetchSubmissionsResponse&)>& on_submission);
  [[nodiscard]] absl::StatusOr<v1::AcknowledgeSubmissionResponse> Acknowledge(
      std::string_view submission_id);
  [[nodiscard]] absl::StatusOr<v1::RejectSubmissionResponse> Reject(std::string_view submission_id,
                                                                    std::string_view reason);
  [[nodiscard]] absl::StatusOr<v1::ListSubmissionsResponse> ListSubmissions(
      const v1::ListSubmissionsRequest& request);

 private:
  void Prepare(grpc::ClientContext& context, bool deadline = true) const;
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(grpc::Status (v1::FormService::Stub::*method)(grpc::ClientContext*,
                                                                              const Request&,
                                                                              Response*),
                                const Request& request);

  std::unique_ptr<v1::FormService::Stub> stub_;
  ConnectionOptions options_;
  absl::Duration timeout_;
};

}  // namespace utpost::client
