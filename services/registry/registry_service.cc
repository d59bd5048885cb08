#include "services/registry/registry_service.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/registry_rules.h"

namespace utpost::registry {
namespace {

const google::protobuf::FieldDescriptor* Field(const google::protobuf::Descriptor* message,
                                               const char* name) {
  return message->FindFieldByName(name);
}

service::RequestLimits LookupLimits(const google::protobuf::Descriptor* request) {
  service::RequestLimits r;
  r.max_bytes = kLookupRequestBytes;
  r.wire.repeated[Field(request, "keys")] = {common::kMaxRegistryLookupKeys, "keys"};
  r.wire.max_unknown_fields = 64;
  return r;
}

service::RequestLimits SmallLimits() {
  service::RequestLimits r;
  r.max_bytes = kOtherRequestBytes;
  r.wire.max_unknown_fields = 64;
  return r;
}

service::RequestLimits ImportLimits() {
  service::RequestLimits r;
  r.max_bytes = kImportMessageBytes;
  r.wire.repeated[Field(v1::ImportRequest::descriptor(), "rows")] = {common::kMaxRegistryImportRows,
                                                                     "rows"};
  // Rows have up to 4 address lines each (more is a row error, not a refused message).
  r.wire.max_repeated = 16 * common::kMaxRegistryImportRows;
  r.wire.max_unknown_fields = 1000;
  return r;
}

service::AdmissionLimits AdmissionOf(const RegistryConfig& config) {
  return service::AdmissionLimits{config.max_inflight_per_organisation, config.max_inflight_bytes};
}

}  // namespace

// One Import stream. At most one thing happens at a time: a read (gRPC), the processing of
// the message read (on the executor), or the finish. The next read starts only after the
// message's rows are durable, so the stream holds one message in memory and the client is
// held back by flow control while the disk works. gRPC owns the reactor until OnDone.
class ImportReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  ImportReactor(RegistryServiceImpl& service, grpc::CallbackServerContext* context,
                grpc::ByteBuffer* response)
      : service_(service), context_(context), response_(response) {
    absl::StatusOr<std::string> organisation = service_.authenticator_.CallerOrg(*context);
    if (!organisation.ok()) {
      Finish(common::ToGrpcStatus(organisation.status()));
      return;
    }
    organisation_ = *std::move(organisation);
    if (absl::Status s = service_.CheckAdministrator(organisation_); !s.ok()) {
      Finish(common::ToGrpcStatus(s));
      return;
    }
    // The stream holds at most one message: it is admitted for that much, once.
    absl::StatusOr<service::Admission::Ticket> ticket =
        service_.admission_.Admit(organisation_, kImportMessageBytes);
    if (!ticket.ok()) {
      Finish(common::ToGrpcStatus(ticket.status()));
      return;
    }
    ticket_.emplace(*std::move(ticket));
    StartRead(&buffer_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client has sent everything (or went away: then the finish goes nowhere).
      if (context_->IsCancelled()) {
        Finish(grpc::Status::CANCELLED);
        return;
      }
      absl::Status s = service::SerializeResponse(progress_, *response_);
      Finish(service::Reply("Import", organisation_, s));
      return;
    }
    if (!service_.executor_.TrySubmit([this] { Process(); })) Finish(service::kAtCapacity);
  }

  void OnDone() override { delete this; }

 private:
  void Process() {
    v1::ImportRequest request;
    absl::Status s = service::ParseRequest(buffer_, request, service_.import_limits_);
    buffer_.Clear();
    if (s.ok()) s = service_.registry_.ImportBatch(request, progress_);
    if (!s.ok()) {
      Finish(service::Reply("Import", organisation_, s));
      return;
    }
    // Nothing of this reactor may be touched after this call: the read may complete (and
    // the stream end) on another thread at once.
    StartRead(&buffer_);
  }

  RegistryServiceImpl& service_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const response_;
  std::string organisation_;
  std::optional<service::Admission::Ticket> ticket_;
  grpc::ByteBuffer buffer_;
  v1::ImportResponse progress_;
};

RegistryServiceImpl::RegistryServiceImpl(Registry& registry,
                                         const service::Authenticator& authenticator,
                                         service::BoundedExecutor& executor,
                                         const RegistryConfig& config,
                                         std::vector<std::string> administrators)
    : registry_(registry),
      authenticator_(authenticator),
      executor_(executor),
      admission_(AdmissionOf(config)),
      core_{authenticator_, admission_, executor_, service::Audience::kOrganisations},
      administrators_(administrators.begin(), administrators.end()),
      lookup_limits_(LookupLimits(v1::LookupRequest::descriptor())),
      small_limits_(SmallLimits()),
      import_limits_(ImportLimits()) {}

absl::Status RegistryServiceImpl::CheckAdministrator(const std::string& organisation) const {
  if (administrators_.contains(organisation)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "organisation ", organisation, " is not a registry administrator (registry.administrators)"));
}

grpc::ServerUnaryReactor* RegistryServiceImpl::Lookup(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::LookupRequest>(
      core_, "Lookup", context, request, response, lookup_limits_,
      [this](const std::string& organisation,
             const v1::LookupRequest& r) -> absl::StatusOr<v1::LookupResponse> {
        if (absl::Status s = CheckAdministrator(organisation); !s.ok()) return s;
        absl::StatusOr<std::vector<v1::LookupResult>> results = registry_.Lookup(r.keys());
        if (!results.ok()) return results.status();
        v1::LookupResponse out;
        for (auto& result : *results) *out.add_results() = std::move(result);
        return out;
      });
}

grpc::ServerUnaryReactor* RegistryServiceImpl::Upsert(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::UpsertRequest>(
      core_, "Upsert", context, request, response, small_limits_,
      [this](const std::string& organisation,
             const v1::UpsertRequest& r) -> absl::StatusOr<v1::UpsertResponse> {
        if (absl::Status s = CheckAdministrator(organisation); !s.ok()) return s;
        return registry_.Upsert(r);
      });
}

grpc::ServerUnaryReactor* RegistryServiceImpl::Delete(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::DeleteRequest>(
      core_, "Delete", context, request, response, small_limits_,
      [this](const std::string& organisation,
             const v1::DeleteRequest& r) -> absl::StatusOr<v1::DeleteResponse> {
        if (absl::Status s = CheckAdministrator(organisation); !s.ok()) return s;
        return registry_.Delete(r);
      });
}

grpc::ServerReadReactor<grpc::ByteBuffer>* RegistryServiceImpl::Import(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  return new ImportReactor(*this, context, response);
}

RegistryLookupServiceImpl::RegistryLookupServiceImpl(Registry& registry,
                                                     const service::Authenticator& authenticator,
                                                     service::BoundedExecutor& executor,
                                                     const RegistryConfig& config)
    : registry_(registry),
      admission_(AdmissionOf(config)),
      core_{authenticator, admission_, executor, service::Audience::kComponents},
      lookup_limits_(LookupLimits(internal::v1::LookupRequest::descriptor())) {}

grpc::ServerUnaryReactor* RegistryLookupServiceImpl::Lookup(grpc::CallbackServerContext* context,
                                                            const grpc::ByteBuffer* request,
                                                            grpc::ByteBuffer* response) {
  return service::ServeUnary<internal::v1::LookupRequest>(
      core_, "RegistryLookup", context, request, response, lookup_limits_,
      [this](const std::string&,
             const internal::v1::LookupRequest& r) -> absl::StatusOr<internal::v1::LookupResponse> {
        absl::StatusOr<std::vector<v1::LookupResult>> results = registry_.Lookup(r.keys());
        if (!results.ok()) return results.status();
        internal::v1::LookupResponse out;
        for (auto& result : *results) *out.add_results() = std::move(result);
        return out;
      });
}

}  // namespace utpost::registry
