// The gRPC handlers of utpost.internal.v1.TaskService: thin. Each one runs the shared call
// path (services/common/unary_call.h) for an internal service: the caller must be a
// component (an organisation gets PERMISSION_DENIED), admission per component, hand-off to
// the ledger's bounded executor, parsing of the raw request with per-method limits; then the
// ledger's LeaseTasks, CompleteTask or FailTask (ledger.h), which validate every field.
#pragma once

#include "services/common/admission.h"
#include "services/common/executor.h"
#include "services/common/identity.h"
#include "services/common/raw_request.h"
#include "services/common/unary_call.h"
#include "services/ledger/ledger.h"
#include "utpost/internal/v1/tasks.grpc.pb.h"

namespace utpost::ledger {

// Every method takes its request as raw bytes, so that the server parses it.
using RawTaskService = internal::v1::TaskService::WithRawCallbackMethod_LeaseTasks<
    internal::v1::TaskService::WithRawCallbackMethod_CompleteTask<
        internal::v1::TaskService::WithRawCallbackMethod_FailTask<
            internal::v1::TaskService::Service>>>;

class TaskServiceImpl final : public RawTaskService {
 public:
  // All references must outlive the service. `executor` is the TaskService's own pool (the
  // ledger module's task_executor), apart from LetterService's; admission is per component.
  TaskServiceImpl(Ledger& ledger, const service::Authenticator& authenticator,
                  service::BoundedExecutor& executor);

  grpc::ServerUnaryReactor* LeaseTasks(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* CompleteTask(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* FailTask(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;

  // The largest request of each method, in bytes on the wire.
  static constexpr uint64_t kMaxLeaseRequestBytes = 1 << 10;
  static constexpr uint64_t kMaxCompleteRequestBytes = 8 << 10;
  static constexpr uint64_t kMaxFailRequestBytes = 8 << 10;

 private:
  Ledger& ledger_;
  service::Admission admission_;
  const service::ServiceCore core_;
  const service::RequestLimits lease_limits_;
  const service::RequestLimits complete_limits_;
  const service::RequestLimits fail_limits_;
};

}  // namespace utpost::ledger
