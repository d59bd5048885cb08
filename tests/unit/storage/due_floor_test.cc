#include "storage/due_floor.h"

#include <gtest/gtest.h>

namespace utpost::storage {
namespace {

constexpr uint8_t kKind = 1;

TEST(DueFloorsTest, AScanRaisesTheFloorToTheFirstEntryItLeftLive) {
  DueFloors floors;
  EXPECT_EQ(floors.BeginScan(kKind), DueFloors::kNoFloor);
  floors.EndScan(kKind, 500);
  EXPECT_EQ(floors.floor(kKind), 500);
  // Other kinds keep their own floor.
  EXPECT_EQ(floors.floor(2), DueFloors::kNoFloor);
  // A scan that gives no answer (an error) leaves it.
  floors.BeginScan(kKind);
  floors.EndScan(kKind, std::nullopt);
  EXPECT_EQ(floors.floor(kKind), 500);
}

TEST(DueFloorsTest, AWriteLowersTheFloorBeforeItLands) {
  DueFloors floors;
  floors.BeginScan(kKind);
  floors.EndScan(kKind, 500);
  {
    DueFloors::Inserting inserting(floors, {{kKind, 300}});
    EXPECT_EQ(floors.floor(kKind), 300);
  }
  EXPECT_EQ(floors.floor(kKind), 300);
}

TEST(DueFloorsTest, AScanNeverRaisesTheFloorAboveAWriteItMayNotHaveSeen) {
  DueFloors floors;
  // In flight when the scan begins: its entry may land after the scan's iterator was made.
  auto before = std::make_unique<DueFloors::Inserting>(
      floors, std::vector<std::pair<uint8_t, int64_t>>{{kKind, 100}});
  floors.BeginScan(kKind);
  before.reset();
  floors.EndScan(kKind, 500);
  EXPECT_EQ(floors.floor(kKind), 100);

  // Begun and finished while the scan ran.
  floors.BeginScan(kKind);
  { DueFloors::Inserting during(floors, {{kKind, 200}}); }
  floors.EndScan(kKind, 500);
  EXPECT_EQ(floors.floor(kKind), 200);

  // Finished before the scan began: the scan saw it, and judged it.
  { DueFloors::Inserting seen(floors, {{kKind, 250}}); }
  floors.BeginScan(kKind);
  floors.EndScan(kKind, 500);
  EXPECT_EQ(floors.floor(kKind), 500);

  // Writes of another kind do not hold this kind's floor down.
  floors.BeginScan(kKind);
  { DueFloors::Inserting other(floors, {{2, 10}}); }
  floors.EndScan(kKind, 600);
  EXPECT_EQ(floors.floor(kKind), 600);
}

}  // namespace
}  // namespace utpost::storage
