#include "clients/cpp/stats_client.h"

#include "clients/cpp/shard_follow.h"
#include "common/call_headers.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace utpost::client {

StatsClient::StatsClient(std::shared_ptr<grpc::Channel> channel, ConnectionOptions options,
                         absl::Duration timeout)
    : stub_(v1::StatsService::NewStub(channel)), options_(std::move(options)), timeout_(timeout) {}

template <typename Request, typename Response>
absl::StatusOr<Response> StatsClient::Call(
    grpc::Status (v1::StatsService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    const Request& request) {
  for (int hops = 0;;) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    context.set_wait_for_ready(options_.wait_for_ready);
    if (options_.insecure) {
      context.AddMetadata(common::kInsecureOrganisationHeader, options_.organisation);
    }
    Response response;
    absl::Status status =
        common::FromGrpcStatus((stub_.get()->*method)(&context, request, &response));
    if (status.ok()) return response;
    // Another ledger shard serves the organisation: call it there from now on.
    if (!FollowShard<v1::StatsService>(status, hops, stub_, options_)) return status;
  }
}

absl::StatusOr<v1::GetChannelStatsResponse> StatsClient::GetChannelStats(
    const v1::GetChannelStatsRequest& request) {
  return Call(&v1::StatsService::Stub::GetChannelStats, request);
}

absl::StatusOr<v1::GetBenefitsResponse> StatsClient::GetBenefits(
    const v1::GetBenefitsRequest& request) {
  return Call(&v1::StatsService::Stub::GetBenefits, request);
}

absl::StatusOr<v1::ListPaperLettersResponse> StatsClient::ListPaperLetters(
    const v1::ListPaperLettersRequest& request) {
  return Call(&v1::StatsService::Stub::ListPaperLetters, request);
}

}  // namespace utpost::client
