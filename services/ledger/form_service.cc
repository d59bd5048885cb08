#include "services/ledger/form_service.h"

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/ids.h"
#include "common/status_macros.h"

namespace utpost::ledger {
namespace {

constexpr uint64_t kRegisterRequestBytes = 1 << 20;
constexpr uint64_t kSmallRequestBytes = 16 << 10;

const google::protobuf::FieldDescriptor* Field(const google::protobuf::Descriptor* d,
                                               const char* name) {
  return d->FindFieldByName(name);
}

service::RequestLimits SubmitLimits(const FormsConfig& config) {
  service::RequestLimits r;
  r.max_bytes = FormServiceImpl::MaxSubmitFormBytes(config);
  const auto* d = v1::SubmitFormRequest::descriptor();
  // Counted on the wire, before a single value or attachment object is built.
  r.wire.repeated[Field(d, "values")] = {config.max_fields, "values"};
  r.wire.repeated[Field(d, "attachments")] = {config.max_attachments, "attachments"};
  r.wire.max_unknown_fields = 64;
  return r;
}

service::RequestLimits RegisterLimits(const FormsConfig& config) {
  service::RequestLimits r;
  r.max_bytes = kRegisterRequestBytes;
  const auto* d = v1::FormType::descriptor();
  r.wire.repeated[Field(d, "fields")] = {config.max_fields, "fields"};
  r.wire.repeated[Field(d, "allowed_portals")] = {config.max_portals, "allowed portals"};
  r.wire.max_unknown_fields = 64;
  return r;
}

service::RequestLimits SmallLimits() {
  service::RequestLimits r;
  r.max_bytes = kSmallRequestBytes;
  r.wire.max_repeated = 64;
  r.wire.max_unknown_fields = 64;
  return r;
}

}  // namespace

// Streams one fetch: the lease (on the executor), then each leased submission in turn, its
// envelope read on the executor just before it is written. At most one step (an executor task
// or a write) is in flight at a time, so the stream holds one envelope at most. Owned jointly
// by gRPC (until OnDone) and by the executor task in flight, if any: whichever lets go last
// deletes it.
class FetchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  FetchReactor(FormServiceImpl& service, std::string caller, v1::FetchSubmissionsRequest request)
      : service_(service), caller_(std::move(caller)), request_(std::move(request)) {
    Schedule([this] { Lease(); });
  }

  // Ends the stream (shutdown). Safe to call more than once.
  void End(const grpc::Status& status) {
    std::lock_guard lock(mu_);
    ending_ = status;
    if (!busy_) FinishLocked(status);
  }

  void OnCancel() override { End(grpc::Status::CANCELLED); }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      busy_ = false;
      buffer_.Clear();
      if (!ok) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
        return;
      }
      if (ending_) {
        FinishLocked(*ending_);
        return;
      }
      ++next_;
    }
    Schedule([this] { SendNext(); });
  }

  void OnDone() override {
    {
      std::lock_guard lock(service_.streams_mu_);
      service_.streams_.erase(this);
    }
    Unref();  // gRPC's reference
  }

 private:
  // Runs `step` on the executor, or ends the stream if the executor is full.
  void Schedule(std::function<void()> step) {
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      if (ending_) {
        FinishLocked(*ending_);
        return;
      }
      busy_ = true;
      ++refs_;
    }
    if (!service_.executor_.TrySubmit([this, step = std::move(step)] {
          step();
          Unref();
        })) {
      std::lock_guard lock(mu_);
      busy_ = false;
      --refs_;  // gRPC still holds its reference, so this is never the last
      FinishLocked(service::kAtCapacity);
    }
  }

  void Lease() {
    absl::StatusOr<std::vector<v1::SubmissionInfo>> leased =
        service_.forms_.LeaseSubmissions(caller_, request_);
    if (!leased.ok()) {
      Stop(service::Reply("FetchSubmissions", caller_, leased.status()));
      return;
    }
    leased_ = *std::move(leased);
    SendNext();
  }

  void SendNext() {
    while (next_ < leased_.size()) {
      {
        std::lock_guard lock(mu_);
        if (ending_) break;
      }
      v1::FetchSubmissionsResponse response;
      *response.mutable_submission() = leased_[next_];
      absl::StatusOr<std::string> envelope =
          service_.forms_.ReadEnvelope(caller_, leased_[next_].submission_id());
      if (absl::IsNotFound(envelope.status())) {
        ++next_;  // acknowledged or rejected since it was leased
        continue;
      }
      if (!envelope.ok()) {
        Stop(service::Reply("FetchSubmissions", caller_, envelope.status()));
        return;
      }
      response.set_envelope(*std::move(envelope));
      std::lock_guard lock(mu_);
      if (ending_) break;
      if (absl::Status s = service::SerializeResponse(response, buffer_); !s.ok()) {
        busy_ = false;
        FinishLocked(service::Reply("FetchSubmissions", caller_, s));
        return;
      }
      StartWrite(&buffer_);  // busy_ stays set until OnWriteDone
      return;
    }
    Stop(grpc::Status::OK);
  }

  // Ends the stream from an executor step.
  void Stop(const grpc::Status& status) {
    std::lock_guard lock(mu_);
    busy_ = false;
    FinishLocked(ending_ ? *ending_ : status);
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  void Unref() {
    bool last;
    {
      std::lock_guard lock(mu_);
      last = --refs_ == 0;
    }
    if (last) delete this;
  }

  FormServiceImpl& service_;
  const std::string caller_;
  const v1::FetchSubmissionsRequest request_;
  std::vector<v1::SubmissionInfo> leased_;  // touched by one step at a time
  size_t next_ = 0;                         // likewise
  std::mutex mu_;
  int refs_ = 1;  // gRPC's, until OnDone
  bool busy_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> ending_;
  grpc::ByteBuffer buffer_;
};

uint64_t FormServiceImpl::MaxSubmitFormBytes(const FormsConfig& config) {
  return config.max_submission_bytes + (1 << 20);
}

FormServiceImpl::FormServiceImpl(Forms& forms, const service::Authenticator& authenticator,
                                 service::BoundedExecutor& executor,
                                 const service::AdmissionLimits& admission,
                                 std::function<absl::Status(const std::string&)> home)
    : forms_(forms),
      authenticator_(authenticator),
      executor_(executor),
      admission_(admission),
      core_{authenticator_, admission_, executor_, service::Audience::kOrganisations, home},
      portal_core_{authenticator_, admission_, executor_, service::Audience::kOrganisations, {}},
      home_(std::move(home)),
      submit_limits_(SubmitLimits(forms.config())),
      register_limits_(RegisterLimits(forms.config())),
      small_limits_(SmallLimits()) {}

FormServiceImpl::~FormServiceImpl() = default;

absl::Status FormServiceImpl::CheckMunicipalityHome(const std::string& caller, bool named,
                                                    const v1::OrganisationId& municipality) const {
  if (!home_) return absl::OkStatus();
  if (!named) return home_(caller);
  std::string key;
  if (municipality.has_norwegian_org_number()) {
    key = absl::StrCat("NO", municipality.norwegian_org_number());
  } else if (municipality.has_danish_cvr()) {
    key = absl::StrCat("DK", municipality.danish_cvr());
  }
  // A municipality that is not a valid organisation id is the logic's to refuse, by field.
  if (!common::IsValidOrgKey(key)) return absl::OkStatus();
  return home_(key);
}

grpc::ServerUnaryReactor* FormServiceImpl::RegisterFormType(grpc::CallbackServerContext* context,
                                                            const grpc::ByteBuffer* request,
                                                            grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::RegisterFormTypeRequest>(
      core_, "RegisterFormType", context, request, response, register_limits_,
      [this](const std::string& caller, const v1::RegisterFormTypeRequest& r) {
        return forms_.RegisterFormType(caller, r);
      });
}

grpc::ServerUnaryReactor* FormServiceImpl::GetFormType(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::GetFormTypeRequest>(
      portal_core_, "GetFormType", context, request, response, small_limits_,
      [this](const std::string& caller,
             const v1::GetFormTypeRequest& r) -> absl::StatusOr<v1::GetFormTypeResponse> {
        UTPOST_RETURN_IF_ERROR(
            CheckMunicipalityHome(caller, r.has_municipality(), r.municipality()));
        return forms_.GetFormType(caller, r);
      });
}

grpc::ServerUnaryReactor* FormServiceImpl::ListFormTypes(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* request,
                                                         grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::ListFormTypesRequest>(
      core_, "ListFormTypes", context, request, response, small_limits_,
      [this](const std::string& caller, const v1::ListFormTypesRequest& r) {
        return forms_.ListFormTypes(caller, r);
      });
}

grpc::ServerUnaryReactor* FormServiceImpl::SubmitForm(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::SubmitFormRequest>(
      portal_core_, "SubmitForm", context, request, response, submit_limits_,
      [this](const std::string& portal,
             const v1::SubmitFormRequest& r) -> absl::StatusOr<v1::SubmitFormResponse> {
        UTPOST_RETURN_IF_ERROR(
            CheckMunicipalityHome(portal, r.has_municipality(), r.municipality()));
        return forms_.SubmitForm(portal, r);
      });
}

grpc::ServerUnaryReactor* FormServiceImpl::AcknowledgeSubmission(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::AcknowledgeSubmissionRequest>(
      core_, "AcknowledgeSubmission", context, request, response, small_limits_,
      [this](const std::string& caller, const v1::AcknowledgeSubmissionRequest& r) {
        return forms_.AcknowledgeSubmission(caller, r);
      });
}

grpc::ServerUnaryReactor* FormServiceImpl::RejectSubmission(grpc::CallbackServerContext* context,
                                                            const grpc::ByteBuffer* request,
                                                            grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::RejectSubmissionRequest>(
      core_, "RejectSubmission", context, request, response, small_limits_,
      [this](const std::string& caller, const v1::RejectSubmissionRequest& r) {
        return forms_.RejectSubmission(caller, r);
      });
}

grpc::ServerUnaryReactor* FormServiceImpl::ListSubmissions(grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::ListSubmissionsRequest>(
      core_, "ListSubmissions", context, request, response, small_limits_,
      [this](const std::string& caller, const v1::ListSubmissionsRequest& r) {
        return forms_.ListSubmissions(caller, r);
      });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* FormServiceImpl::FetchSubmissions(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) {
  absl::StatusOr<std::string> caller = authenticator_.CallerOrg(*context);
  v1::FetchSubmissionsRequest request;
  grpc::Status refusal;
  if (!caller.ok()) {
    refusal = common::ToGrpcStatus(caller.status());
  } else if (absl::Status home = service::CheckHome(core_, *caller); !home.ok()) {
    refusal = common::ToGrpcStatus(home);
  } else if (absl::Status parsed = service::ParseRequest(*raw_request, request, small_limits_);
             !parsed.ok()) {
    refusal = common::ToGrpcStatus(parsed);
  }
  std::lock_guard lock(streams_mu_);
  if (refusal.ok() && shutting_down_) {
    refusal = grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down");
  }
  const int limit = forms_.config().max_fetch_streams;
  if (refusal.ok() && static_cast<int>(streams_.size()) >= limit) {
    refusal = grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("the server already has ", limit, " fetch streams open; retry with backoff"));
  }
  if (!refusal.ok()) {
    class Refused final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
     public:
      explicit Refused(const grpc::Status& status) { Finish(status); }
      void OnDone() override { delete this; }
    };
    return new Refused(refusal);
  }
  auto* reactor = new FetchReactor(*this, *caller, std::move(request));
  streams_.insert(reactor);
  return reactor;
}

void FormServiceImpl::Shutdown() {
  std::lock_guard lock(streams_mu_);
  shutting_down_ = true;
  for (FetchReactor* stream : streams_) {
    stream->End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                             "server is shutting down; what was fetched and not acknowledged is "
                             "offered again when its lease expires"));
  }
}

}  // namespace utpost::ledger
