// The gRPC handlers of utpost.v1.FormService: thin. Unary methods run the shared call path
// (services/common/unary_call.h) and hand the parsed request to the form logic (forms.h);
// FetchSubmissions leases on the executor and then streams one submission per message, reading
// each envelope on the executor just before it is written, so a stream holds at most one
// envelope. gRPC's threads never block on the disk nor parse a large request.
#pragma once

#include <mutex>
#include <set>

#include "services/common/admission.h"
#include "services/common/executor.h"
#include "services/common/identity.h"
#include "services/common/raw_request.h"
#include "services/common/unary_call.h"
#include "services/ledger/forms.h"
#include "utpost/v1/forms.grpc.pb.h"

namespace utpost::ledger {

class FetchReactor;

using RawFormService = v1::FormService::WithRawCallbackMethod_RegisterFormType<
    v1::FormService::WithRawCallbackMethod_GetFormType<
        v1::FormService::WithRawCallbackMethod_ListFormTypes<
            v1::FormService::WithRawCallbackMethod_SubmitForm<
                v1::FormService::WithRawCallbackMethod_FetchSubmissions<
                    v1::FormService::WithRawCallbackMethod_AcknowledgeSubmission<
                        v1::FormService::WithRawCallbackMethod_RejectSubmission<
                            v1::FormService::WithRawCallbackMethod_ListSubmissions<
                                v1::FormService::Service>>>>>>>>;

class FormServiceImpl final : public RawFormService {
 public:
  // All references must outlive the service. `admission` bounds the requests in progress per
  // organisation and their bytes, as LetterService's does.
  // `home`: as LetterServiceImpl's. A portal's calls (SubmitForm, and GetFormType and
  // ListFormTypes naming a municipality) are checked against the municipality, not the portal.
  FormServiceImpl(Forms& forms, const service::Authenticator& authenticator,
                  service::BoundedExecutor& executor, const service::AdmissionLimits& admission,
                  std::function<absl::Status(const std::string&)> home = {});
  ~FormServiceImpl() override;

  grpc::ServerUnaryReactor* RegisterFormType(grpc::CallbackServerContext* context,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetFormType(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListFormTypes(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* SubmitForm(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* FetchSubmissions(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* AcknowledgeSubmission(grpc::CallbackServerContext* context,
                                                  const grpc::ByteBuffer* request,
                                                  grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RejectSubmission(grpc::CallbackServerContext* context,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListSubmissions(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override;

  // Ends every open fetch stream with UNAVAILABLE (what it leased is offered again when the
  // lease expires); call before grpc::Server::Shutdown.
  void Shutdown();

  // The largest SubmitForm request accepted, in bytes: the submission limit plus room for
  // the values. The server's receive limit must be at least this.
  static uint64_t MaxSubmitFormBytes(const FormsConfig& config);

 private:
  friend class FetchReactor;

  Forms& forms_;
  const service::Authenticator& authenticator_;
  service::BoundedExecutor& executor_;
  service::Admission admission_;
  const service::ServiceCore core_;         // the caller's shard is checked
  const service::ServiceCore portal_core_;  // the municipality's shard is checked, in the call
  const std::function<absl::Status(const std::string&)> home_;

  // The shard check for a call about `municipality` (`named`), else about the caller.
  absl::Status CheckMunicipalityHome(const std::string& caller, bool named,
                                     const v1::OrganisationId& municipality) const;
  const service::RequestLimits submit_limits_;
  const service::RequestLimits register_limits_;
  const service::RequestLimits small_limits_;

  std::mutex streams_mu_;
  std::set<FetchReactor*> streams_;
  bool shutting_down_ = false;
};

}  // namespace utpost::ledger
