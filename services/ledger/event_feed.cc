#include "services/ledger/event_feed.h"

#include <vector>

namespace utpost::ledger {

uint64_t EventFeed::Allocate() {
  std::lock_guard lock(mu_);
  const uint64_t sequence = next_++;
  in_flight_.insert(sequence);
  return sequence;
}

void EventFeed::Complete(uint64_t sequence, std::string_view sender, bool written) {
  std::vector<std::string> announce;
  {
    std::lock_guard lock(mu_);
    in_flight_.erase(sequence);
    if (written) {
      auto [it, inserted] = unannounced_.try_emplace(std::string(sender), sequence);
      if (!inserted && it->second < sequence) it->second = sequence;
    }
    const uint64_t watermark = in_flight_.empty() ? next_ - 1 : *in_flight_.begin() - 1;
    if (watermark <= watermark_) return;
    watermark_ = watermark;
    // A sender is announced once the watermark covers its newest event; one whose newest
    // event is still above it waits for a later advance.
    for (auto it = unannounced_.begin(); it != unannounced_.end();) {
      if (it->second <= watermark_) {
        announce.push_back(it->first);
        it = unannounced_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (announce.empty()) return;
  std::lock_guard lock(notify_mu_);
  for (const std::string& s : announce) {
    auto [begin, end] = by_sender_.equal_range(s);
    for (auto it = begin; it != end; ++it) subscribers_.at(it->second).on_advance();
  }
}

uint64_t EventFeed::Watermark() const {
  std::lock_guard lock(mu_);
  return watermark_;
}

uint64_t EventFeed::Subscribe(std::string sender, std::function<void()> on_advance) {
  std::lock_guard lock(notify_mu_);
  const uint64_t handle = next_handle_++;
  by_sender_.emplace(sender, handle);
  subscribers_.emplace(handle, Subscriber{std::move(sender), std::move(on_advance)});
  return handle;
}

void EventFeed::Unsubscribe(uint64_t handle) {
  std::lock_guard lock(notify_mu_);
  auto it = subscribers_.find(handle);
  if (it == subscribers_.end()) return;
  auto [begin, end] = by_sender_.equal_range(it->second.sender);
  for (auto s = begin; s != end; ++s) {
    if (s->second == handle) {
      by_sender_.erase(s);
      break;
    }
  }
  subscribers_.erase(it);
}

}  // namespace utpost::ledger
