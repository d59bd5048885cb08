// The gRPC handlers of utpost.v1.LetterService: thin. Each one establishes the caller's
// organisation, applies admission control, hands the work to the ledger on the bounded
// executor and replies with the translated status. gRPC's threads never block on the disk.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "services/common/executor.h"
#include "services/common/identity.h"
#include "services/ledger/ledger.h"
#include "utpost/v1/letters.grpc.pb.h"

namespace utpost::ledger {

class WatchReactor;

class LetterServiceImpl final : public v1::LetterService::CallbackService {
 public:
  // All references must outlive the service.
  LetterServiceImpl(Ledger& ledger, const service::Authenticator& authenticator,
                    service::BoundedExecutor& executor);
  ~LetterServiceImpl() override;

  grpc::ServerUnaryReactor* SendLetter(grpc::CallbackServerContext* context,
                                       const v1::SendLetterRequest* request,
                                       v1::SendLetterResponse* response) override;
  grpc::ServerUnaryReactor* GetLetter(grpc::CallbackServerContext* context,
                                      const v1::GetLetterRequest* request,
                                      v1::GetLetterResponse* response) override;
  grpc::ServerUnaryReactor* ListLetters(grpc::CallbackServerContext* context,
                                        const v1::ListLettersRequest* request,
                                        v1::ListLettersResponse* response) override;
  grpc::ServerUnaryReactor* CancelLetter(grpc::CallbackServerContext* context,
                                         const v1::CancelLetterRequest* request,
                                         v1::CancelLetterResponse* response) override;
  grpc::ServerWriteReactor<v1::WatchLetterEventsResponse>* WatchLetterEvents(
      grpc::CallbackServerContext* context, const v1::WatchLetterEventsRequest* request) override;

  // Ends every open watch stream with UNAVAILABLE so that clients reconnect elsewhere or
  // later; call before grpc::Server::Shutdown, which otherwise waits for them.
  void Shutdown();

 private:
  friend class WatchReactor;

  template <typename Request, typename Response, typename Work>
  grpc::ServerUnaryReactor* Run(const char* method, grpc::CallbackServerContext* context,
                                const Request* request, Response* response, uint64_t cost_bytes,
                                Work work);

  Ledger& ledger_;
  const service::Authenticator& authenticator_;
  service::BoundedExecutor& executor_;
  std::atomic<uint64_t> inflight_bytes_{0};

  // Requests in progress per organisation (fair admission).
  bool AdmitOrganisation(const std::string& sender);
  void ReleaseOrganisation(const std::string& sender);
  std::mutex admission_mu_;
  absl::flat_hash_map<std::string, int> inflight_per_org_;

  std::mutex watchers_mu_;
  std::set<WatchReactor*> watchers_;
  absl::flat_hash_map<std::string, int> watchers_per_org_;
  bool shutting_down_ = false;
};

}  // namespace utpost::ledger
