// Following a ledger shard's redirect (common/shards.h) in a client that holds one stub.
#pragma once

#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "clients/cpp/utpost_client.h"

namespace utpost::client {

// For a WRONG_SHARD `status`: points `stub` and `options` at the shard it names, for this and
// every later call, and counts the hop. False, changing nothing, for any other status, after
// kMaxShardHops, or when no channel can be made.
template <typename Service>
bool FollowShard(const absl::Status& status, int& hops,
                 std::unique_ptr<typename Service::Stub>& stub, ConnectionOptions& options) {
  std::optional<ConnectionOptions> moved = ShardRedirect(status, options);
  if (!moved || ++hops > kMaxShardHops) return false;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(*moved);
  if (!channel.ok()) return false;
  stub = Service::NewStub(*channel);
  options = *std::move(moved);
  return true;
}

}  // namespace utpost::client
