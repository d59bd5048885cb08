// The gRPC handlers of the mailbox simulator: utpost.provider.v1.MailboxProviderService and
// PrintProviderService for components (courier, print), and utpost.sim.v1.
// MailboxSimControlService for organisations (dev only). Thin: the provider id comes from
// the "utpost-provider-id" metadata, unary calls run the shared call path
// (services/common/unary_call.h), and the two client streams (Deliver, SubmitBatch) are
// reactors that hold one message at a time and read the next only after the previous one is
// handled on the executor, so a slow disk slows the client down by flow control.
#pragma once

#include <string>

#include "services/common/admission.h"
#include "services/common/executor.h"
#include "services/common/identity.h"
#include "services/common/raw_request.h"
#include "services/common/unary_call.h"
#include "services/mailbox_sim/mailbox_sim.h"
#include "utpost/provider/v1/provider.grpc.pb.h"
#include "utpost/sim/v1/mailbox_sim.grpc.pb.h"

namespace utpost::mailbox_sim {

// Shared by the three services. All references must outlive them.
struct SimServiceContext {
  MailboxSim& sim;
  const service::Authenticator& authenticator;
  service::BoundedExecutor& executor;
};

using RawMailboxProviderService =
    provider::v1::MailboxProviderService::WithRawCallbackMethod_Deliver<
        provider::v1::MailboxProviderService::WithRawCallbackMethod_PullReceipts<
            provider::v1::MailboxProviderService::WithRawCallbackMethod_AcknowledgeReceipts<
                provider::v1::MailboxProviderService::Service>>>;

class MailboxProviderServiceImpl final : public RawMailboxProviderService {
 public:
  explicit MailboxProviderServiceImpl(SimServiceContext context);

  grpc::ServerReadReactor<grpc::ByteBuffer>* Deliver(grpc::CallbackServerContext* context,
                                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* PullReceipts(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* AcknowledgeReceipts(grpc::CallbackServerContext* context,
                                                const grpc::ByteBuffer* request,
                                                grpc::ByteBuffer* response) override;

 private:
  SimServiceContext ctx_;
  service::Admission admission_;
  const service::ServiceCore core_;
  const service::RequestLimits limits_;
};

using RawPrintProviderService =
    provider::v1::PrintProviderService::WithRawCallbackMethod_SubmitBatch<
        provider::v1::PrintProviderService::WithRawCallbackMethod_GetBatch<
            provider::v1::PrintProviderService::Service>>;

class PrintProviderServiceImpl final : public RawPrintProviderService {
 public:
  explicit PrintProviderServiceImpl(SimServiceContext context);

  grpc::ServerReadReactor<grpc::ByteBuffer>* SubmitBatch(grpc::CallbackServerContext* context,
                                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetBatch(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;

 private:
  SimServiceContext ctx_;
  service::Admission admission_;
  const service::ServiceCore core_;
  const service::RequestLimits limits_;
};

using RawMailboxSimControlService =
    sim::v1::MailboxSimControlService::WithRawCallbackMethod_SetBehaviour<
        sim::v1::MailboxSimControlService::WithRawCallbackMethod_GetStatus<
            sim::v1::MailboxSimControlService::Service>>;

// For organisations; registered only in development (dev_pki).
class MailboxSimControlServiceImpl final : public RawMailboxSimControlService {
 public:
  explicit MailboxSimControlServiceImpl(SimServiceContext context);

  grpc::ServerUnaryReactor* SetBehaviour(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;

 private:
  SimServiceContext ctx_;
  service::Admission admission_;
  const service::ServiceCore core_;
  const service::RequestLimits limits_;
};

}  // namespace utpost::mailbox_sim
