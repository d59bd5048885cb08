#include "services/common/admission.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace utpost::service {
namespace {

TEST(AdmissionTest, BoundsRequestsInProgressPerOrganisation) {
  Admission admission(AdmissionLimits{2, 1 << 20});
  std::vector<Admission::Ticket> oslo;
  for (int i = 0; i < 2; ++i) {
    auto t = admission.Admit("NO958935420", 10);
    ASSERT_TRUE(t.ok());
    oslo.push_back(std::move(*t));
  }
  auto third = admission.Admit("NO958935420", 10);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  // Another organisation is not held back by Oslo's burst.
  EXPECT_TRUE(admission.Admit("NO964338531", 10).ok());
  // A ticket gives its place back when it goes away.
  oslo.pop_back();
  EXPECT_TRUE(admission.Admit("NO958935420", 10).ok());
}

TEST(AdmissionTest, BoundsBytesHeldAndReleasesThemWithTheTicket) {
  Admission admission(AdmissionLimits{100, 1000});
  std::optional<Admission::Ticket> big;
  {
    auto t = admission.Admit("NO958935420", 900);
    ASSERT_TRUE(t.ok());
    big.emplace(std::move(*t));
  }
  EXPECT_EQ(admission.inflight_bytes(), 900u);
  EXPECT_EQ(admission.Admit("NO964338531", 200).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(admission.inflight_bytes(), 900u) << "a refusal holds nothing";
  big.reset();
  EXPECT_EQ(admission.inflight_bytes(), 0u);
  // A request larger than the whole budget is still admitted when nothing else is held.
  auto huge = admission.Admit("NO964338531", 5000);
  EXPECT_TRUE(huge.ok());
}

TEST(AdmissionTest, AMovedTicketReleasesOnce) {
  Admission admission(AdmissionLimits{1, 1000});
  {
    auto t = admission.Admit("NO958935420", 100);
    ASSERT_TRUE(t.ok());
    Admission::Ticket moved(std::move(*t));
    EXPECT_EQ(admission.inflight_bytes(), 100u);
  }
  EXPECT_EQ(admission.inflight_bytes(), 0u);
  EXPECT_TRUE(admission.Admit("NO958935420", 100).ok());
}

}  // namespace
}  // namespace utpost::service
