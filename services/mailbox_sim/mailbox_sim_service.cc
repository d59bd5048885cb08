#include "services/mailbox_sim/mailbox_sim_service.h"

#include <memory>
#include <optional>
#include <utility>

#include "common/grpc_status.h"

namespace utpost::mailbox_sim {
namespace {

// A stream message: one chunk of at most 256 KiB plus its framing.
constexpr uint64_t kStreamMessageBytes = kMaxChunkBytes + (4 << 10);

service::RequestLimits SmallLimits() {
  service::RequestLimits r;
  r.max_bytes = 256 << 10;  // 1000 receipt ids
  r.wire.max_unknown_fields = 64;
  return r;
}

service::RequestLimits StreamLimits() {
  service::RequestLimits r;
  r.max_bytes = kStreamMessageBytes;
  r.wire.max_unknown_fields = 64;
  return r;
}

service::AdmissionLimits Admissions() { return service::AdmissionLimits{256, 64ull << 20}; }

std::string ProviderIdOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kProviderIdHeader);
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// One Deliver or SubmitBatch stream (Session is MailboxSim::Delivery or BatchUpload). At
// most one thing happens at a time: a read (gRPC), the handling of the message read (on the
// executor), or the finish. gRPC owns the reactor until OnDone.
template <typename Request, typename Response, typename Session>
class UploadReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  using Starter = std::function<absl::StatusOr<std::unique_ptr<Session>>(std::string_view)>;

  UploadReactor(const char* method, SimServiceContext& ctx, grpc::CallbackServerContext* context,
                grpc::ByteBuffer* response, const Starter& start)
      : method_(method), ctx_(ctx), context_(context), response_(response) {
    absl::StatusOr<std::string> caller =
        ctx_.authenticator.Authorize(*context, service::Audience::kComponents);
    if (!caller.ok()) {
      Finish(common::ToGrpcStatus(caller.status()));
      return;
    }
    caller_ = *std::move(caller);
    absl::StatusOr<std::unique_ptr<Session>> session = start(ProviderIdOf(*context));
    if (!session.ok()) {
      Finish(service::Reply(method_, caller_, session.status()));
      return;
    }
    session_ = *std::move(session);
    StartRead(&buffer_);
  }

  void OnReadDone(bool ok) override {
    // Even the end of a stream goes to the executor: ending a session writes to the disk.
    if (!ctx_.executor.TrySubmit([this, ok] {
          if (ok) {
            Process();
          } else if (context_->IsCancelled()) {
            End(absl::CancelledError("the caller went away"));
          } else {
            Complete();  // the client has sent everything
          }
        })) {
      session_.reset();
      Finish(service::kAtCapacity);
    }
  }

  void OnDone() override { delete this; }

 private:
  void Process() {
    Request request;
    absl::Status s = service::ParseRequest(buffer_, request, limits_);
    buffer_.Clear();
    if (s.ok()) s = session_->Add(request);
    if (!s.ok()) {
      End(s);
      return;
    }
    // Nothing of this reactor may be touched after this call: the read may complete on
    // another thread at once.
    StartRead(&buffer_);
  }

  void Complete() {
    absl::StatusOr<Response> result = session_->Finish();
    absl::Status s = result.status();
    if (s.ok()) s = service::SerializeResponse(*result, *response_);
    End(s);
  }

  // Drops the session (an unfinished one removes what it stored) before answering.
  void End(const absl::Status& status) {
    session_.reset();
    Finish(service::Reply(method_, caller_, status));
  }

  const char* const method_;
  SimServiceContext& ctx_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const response_;
  const service::RequestLimits limits_ = StreamLimits();
  std::string caller_;
  std::unique_ptr<Session> session_;
  grpc::ByteBuffer buffer_;
};

}  // namespace

MailboxProviderServiceImpl::MailboxProviderServiceImpl(SimServiceContext context)
    : ctx_(context),
      admission_(Admissions()),
      core_{ctx_.authenticator, admission_, ctx_.executor, service::Audience::kComponents},
      limits_(SmallLimits()) {}

grpc::ServerReadReactor<grpc::ByteBuffer>* MailboxProviderServiceImpl::Deliver(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  return new UploadReactor<provider::v1::DeliverRequest, provider::v1::DeliverResponse,
                           MailboxSim::Delivery>(
      "Deliver", ctx_, context, response,
      [this](std::string_view id) { return ctx_.sim.StartDelivery(id); });
}

grpc::ServerUnaryReactor* MailboxProviderServiceImpl::PullReceipts(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return service::ServeUnary<provider::v1::PullReceiptsRequest>(
      core_, "PullReceipts", context, request, response, limits_,
      [this, context](const std::string&, const provider::v1::PullReceiptsRequest& r) {
        return ctx_.sim.PullReceipts(ProviderIdOf(*context), r);
      });
}

grpc::ServerUnaryReactor* MailboxProviderServiceImpl::AcknowledgeReceipts(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return service::ServeUnary<provider::v1::AcknowledgeReceiptsRequest>(
      core_, "AcknowledgeReceipts", context, request, response, limits_,
      [this, context](const std::string&, const provider::v1::AcknowledgeReceiptsRequest& r) {
        return ctx_.sim.AcknowledgeReceipts(ProviderIdOf(*context), r);
      });
}

PrintProviderServiceImpl::PrintProviderServiceImpl(SimServiceContext context)
    : ctx_(context),
      admission_(Admissions()),
      core_{ctx_.authenticator, admission_, ctx_.executor, service::Audience::kComponents},
      limits_(SmallLimits()) {}

grpc::ServerReadReactor<grpc::ByteBuffer>* PrintProviderServiceImpl::SubmitBatch(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  return new UploadReactor<provider::v1::SubmitBatchRequest, provider::v1::SubmitBatchResponse,
                           MailboxSim::BatchUpload>(
      "SubmitBatch", ctx_, context, response,
      [this](std::string_view id) { return ctx_.sim.StartBatch(id); });
}

grpc::ServerUnaryReactor* PrintProviderServiceImpl::GetBatch(grpc::CallbackServerContext* context,
                                                             const grpc::ByteBuffer* request,
                                                             grpc::ByteBuffer* response) {
  return service::ServeUnary<provider::v1::GetBatchRequest>(
      core_, "GetBatch", context, request, response, limits_,
      [this, context](const std::string&, const provider::v1::GetBatchRequest& r) {
        return ctx_.sim.GetBatch(ProviderIdOf(*context), r);
      });
}

MailboxSimControlServiceImpl::MailboxSimControlServiceImpl(SimServiceContext context)
    : ctx_(context),
      admission_(Admissions()),
      core_{ctx_.authenticator, admission_, ctx_.executor, service::Audience::kOrganisations},
      limits_(SmallLimits()) {}

grpc::ServerUnaryReactor* MailboxSimControlServiceImpl::SetBehaviour(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return service::ServeUnary<sim::v1::SetBehaviourRequest>(
      core_, "SetBehaviour", context, request, response, limits_,
      [this](const std::string&, const sim::v1::SetBehaviourRequest& r) {
        return ctx_.sim.SetBehaviour(r);
      });
}

grpc::ServerUnaryReactor* MailboxSimControlServiceImpl::GetStatus(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return service::ServeUnary<sim::v1::GetStatusRequest>(
      core_, "GetStatus", context, request, response, limits_,
      [this](const std::string&, const sim::v1::GetStatusRequest& r) {
        return ctx_.sim.GetStatus(r);
      });
}

}  // namespace utpost::mailbox_sim
