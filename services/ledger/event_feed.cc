#include "services/ledger/event_feed.h"

#include "common/strings.h"

namespace utpost::ledger {

EventFeed::EventFeed(const absl::flat_hash_map<std::string, uint64_t>& last_sequences) {
  for (const auto& [organisation, last] : last_sequences) {
    Sequence& s = sequences_[common::Av(organisation)];
    s.next = last + 1;
    s.watermark = last;
  }
}

uint64_t EventFeed::Allocate(std::string_view organisation) {
  std::lock_guard lock(mu_);
  Sequence& s = sequences_[common::Av(organisation)];
  const uint64_t sequence = s.next++;
  s.in_flight.insert(sequence);
  return sequence;
}

void EventFeed::Complete(std::string_view organisation, uint64_t sequence, bool written) {
  {
    std::lock_guard lock(mu_);
    auto it = sequences_.find(common::Av(organisation));
    if (it == sequences_.end()) return;  // never allocated: a caller bug, nothing to do
    Sequence& s = it->second;
    s.in_flight.erase(sequence);
    if (written) s.unannounced.insert(sequence);
    s.watermark = s.in_flight.empty() ? s.next - 1 : *s.in_flight.begin() - 1;
    if (s.unannounced.empty() || *s.unannounced.begin() > s.watermark) return;
    // Every written event up to the watermark is now visible; those above it are announced
    // by the Complete that lets the watermark pass them.
    s.unannounced.erase(s.unannounced.begin(), s.unannounced.upper_bound(s.watermark));
  }
  std::lock_guard lock(notify_mu_);
  auto [begin, end] = by_organisation_.equal_range(organisation);
  for (auto it = begin; it != end; ++it) subscribers_.at(it->second).on_advance();
}

uint64_t EventFeed::Watermark(std::string_view organisation) const {
  std::lock_guard lock(mu_);
  auto it = sequences_.find(common::Av(organisation));
  return it == sequences_.end() ? 0 : it->second.watermark;
}

uint64_t EventFeed::Subscribe(std::string organisation, std::function<void()> on_advance) {
  std::lock_guard lock(notify_mu_);
  const uint64_t handle = next_handle_++;
  by_organisation_.emplace(organisation, handle);
  subscribers_.emplace(handle, Subscriber{std::move(organisation), std::move(on_advance)});
  return handle;
}

void EventFeed::Unsubscribe(uint64_t handle) {
  std::lock_guard lock(notify_mu_);
  auto it = subscribers_.find(handle);
  if (it == subscribers_.end()) return;
  auto [begin, end] = by_organisation_.equal_range(it->second.organisation);
  for (auto s = begin; s != end; ++s) {
    if (s->second == handle) {
      by_organisation_.erase(s);
      break;
    }
  }
  subscribers_.erase(it);
}

}  // namespace utpost::ledger
