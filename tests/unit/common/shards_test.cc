// The shard map (which shard serves an organisation, and what makes a map invalid) and the
// WRONG_SHARD redirect, also after a trip through gRPC's status.
#include "common/shards.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/grpc_status.h"

namespace utpost::common {
namespace {

using ::testing::HasSubstr;

std::vector<Shard> TwoShards() {
  return {{"ledger-0", "ledger-0.ledger:7443", {"NO958935420", "DK29189854"}, false},
          {"ledger-1", "ledger-1.ledger:7443", {}, true}};
}

TEST(ShardMapTest, ListedOrganisationsGoToTheirShardAndTheRestToTheDefault) {
  absl::StatusOr<ShardMap> map = ShardMap::Create(TwoShards());
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->ShardOf("NO958935420").name, "ledger-0");
  EXPECT_EQ(map->ShardOf("DK29189854").name, "ledger-0");
  EXPECT_EQ(map->ShardOf("NO964338531").name, "ledger-1");
  EXPECT_NE(map->Find("ledger-1"), nullptr);
  EXPECT_EQ(map->Find("ledger-2"), nullptr);
  EXPECT_TRUE(ShardMap::Create({}).ok());  // one ledger for everyone
}

TEST(ShardMapTest, AnInvalidMapNamesWhatIsWrong) {
  auto refused = [](std::vector<Shard> shards) {
    absl::StatusOr<ShardMap> map = ShardMap::Create(std::move(shards));
    EXPECT_EQ(map.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(map.status().message());
  };
  std::vector<Shard> s = TwoShards();
  s[1].is_default = false;
  EXPECT_THAT(refused(s), HasSubstr("exactly one shard must be the default"));
  s = TwoShards();
  s[0].is_default = true;
  EXPECT_THAT(refused(s), HasSubstr("exactly one shard must be the default (has 2)"));
  s = TwoShards();
  s[1].name = "ledger-0";
  EXPECT_THAT(refused(s), HasSubstr("shards[1].name"));
  s = TwoShards();
  s[1].organisations = {"NO958935420"};
  EXPECT_THAT(refused(s), HasSubstr("shards[1].organisations: NO958935420 is in two shards"));
  s = TwoShards();
  s[0].address = "ledger-0";
  EXPECT_THAT(refused(s), HasSubstr("shards[0].address: must be host:port"));
  s = TwoShards();
  s[0].name = "";
  EXPECT_THAT(refused(s), HasSubstr("shards[0].name: is required"));
}

TEST(WrongShardTest, TheRedirectSurvivesGrpcAndNamesTheShard) {
  const Shard shard{"ledger-0", "ledger-0.ledger:7443", {"NO958935420"}, false};
  const absl::Status status = WrongShardError("NO958935420", shard);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("served by shard ledger-0 at ledger-0.ledger:7443"));
  EXPECT_EQ(WrongShardAddress(status), "ledger-0.ledger:7443");

  // Through the wire form: google.rpc.Status details carrying a google.rpc.ErrorInfo.
  const grpc::Status wire = ToGrpcStatus(status);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_FALSE(wire.error_details().empty());
  const absl::Status back = FromGrpcStatus(wire);
  EXPECT_EQ(WrongShardAddress(back), "ledger-0.ledger:7443");

  // Nothing else is a redirect.
  EXPECT_EQ(WrongShardAddress(absl::FailedPreconditionError("letter already printed")),
            std::nullopt);
  absl::Status other = status;
  other = absl::Status(absl::StatusCode::kUnavailable, status.message());
  EXPECT_EQ(WrongShardAddress(other), std::nullopt);
}

}  // namespace
}  // namespace utpost::common
