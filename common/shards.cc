#include "common/shards.h"

#include <set>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "google/rpc/error_details.pb.h"

namespace utpost::common {

absl::StatusOr<ShardMap> ShardMap::Create(std::vector<Shard> shards) {
  std::set<std::string> names;
  std::set<std::string> organisations;
  int defaults = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    const Shard& s = shards[i];
    const std::string at = absl::StrCat("shards[", i, "]");
    if (s.name.empty()) return absl::InvalidArgumentError(absl::StrCat(at, ".name: is required"));
    if (!names.insert(s.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".name: shard ", s.name, " is named twice"));
    }
    const size_t colon = s.address.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s.address.size()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".address: must be host:port"));
    }
    for (const std::string& org : s.organisations) {
      if (!organisations.insert(org).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ".organisations: ", org, " is in two shards"));
      }
    }
    defaults += s.is_default ? 1 : 0;
  }
  if (!shards.empty() && defaults != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("shards: exactly one shard must be the default (has ", defaults, ")"));
  }
  ShardMap map;
  map.shards_ = std::move(shards);
  return map;
}

const Shard& ShardMap::ShardOf(std::string_view org_key) const {
  const Shard* fallback = &shards_.front();
  for (const Shard& s : shards_) {
    for (const std::string& org : s.organisations) {
      if (org == org_key) return s;
    }
    if (s.is_default) fallback = &s;
  }
  return *fallback;
}

const Shard* ShardMap::Find(std::string_view name) const {
  for (const Shard& s : shards_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

absl::Status WrongShardError(std::string_view org_key, const Shard& shard) {
  absl::Status status = absl::FailedPreconditionError(
      absl::StrCat("organisation ", Av(org_key), " is served by shard ", shard.name, " at ",
                   shard.address, "; call it there"));
  google::rpc::ErrorInfo info;
  info.set_reason(kWrongShardReason);
  info.set_domain(kErrorDomain);
  (*info.mutable_metadata())["organisation"] = std::string(org_key);
  (*info.mutable_metadata())["shard"] = shard.name;
  (*info.mutable_metadata())["address"] = shard.address;
  status.SetPayload(kErrorInfoTypeUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

std::optional<std::string> WrongShardAddress(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kFailedPrecondition) return std::nullopt;
  auto payload = status.GetPayload(kErrorInfoTypeUrl);
  if (!payload) return std::nullopt;
  google::rpc::ErrorInfo info;
  if (!info.ParseFromString(std::string(*payload)) || info.reason() != kWrongShardReason ||
      info.domain() != kErrorDomain) {
    return std::nullopt;
  }
  auto it = info.metadata().find("address");
  if (it == info.metadata().end() || it->second.empty()) return std::nullopt;
  return it->second;
}

}  // namespace utpost::common
