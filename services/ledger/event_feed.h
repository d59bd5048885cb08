// Sequence numbers for the event feed, and who is waiting for new events.
//
// Sequences are handed out before a write and completed after it; writes finish out of order
// under group commit, so readers may only read up to the watermark: the highest sequence below
// which every sequence has completed (written or abandoned). A reader that reads to the
// watermark and resumes from the last sequence it saw never skips an event that becomes
// visible later. A failed write abandons its sequence; the feed simply has a gap there.
//
// Subscribers watch one sender's feed and are woken only when the watermark passes an event
// of that sender, so an idle watcher costs nothing while other organisations send.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace utpost::ledger {

class EventFeed {
 public:
  // `last_sequence`: the highest sequence already stored (0 for an empty store).
  explicit EventFeed(uint64_t last_sequence)
      : next_(last_sequence + 1), watermark_(last_sequence) {}

  // Reserves the next sequence. Every Allocate must be followed by exactly one Complete.
  uint64_t Allocate();
  // Marks `sequence` as written (an event of `sender`) or abandoned (`written` false).
  // Advances the watermark; subscribers of every sender whose events it now covers are woken.
  void Complete(uint64_t sequence, std::string_view sender, bool written = true);
  uint64_t Watermark() const;

  // `on_advance` runs (on the thread that completed a write, outside the feed's lock) each
  // time the watermark passes new events of `sender`. It must not block, nor call Subscribe
  // or Unsubscribe. Returns a handle for Unsubscribe.
  uint64_t Subscribe(std::string sender, std::function<void()> on_advance);
  // After this returns, the callback is not running and will not run again.
  void Unsubscribe(uint64_t handle);

 private:
  mutable std::mutex mu_;
  uint64_t next_;
  uint64_t watermark_;
  std::set<uint64_t> in_flight_;
  // Senders with written events above the watermark: sender -> highest such sequence.
  std::map<std::string, uint64_t, std::less<>> unannounced_;

  // Held while callbacks run, so Unsubscribe can wait for a running callback to finish.
  std::mutex notify_mu_;
  struct Subscriber {
    std::string sender;
    std::function<void()> on_advance;
  };
  std::map<uint64_t, Subscriber> subscribers_;
  std::multimap<std::string, uint64_t, std::less<>> by_sender_;
  uint64_t next_handle_ = 1;
};

}  // namespace utpost::ledger
