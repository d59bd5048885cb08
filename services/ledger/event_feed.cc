#include "services/ledger/event_feed.h"

namespace utpost::ledger {

uint64_t EventFeed::Allocate() {
  std::lock_guard lock(mu_);
  const uint64_t sequence = next_++;
  in_flight_.insert(sequence);
  return sequence;
}

void EventFeed::Complete(uint64_t sequence) {
  bool advanced = false;
  {
    std::lock_guard lock(mu_);
    in_flight_.erase(sequence);
    const uint64_t watermark = in_flight_.empty() ? next_ - 1 : *in_flight_.begin() - 1;
    if (watermark > watermark_) {
      watermark_ = watermark;
      advanced = true;
    }
  }
  if (!advanced) return;
  std::lock_guard lock(notify_mu_);
  for (auto& [handle, callback] : subscribers_) callback();
}

uint64_t EventFeed::Watermark() const {
  std::lock_guard lock(mu_);
  return watermark_;
}

uint64_t EventFeed::Subscribe(std::function<void()> on_advance) {
  std::lock_guard lock(notify_mu_);
  const uint64_t handle = next_handle_++;
  subscribers_.emplace(handle, std::move(on_advance));
  return handle;
}

void EventFeed::Unsubscribe(uint64_t handle) {
  std::lock_guard lock(notify_mu_);
  subscribers_.erase(handle);
}

}  // namespace utpost::ledger
