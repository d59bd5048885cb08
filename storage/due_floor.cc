#include "storage/due_floor.h"

#include <algorithm>

namespace utpost::storage {

DueFloors::Inserting::Inserting(DueFloors& floors, std::vector<std::pair<uint8_t, int64_t>> dues)
    : floors_(floors), dues_(std::move(dues)) {
  std::lock_guard lock(floors_.mu_);
  for (const auto& [kind, due] : dues_) {
    Kind& k = floors_.kinds_[kind];
    k.floor = std::min(k.floor, due);
    k.in_flight.insert(due);
    if (k.scanning) k.lowest_written = std::min(k.lowest_written, due);
  }
}

DueFloors::Inserting::~Inserting() {
  std::lock_guard lock(floors_.mu_);
  for (const auto& [kind, due] : dues_) {
    Kind& k = floors_.kinds_[kind];
    k.in_flight.erase(k.in_flight.find(due));
  }
}

int64_t DueFloors::BeginScan(uint8_t kind) {
  std::lock_guard lock(mu_);
  Kind& k = kinds_[kind];
  k.scanning = true;
  // A write in flight now may land after the scan's iterator is made, unseen by it.
  k.lowest_written =
      k.in_flight.empty() ? std::numeric_limits<int64_t>::max() : *k.in_flight.begin();
  return k.floor;
}

void DueFloors::EndScan(uint8_t kind, std::optional<int64_t> first_live) {
  std::lock_guard lock(mu_);
  Kind& k = kinds_[kind];
  if (first_live) k.floor = std::min(*first_live, k.lowest_written);
  k.scanning = false;
}

int64_t DueFloors::floor(uint8_t kind) const {
  std::lock_guard lock(mu_);
  return kinds_[kind].floor;
}

}  // namespace utpost::storage
