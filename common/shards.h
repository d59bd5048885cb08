// Ledger shards: the ledger splits by organisation, each shard a ledger of its own (a
// StatefulSet replica with its own volume, on Kubernetes). The map says which shard serves
// an organisation (config `shards`); a ledger that is asked for another shard's
// organisation answers with WrongShardError, which clients follow (clients/cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace utpost::common {

struct Shard {
  // Unique; the ledger process that is this shard runs with --shard=<name> (on Kubernetes,
  // the pod's name).
  std::string name;
  // host:port where its ledger serves, as callers reach it.
  std::string address;
  // Org keys ("NO958935420", "DK12345678") it serves.
  std::vector<std::string> organisations;
  // Serves every organisation no shard names. Exactly one shard is the default.
  bool is_default = false;
};

class ShardMap {
 public:
  // INVALID_ARGUMENT naming the first problem ("shards[1].address: ..."): a name empty or
  // used twice, an address that is not host:port, not exactly one default, an organisation
  // in two shards. No shards at all is a valid map: one ledger serves everyone.
  [[nodiscard]] static absl::StatusOr<ShardMap> Create(std::vector<Shard> shards);
  ShardMap() = default;

  bool empty() const { return shards_.empty(); }
  const std::vector<Shard>& shards() const { return shards_; }
  // The shard that serves `org_key`. Only for a map that is not empty.
  const Shard& ShardOf(std::string_view org_key) const;
  // The shard named `name`, or null.
  const Shard* Find(std::string_view name) const;

 private:
  std::vector<Shard> shards_;
};

// The reason of the google.rpc.ErrorInfo a wrong shard answers with, in domain "utpost".
inline constexpr char kWrongShardReason[] = "WRONG_SHARD";
inline constexpr char kErrorDomain[] = "utpost";
// The type URL of a google.rpc.ErrorInfo payload on an absl::Status (ToGrpcStatus sends it
// in the status details, FromGrpcStatus brings it back).
inline constexpr char kErrorInfoTypeUrl[] = "type.googleapis.com/google.rpc.ErrorInfo";

// FAILED_PRECONDITION "organisation <org> is served by shard <name> at <address>; call it
// there", carrying google.rpc.ErrorInfo{reason: WRONG_SHARD, domain: utpost, metadata:
// {organisation, shard, address}} for clients to follow.
absl::Status WrongShardError(std::string_view org_key, const Shard& shard);

// The address a WrongShardError names, or nullopt for any other status.
std::optional<std::string> WrongShardAddress(const absl::Status& status);

}  // namespace utpost::common
