// The courier's rules without a network: classification, back-off, the breaker, details,
// endpoints and the config.
#include "services/courier/policy.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/courier/courier_config.h"
#include "services/courier/provider_channels.h"

namespace utpost::courier {
namespace {

using ::testing::HasSubstr;

TEST(ClassifyTest, PermanentAndTransientCodes) {
  for (absl::StatusCode c :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
        absl::StatusCode::kFailedPrecondition, absl::StatusCode::kPermissionDenied,
        absl::StatusCode::kUnimplemented}) {
    EXPECT_EQ(ClassifyProviderError(c), FailureKind::kPermanent) << c;
  }
  for (absl::StatusCode c :
       {absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded,
        absl::StatusCode::kResourceExhausted, absl::StatusCode::kAborted,
        absl::StatusCode::kInternal, absl::StatusCode::kUnknown, absl::StatusCode::kCancelled}) {
    EXPECT_EQ(ClassifyProviderError(c), FailureKind::kTransient) << c;
  }
}

TEST(BackoffTest, FullJitterUnderADoublingCap) {
  const absl::Duration lo = absl::Seconds(1), hi = absl::Seconds(10);
  EXPECT_EQ(FullJitterDelay(lo, hi, 0, 0.0), absl::ZeroDuration());
  EXPECT_EQ(FullJitterDelay(lo, hi, 0, 0.5), absl::Milliseconds(500));
  EXPECT_EQ(FullJitterDelay(lo, hi, 3, 0.5), absl::Seconds(4));
  EXPECT_EQ(FullJitterDelay(lo, hi, 30, 0.5), absl::Seconds(5));
  EXPECT_EQ(FullJitterDelay(lo, hi, 4000000000u, 0.5), absl::Seconds(5));
  EXPECT_LT(FullJitterDelay(lo, hi, 30, 1.0), hi);
  EXPECT_EQ(FullJitterDelay(lo, hi, 1, std::nan("")), absl::ZeroDuration());
  EXPECT_EQ(FullJitterDelay(lo, hi, 1, -3), absl::ZeroDuration());
}

TEST(BackoffTest, RetryAtNeverPassesTheDeadline) {
  const absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_EQ(RetryAt(now, now + absl::Hours(1), absl::Seconds(1), absl::Seconds(60), 2, 0.5),
            now + absl::Seconds(2));
  EXPECT_EQ(RetryAt(now, now + absl::Seconds(3), absl::Seconds(1), absl::Seconds(60), 10, 0.9),
            now + absl::Seconds(3));
}

TEST(DetailTest, PrintableAsciiAndBounded) {
  EXPECT_EQ(SafeDetail("a\nb\x01"
                       "c\xc3\xa5"),
            "a?b?c??");
  EXPECT_EQ(SafeDetail(std::string(5000, 'x')).size(), 1000u);
  EXPECT_EQ(ProviderLabel("dev-substantial"), "dev-substantial");
  EXPECT_EQ(ProviderLabel(""), "none");
  EXPECT_EQ(ProviderLabel("Dev Provider"), "(malformed)");
}

TEST(BreakerTest, OpensAfterFailuresProbesOneAtATimeAndCloses) {
  ProviderBreaker b(3, absl::Seconds(1), absl::Seconds(8));
  absl::Time t = absl::FromUnixSeconds(1000);
  absl::Time retry;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.Admit(t, &retry));
    b.OnTransientFailure(t, b.generation());
  }
  ASSERT_TRUE(b.Admit(t, &retry));
  b.OnTransientFailure(t, b.generation());
  EXPECT_TRUE(b.open(t));
  EXPECT_FALSE(b.Admit(t, &retry));
  EXPECT_EQ(retry, t + absl::Seconds(1));
  // Half open: one probe; a second delivery waits.
  t += absl::Seconds(1);
  EXPECT_TRUE(b.Admit(t, &retry));
  EXPECT_FALSE(b.Admit(t, &retry));
  b.OnTransientFailure(t, b.generation());  // the probe fails: open twice as long
  EXPECT_FALSE(b.Admit(t + absl::Milliseconds(1999), &retry));
  EXPECT_EQ(retry, t + absl::Seconds(2));
  t += absl::Seconds(2);
  EXPECT_TRUE(b.Admit(t, &retry));
  b.OnSuccess();
  EXPECT_TRUE(b.Admit(t, &retry));
  EXPECT_TRUE(b.Admit(t, &retry));
  EXPECT_EQ(b.openings(), 0);
}

TEST(BreakerTest, AnAbandonedProbeLetsTheNextOneGo) {
  ProviderBreaker b(1, absl::Seconds(1), absl::Seconds(8));
  absl::Time t = absl::FromUnixSeconds(1000);
  absl::Time retry;
  ASSERT_TRUE(b.Admit(t, &retry));
  b.OnTransientFailure(t, b.generation());
  t += absl::Seconds(1);
  ASSERT_TRUE(b.Admit(t, &retry));
  b.OnAbandoned(b.generation());
  EXPECT_TRUE(b.Admit(t, &retry));
}

TEST(BreakerTest, OneOutageOpensItOnceHoweverManyDeliveriesItCaught) {
  // 64 deliveries in flight when the provider goes down: all fail. Only those admitted
  // before the breaker opened fail after it, and they count no more.
  ProviderBreaker b(5, absl::Seconds(1), absl::Minutes(10));
  absl::Time t = absl::FromUnixSeconds(1000);
  absl::Time retry;
  std::vector<uint64_t> admitted;
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(b.Admit(t, &retry));
    admitted.push_back(b.generation());
  }
  for (uint64_t g : admitted) b.OnTransientFailure(t, g);
  EXPECT_EQ(b.openings(), 1);
  EXPECT_FALSE(b.Admit(t, &retry));
  EXPECT_EQ(retry, t + absl::Seconds(1));  // not 2^12 s
  // The probe after the cool-off is of the new generation: its failure doubles the cool-off.
  t += absl::Seconds(1);
  ASSERT_TRUE(b.Admit(t, &retry));
  b.OnTransientFailure(t, b.generation());
  EXPECT_EQ(b.openings(), 2);
  EXPECT_FALSE(b.Admit(t + absl::Milliseconds(1999), &retry));
  EXPECT_EQ(retry, t + absl::Seconds(2));
  // A delivery of the first generation abandoned now does not end the next probe.
  t += absl::Seconds(2);
  ASSERT_TRUE(b.Admit(t, &retry));
  b.OnAbandoned(admitted[0]);
  EXPECT_FALSE(b.Admit(t, &retry));
}

TEST(EndpointTest, ComponentNamesHostPortAndHttps) {
  auto c = ParseProviderEndpoint("mailbox-sim");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->component);
  EXPECT_EQ(c->target, "mailbox-sim");
  auto h = ParseProviderEndpoint("mx.example.no:443");
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->component);
  EXPECT_EQ(h->target, "mx.example.no:443");
  auto s = ParseProviderEndpoint("https://mx.example.no:8443/");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->target, "mx.example.no:8443");
  for (const char* bad : {"", "http://mx:80", "https://mx.example.no", "mx:", ":443",
                          "https://mx:443/path", "Mailbox"}) {
    EXPECT_FALSE(ParseProviderEndpoint(bad).ok()) << bad;
  }
}

TEST(CourierConfigTest, DefaultsAreValidAndEachRuleNamesItsKey) {
  EXPECT_TRUE(ValidateCourierConfig(CourierConfig{}).ok());
  auto check = [](auto tweak, const char* key) {
    CourierConfig c;
    tweak(c);
    absl::Status s = ValidateCourierConfig(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_THAT(std::string(s.message()), HasSubstr(key));
  };
  check([](CourierConfig& c) { c.workers = 0; }, "courier.workers");
  check([](CourierConfig& c) { c.batch_size = 1001; }, "courier.batch_size");
  check([](CourierConfig& c) { c.lease_for = absl::Seconds(30); }, "courier.lease_for");
  check([](CourierConfig& c) { c.backoff_max = absl::Milliseconds(500); }, "courier.backoff_max");
  check([](CourierConfig& c) { c.retry_deadline = absl::ZeroDuration(); },
        "courier.retry_deadline");
  check([](CourierConfig& c) { c.provider_timeout = absl::Hours(1); }, "courier.provider_timeout");
  check([](CourierConfig& c) { c.max_in_flight_per_provider = 64; },
        "courier.max_in_flight_per_provider");
  check([](CourierConfig& c) { c.receipt_providers = {"Not An Id"}; }, "courier.receipt_providers");
  check([](CourierConfig& c) { c.name = ""; }, "courier.name");
}

}  // namespace
}  // namespace utpost::courier
