// The gRPC handlers of utpost.v1.LetterService: thin. Each one runs the shared call path
// (services/common/unary_call.h: caller's organisation, admission, hand-off to the bounded
// executor, parsing of the raw request) and hands the parsed request to the ledger. gRPC's
// threads never block on the disk nor parse a large request.
#pragma once

#include <mutex>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "services/common/admission.h"
#include "services/common/executor.h"
#include "services/common/identity.h"
#include "services/common/raw_request.h"
#include "services/common/unary_call.h"
#include "services/ledger/ledger.h"
#include "services/router/preview.h"
#include "utpost/v1/letters.grpc.pb.h"

namespace utpost::ledger {

class WatchReactor;

// Every method takes its request as raw bytes, so that the server parses it (and can answer
// undecodable input truthfully).
using RawLetterService = v1::LetterService::WithRawCallbackMethod_SendLetter<
    v1::LetterService::WithRawCallbackMethod_GetLetter<
        v1::LetterService::WithRawCallbackMethod_ListLetters<
            v1::LetterService::WithRawCallbackMethod_WatchLetterEvents<
                v1::LetterService::WithRawCallbackMethod_CancelLetter<
                    v1::LetterService::WithRawCallbackMethod_PreviewRoutes<
                        v1::LetterService::Service>>>>>>;

class LetterServiceImpl final : public RawLetterService {
 public:
  // All references must outlive the service.
  // `home`: on a ledger shard, the check that sends another shard's organisations there
  // (service::ServiceCore::home); empty without shards.
  LetterServiceImpl(Ledger& ledger, const service::Authenticator& authenticator,
                    service::BoundedExecutor& executor,
                    std::function<absl::Status(const std::string&)> home = {});
  ~LetterServiceImpl() override;

  grpc::ServerUnaryReactor* SendLetter(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetLetter(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListLetters(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* CancelLetter(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchLetterEvents(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* PreviewRoutes(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;

  // What PreviewRoutes decides with: the registry's preview, or why there is none (answered
  // as FAILED_PRECONDITION). Until the first call, PreviewRoutes answers UNAVAILABLE (the
  // server is starting). Thread-safe; set by the ledger module once the server listens.
  void SetRoutePreview(absl::StatusOr<std::shared_ptr<router::RoutePreview>> preview);

  // Ends every open watch stream with UNAVAILABLE so that clients reconnect elsewhere or
  // later; call before grpc::Server::Shutdown, which otherwise waits for them.
  void Shutdown();

  // The largest SendLetter request accepted, in bytes: the letter limit plus room for the
  // envelope. The server's receive limit must be at least this.
  static uint64_t MaxSendLetterBytes(const LetterLimits& limits);

 private:
  friend class WatchReactor;

  Ledger& ledger_;
  const service::Authenticator& authenticator_;
  service::BoundedExecutor& executor_;
  service::Admission admission_;
  const service::ServiceCore core_;
  // Per-method request limits.
  const service::RequestLimits send_limits_;
  const service::RequestLimits small_limits_;  // GetLetter, CancelLetter, WatchLetterEvents
  const service::RequestLimits list_limits_;
  const service::RequestLimits preview_limits_;

  std::mutex preview_mu_;
  absl::StatusOr<std::shared_ptr<router::RoutePreview>> preview_  // guarded by preview_mu_
      = absl::UnavailableError("the server is starting; retry with backoff");

  std::mutex watchers_mu_;
  std::set<WatchReactor*> watchers_;
  absl::flat_hash_map<std::string, int> watchers_per_org_;
  bool shutting_down_ = false;
};

}  // namespace utpost::ledger
