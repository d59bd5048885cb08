#include "services/ledger/task_service.h"

#include "services/ledger/task_validation.h"

namespace utpost::ledger {
namespace {

service::RequestLimits Limits(uint64_t max_bytes) {
  service::RequestLimits r;
  r.max_bytes = max_bytes;
  r.wire.max_repeated = 16;
  r.wire.max_unknown_fields = 16;
  return r;
}

service::RequestLimits CompleteLimits() {
  service::RequestLimits r = Limits(TaskServiceImpl::kMaxCompleteRequestBytes);
  // Counted on the wire, before a single NextTask object is built.
  r.wire.repeated[internal::v1::CompleteTaskRequest::descriptor()->FindFieldByName("next_tasks")] =
      {kMaxNextTasks, "next_tasks"};
  return r;
}

}  // namespace

TaskServiceImpl::TaskServiceImpl(Ledger& ledger, const service::Authenticator& authenticator,
                                 service::BoundedExecutor& executor)
    : ledger_(ledger),
      admission_(service::AdmissionLimits{ledger.config().max_inflight_per_organisation,
                                          ledger.config().max_inflight_bytes}),
      core_{authenticator, admission_, executor, service::Audience::kComponents},
      lease_limits_(Limits(kMaxLeaseRequestBytes)),
      complete_limits_(CompleteLimits()),
      fail_limits_(Limits(kMaxFailRequestBytes)) {}

grpc::ServerUnaryReactor* TaskServiceImpl::LeaseTasks(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return service::ServeUnary<internal::v1::LeaseTasksRequest>(
      core_, "LeaseTasks", context, request, response, lease_limits_,
      [this](const std::string&, const internal::v1::LeaseTasksRequest& r) {
        return ledger_.LeaseTasks(r);
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::CompleteTask(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* response) {
  return service::ServeUnary<internal::v1::CompleteTaskRequest>(
      core_, "CompleteTask", context, request, response, complete_limits_,
      [this](const std::string&, const internal::v1::CompleteTaskRequest& r) {
        return ledger_.CompleteTask(r);
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::FailTask(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return service::ServeUnary<internal::v1::FailTaskRequest>(
      core_, "FailTask", context, request, response, fail_limits_,
      [this](const std::string&, const internal::v1::FailTaskRequest& r) {
        return ledger_.FailTask(r);
      });
}

}  // namespace utpost::ledger
