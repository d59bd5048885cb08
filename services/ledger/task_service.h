// The gRPC handlers of utpost.internal.v1.TaskService: thin. Each one runs the shared call
// path (services/common/unary_call.h) for an internal service: the caller must be a
// component (an organisation gets PERMISSION_DENIED), admission per component, hand-off to
// the ledger's bounded executor, parsing of the raw request with per-method limits; then the
// ledger's LeaseTasks, CompleteTask or FailTask (ledger.h), which validate every field.
// ReadDocuments is a stream: one document opened at a time on the pool, its chunks written one
// at a time as the reader takes them (gRPC's flow control), and a bound on open streams.
#pragma once

#include <mutex>
#include <set>

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
        internal::v1::TaskService::WithRawCallbackMethod_CompleteTasks<
            internal::v1::TaskService::WithRawCallbackMethod_FailTask<
                internal::v1::TaskService::WithRawCallbackMethod_ReadDocuments<
                    internal::v1::TaskService::WithRawCallbackMethod_RecordTransition<
                        internal::v1::TaskService::Service>>>>>>;

class DocumentReadReactor;

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
  grpc::ServerUnaryReactor* CompleteTasks(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* FailTask(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RecordTransition(grpc::CallbackServerContext* context,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;
  // Refused with RESOURCE_EXHAUSTED when max_document_reads streams are open.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* ReadDocuments(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) override;

  // Ends every open ReadDocuments stream with UNAVAILABLE (the worker reads again later);
  // call before grpc::Server::Shutdown. New streams are refused from then on.
  void Shutdown();

  // Open ReadDocuments streams, for tests.
  int open_document_reads() const;

  // The largest chunk of a ReadDocuments stream, in bytes.
  static constexpr size_t kMaxChunkBytes = 256 << 10;

  // The largest request of each method, in bytes on the wire.
  static constexpr uint64_t kMaxLeaseRequestBytes = 1 << 10;
  static constexpr uint64_t kMaxCompleteRequestBytes = 8 << 10;
  static constexpr uint64_t kMaxCompleteTasksRequestBytes =
      Ledger::kMaxCompletions * (kMaxCompleteRequestBytes + 8);
  static constexpr uint64_t kMaxFailRequestBytes = 8 << 10;
  static constexpr uint64_t kMaxReadRequestBytes = 1 << 10;
  static constexpr uint64_t kMaxRecordRequestBytes = 8 << 10;

 private:
  friend class DocumentReadReactor;

  Ledger& ledger_;
  service::BoundedExecutor& executor_;
  service::Admission admission_;
  const service::ServiceCore core_;
  const service::RequestLimits lease_limits_;
  const service::RequestLimits complete_limits_;
  const service::RequestLimits complete_tasks_limits_;
  const service::RequestLimits fail_limits_;
  const service::RequestLimits read_limits_;
  const service::RequestLimits record_limits_;

  mutable std::mutex readers_mu_;
  std::set<DocumentReadReactor*> readers_;  // open ReadDocuments streams
  bool shutting_down_ = false;
};

}  // namespace utpost::ledger
