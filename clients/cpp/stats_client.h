// A client of utpost.v1.StatsService (utpost/v1/stats.proto): the caller's channel
// statistics, benefits and paper letters. Errors are absl::Status with google.rpc.BadRequest
// field violations kept as payload, as LetterClient's.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/cpp/utpost_client.h"
#include "utpost/v1/stats.grpc.pb.h"

namespace utpost::client {

class StatsClient {
 public:
  StatsClient(std::shared_ptr<grpc::Channel> channel, ConnectionOptions options,
              absl::Duration timeout = absl::Seconds(60));

  [[nodiscard]] absl::StatusOr<v1::GetChannelStatsResponse> GetChannelStats(
      const v1::GetChannelStatsRequest& request);
  [[nodiscard]] absl::StatusOr<v1::GetBenefitsResponse> GetBenefits(
      const v1::GetBenefitsRequest& request);
  [[nodiscard]] absl::StatusOr<v1::ListPaperLettersResponse> ListPaperLetters(
      const v1::ListPaperLettersRequest& request);

 private:
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(grpc::Status (v1::StatsService::Stub::*method)(grpc::ClientContext*,
                                                                               const Request&,
                                                                               Response*),
                                const Request& request);

  std::unique_ptr<v1::StatsService::Stub> stub_;
  ConnectionOptions options_;
  absl::Duration timeout_;
};

}  // namespace utpost::client
