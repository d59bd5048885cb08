// The `courier:` section of the process config: every key is read, unknown keys and values
// out of range stop start-up naming the key.
#include "services/courier/courier_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/utpost/config.h"

namespace utpost::app {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CourierConfigYamlTest, EveryKeyIsRead) {
  Config config;
  ASSERT_TRUE(ApplyYaml("courier:\n"
                        "  workers: 4\n  batch_size: 100\n  lease_for: 5m\n"
                        "  poll_interval: 50ms\n  backoff_min: 2s\n  backoff_max: 1h\n"
                        "  retry_deadline: 48h\n  provider_timeout: 20s\n  rpc_timeout: 3s\n"
                        "  max_in_flight: 64\n  max_in_flight_per_provider: 8\n"
                        "  breaker_failures: 3\n  provider_ca: pki/providers-ca.pem\n"
                        "  receipt_poll_interval: 2s\n  receipt_providers: [digipost, eboks]\n"
                        "  name: courier-a\n",
                        config)
                  .ok());
  const courier::CourierConfig& c = config.courier;
  EXPECT_EQ(c.workers, 4);
  EXPECT_EQ(c.batch_size, 100);
  EXPECT_EQ(c.lease_for, absl::Minutes(5));
  EXPECT_EQ(c.poll_interval, absl::Milliseconds(50));
  EXPECT_EQ(c.backoff_min, absl::Seconds(2));
  EXPECT_EQ(c.backoff_max, absl::Hours(1));
  EXPECT_EQ(c.retry_deadline, absl::Hours(48));
  EXPECT_EQ(c.provider_timeout, absl::Seconds(20));
  EXPECT_EQ(c.rpc_timeout, absl::Seconds(3));
  EXPECT_EQ(c.max_in_flight, 64);
  EXPECT_EQ(c.max_in_flight_per_provider, 8);
  EXPECT_EQ(c.breaker_failures, 3);
  EXPECT_EQ(c.provider_ca, "pki/providers-ca.pem");
  EXPECT_EQ(c.receipt_poll_interval, absl::Seconds(2));
  EXPECT_THAT(c.receipt_providers, ElementsAre("digipost", "eboks"));
  EXPECT_EQ(c.name, "courier-a");
  EXPECT_TRUE(Finalize(config).ok());
}

TEST(CourierConfigYamlTest, DefaultsPullTheDevProvidersReceipts) {
  Config config;
  EXPECT_THAT(config.courier.receipt_providers, ElementsAre("dev", "dev-substantial"));
  EXPECT_TRUE(Finalize(config).ok());
}

TEST(CourierConfigYamlTest, UnknownKeysAndValuesOutOfRangeNameTheKey) {
  Config config;
  absl::Status unknown = ApplyYaml("courier:\n  wrokers: 4\n", config);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("courier.wrokers"));
  ASSERT_TRUE(
      ApplyYaml("courier:\n  max_in_flight: 4\n  max_in_flight_per_provider: 5\n", config).ok());
  absl::Status range = Finalize(config);
  EXPECT_EQ(range.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(range.message()), HasSubstr("courier.max_in_flight_per_provider"));
}

}  // namespace
}  // namespace utpost::app
