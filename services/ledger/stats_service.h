// The gRPC handlers of utpost.v1.StatsService: thin. Each runs the shared call path
// (services/common/unary_call.h) and hands the parsed request to the statistics logic
// (stats.h), on the ledger's executor.
#pragma once

#include "services/common/admission.h"
#include "services/common/executor.h"
#include "services/common/identity.h"
#include "services/common/raw_request.h"
#include "services/common/unary_call.h"
#include "services/ledger/stats.h"
#include "utpost/v1/stats.grpc.pb.h"

namespace utpost::ledger {

using RawStatsService = v1::StatsService::WithRawCallbackMethod_GetChannelStats<
    v1::StatsService::WithRawCallbackMethod_GetBenefits<
        v1::StatsService::WithRawCallbackMethod_ListPaperLetters<v1::StatsService::Service>>>;

class StatsServiceImpl final : public RawStatsService {
 public:
  // All references must outlive the service.
  // `home`: as LetterServiceImpl's.
  StatsServiceImpl(const Stats& stats, const service::Authenticator& authenticator,
                   service::BoundedExecutor& executor, const service::AdmissionLimits& admission,
                   std::function<absl::Status(const std::string&)> home = {});

  grpc::ServerUnaryReactor* GetChannelStats(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetBenefits(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListPaperLetters(grpc::CallbackServerContext* context,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;

 private:
  const Stats& stats_;
  service::Admission admission_;
  const service::ServiceCore core_;
  const service::RequestLimits limits_;
};

}  // namespace utpost::ledger
