#include "services/ledger/stats_service.h"

namespace utpost::ledger {
namespace {

// Every StatsService request is a few short strings.
service::RequestLimits SmallLimits() {
  service::RequestLimits r;
  r.max_bytes = 4 << 10;
  r.wire.max_repeated = 16;
  r.wire.max_unknown_fields = 64;
  return r;
}

}  // namespace

StatsServiceImpl::StatsServiceImpl(const Stats& stats, const service::Authenticator& authenticator,
                                   service::BoundedExecutor& executor,
                                   const service::AdmissionLimits& admission,
                                   std::function<absl::Status(const std::string&)> home)
    : stats_(stats),
      admission_(admission),
      core_{authenticator, admission_, executor, service::Audience::kOrganisations,
            std::move(home)},
      limits_(SmallLimits()) {}

grpc::ServerUnaryReactor* StatsServiceImpl::GetChannelStats(grpc::CallbackServerContext* context,
                                                            const grpc::ByteBuffer* request,
                                                            grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::GetChannelStatsRequest>(
      core_, "GetChannelStats", context, request, response, limits_,
      [this](const std::string& caller, const v1::GetChannelStatsRequest& r) {
        return stats_.GetChannelStats(caller, r);
      });
}

grpc::ServerUnaryReactor* StatsServiceImpl::GetBenefits(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::GetBenefitsRequest>(
      core_, "GetBenefits", context, request, response, limits_,
      [this](const std::string& caller, const v1::GetBenefitsRequest& r) {
        return stats_.GetBenefits(caller, r);
      });
}

grpc::ServerUnaryReactor* StatsServiceImpl::ListPaperLetters(grpc::CallbackServerContext* context,
                                                             const grpc::ByteBuffer* request,
                                                             grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::ListPaperLettersRequest>(
      core_, "ListPaperLetters", context, request, response, limits_,
      [this](const std::string& caller, const v1::ListPaperLettersRequest& r) {
        return stats_.ListPaperLetters(caller, r);
      });
}

}  // namespace utpost::ledger
