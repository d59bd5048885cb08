#include "services/print/print_config.h"

#include <gtest/gtest.h>

namespace utpost::print {
namespace {

TEST(PrintConfigTest, DefaultsAreValid) { EXPECT_TRUE(ValidatePrintConfig({}).ok()); }

TEST(PrintConfigTest, OutOfRangeNamesTheKey) {
  PrintConfig c;
  c.batch_max_letters = 0;
  EXPECT_EQ(ValidatePrintConfig(c).message(), "print.batch_max_letters: must be 1..100000");
  c = {};
  c.provider_id = "Dev Print";
  EXPECT_EQ(ValidatePrintConfig(c).code(), absl::StatusCode::kInvalidArgument);
  c = {};
  c.batch_window = absl::Milliseconds(10);
  EXPECT_EQ(ValidatePrintConfig(c).message(), "print.batch_window: must be 1s..7d");
  c = {};
  c.batch_max_bytes = 1000;
  EXPECT_EQ(ValidatePrintConfig(c).message(), "print.batch_max_bytes: must be 1 MiB..1 GiB");
  c = {};
  c.home_country = "no";
  EXPECT_FALSE(ValidatePrintConfig(c).ok());
  c = {};
  c.backoff_max = absl::Milliseconds(200);
  EXPECT_FALSE(ValidatePrintConfig(c).ok());
}

TEST(PrintConfigTest, EndpointKinds) {
  EXPECT_TRUE(IsComponentEndpoint("mailbox-sim"));
  EXPECT_FALSE(IsComponentEndpoint("print.example.no:443"));
  PrintConfig c;
  c.provider_endpoint = "host:";
  EXPECT_FALSE(ValidatePrintConfig(c).ok());
}

}  // namespace
}  // namespace utpost::print
