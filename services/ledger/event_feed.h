// Sequence numbers for the event feed, and who is waiting for new events.
//
// Each organisation has a sequence of its own: its events are numbered 1, 2, 3, ... so that a
// tenant's cursor reveals nothing about other tenants' volumes.
//
// Sequences are handed out before a write and completed after it; writes finish out of order
// under group commit, so readers may only read up to the organisation's watermark: the
// highest sequence below which every one of its sequences has completed (written or
// abandoned). A reader that reads to the watermark and resumes from the last sequence it saw
// never skips an event that becomes visible later. A failed write abandons its sequence; the
// feed simply has a gap there.
//
// Subscribers watch one organisation's feed and are woken each time its watermark passes new
// events, so an idle watcher costs nothing while other organisations send, and a watcher of
// an organisation that keeps sending sees each event as soon as the writes before it finish.
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

#include "absl/container/flat_hash_map.h"

namespace utpost::ledger {

class EventFeed {
 public:
  // `last_sequences`: the highest sequence already stored, per organisation (absent: none).
  explicit EventFeed(const absl::flat_hash_map<std::string, uint64_t>& last_sequences = {});

  // Reserves the organisation's next sequence. Every Allocate must be followed by exactly
  // one Complete with the same organisation.
  uint64_t Allocate(std::string_view organisation);
  // Marks `sequence` as written or abandoned (`written` false). Advances the organisation's
  // watermark; its subscribers are woken if the watermark passed a written event.
  void Complete(std::string_view organisation, uint64_t sequence, bool written = true);
  // 0 for an organisation without events.
  uint64_t Watermark(std::string_view organisation) const;

  // `on_advance` runs (on the thread that completed a write, outside the feed's lock) each
  // time the watermark passes new events of `organisation`. It must not block, nor call
  // Subscribe or Unsubscribe. Returns a handle for Unsubscribe.
  uint64_t Subscribe(std::string organisation, std::function<void()> on_advance);
  // After this returns, the callback is not running and will not run again.
  void Unsubscribe(uint64_t handle);

 private:
  struct Sequence {
    uint64_t next = 1;
    uint64_t watermark = 0;
    std::set<uint64_t> in_flight;
    // Written sequences not yet announced: those above the watermark. Announcing when the
    // watermark passes the lowest of them, not the highest, lets a busy organisation's
    // earlier events be announced while later ones are still being written.
    std::set<uint64_t> unannounced;
  };

  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Sequence> sequences_;  // guarded by mu_

  // Held while callbacks run, so Unsubscribe can wait for a running callback to finish.
  std::mutex notify_mu_;
  struct Subscriber {
    std::string organisation;
    std::function<void()> on_advance;
  };
  std::map<uint64_t, Subscriber> subscribers_;
  std::multimap<std::string, uint64_t, std::less<>> by_organisation_;
  uint64_t next_handle_ = 1;
};

}  // namespace utpost::ledger
