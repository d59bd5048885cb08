// Watch cursors: WatchLetterEventsRequest.after_sequence against the event feed's watermark
// (services/ledger/event_feed.h, one sequence per organisation), the check WatchLetterEvents
// and Ledger::ReadEvents make before they read the database.
//
// Input: 8 bytes of the store's last sequence, 1 byte n, n bytes of a WatchLetterEventsRequest,
// then one operation per byte on the feed: allocate a sequence, complete one (written or
// abandoned, in any order), subscribe or unsubscribe a watcher. After each operation the
// watermark is checked against a model (the highest sequence below which every allocated one
// has completed, for each of four organisations), and the request's cursor is accepted
// exactly when it is not ahead of the first organisation's watermark.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "google/protobuf/stubs/logging.h"
#include "services/ledger/event_feed.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::fuzz {
namespace {

constexpr std::string_view kSenders[] = {"NO958935420", "NO974760673", "DK12345674", "DK25313763"};

struct Watcher {
  uint64_t handle = 0;
  size_t sender = 0;
  bool subscribed = false;
};

// The model of one organisation's sequence.
struct Model {
  uint64_t allocated = 0;  // highest sequence handed out
  std::set<uint64_t> in_flight;
  uint64_t previous_watermark = 0;
  std::set<uint64_t> written;  // completed as written
  uint64_t announced = 0;      // the watermark seen by the last wake-up of this sender
  uint64_t Watermark() const { return in_flight.empty() ? allocated : *in_flight.begin() - 1; }
};

// Sender 0 starts from `last_sequence` (a store that already has events); the others from
// nothing. The cursor is sender 0's.
void FuzzFeed(uint64_t last_sequence, uint64_t cursor, std::string_view ops) {
  ledger::EventFeed feed({{std::string(kSenders[0]), last_sequence}});
  Model models[std::size(kSenders)];
  models[0].allocated = models[0].previous_watermark = last_sequence;
  UTPOST_FUZZ_CHECK(feed.Watermark(kSenders[0]) == last_sequence);
  UTPOST_FUZZ_CHECK(feed.Watermark(kSenders[1]) == 0);
  // WatchLetterEvents refuses a cursor ahead of the watermark (INVALID_ARGUMENT).
  bool cursor_accepted = cursor <= last_sequence;
  // The callback checks it runs only while subscribed.
  std::vector<Watcher> watchers;
  watchers.reserve(ops.size());
  // One watcher per sender for the whole input, recording what each wake-up shows: every
  // written event must be announced as soon as the watermark covers it, however the writes
  // interleave (a watcher of a busy organisation must not wait for sending to pause).
  std::vector<uint64_t> permanent;
  for (size_t i = 0; i < std::size(kSenders); ++i) {
    permanent.push_back(feed.Subscribe(std::string(kSenders[i]), [&feed, &models, i] {
      models[i].announced = feed.Watermark(kSenders[i]);
    }));
  }

  for (const char op_char : ops) {
    const auto op = static_cast<uint8_t>(op_char);
    const size_t sender = (op >> 3) % std::size(kSenders);
    Model& model = models[sender];
    switch (op & 7) {
      case 0:
      case 1:
        model.in_flight.insert(feed.Allocate(kSenders[sender]));
        UTPOST_FUZZ_CHECK(*model.in_flight.rbegin() == ++model.allocated);
        break;
      case 2:
      case 3:
      case 4: {
        if (model.in_flight.empty()) break;
        // Completion order: the oldest, the newest, or one picked by the operation byte.
        auto it = model.in_flight.begin();
        if ((op & 7) == 3) {
          it = std::prev(model.in_flight.end());
        } else if ((op & 7) == 4) {
          std::advance(it, (op >> 5) % model.in_flight.size());
        }
        const bool written = (op & 0x80) == 0;
        feed.Complete(kSenders[sender], *it, written);
        if (written) model.written.insert(*it);
        model.in_flight.erase(it);
        break;
      }
      case 5: {
        Watcher& w = watchers.emplace_back();
        w.sender = sender;
        w.subscribed = true;
        Watcher* self = &w;  // `watchers` never reallocates: capacity is reserved above
        w.handle = feed.Subscribe(std::string(kSenders[sender]),
                                  [self] { UTPOST_FUZZ_CHECK(self->subscribed); });
        break;
      }
      case 6:
        if (!watchers.empty()) {
          Watcher& w = watchers[(op >> 3) % watchers.size()];
          feed.Unsubscribe(w.handle);
          w.subscribed = false;
        }
        break;
      case 7:
        break;
    }
    for (size_t i = 0; i < std::size(kSenders); ++i) {
      const uint64_t watermark = feed.Watermark(kSenders[i]);
      UTPOST_FUZZ_CHECK(watermark == models[i].Watermark());
      UTPOST_FUZZ_CHECK(watermark >= models[i].previous_watermark);
      models[i].previous_watermark = watermark;
      auto visible = models[i].written.upper_bound(watermark);
      if (visible != models[i].written.begin()) {
        UTPOST_FUZZ_CHECK(*std::prev(visible) <= models[i].announced);
      }
    }
    // Once the cursor is not ahead of the watermark it stays so: a reader resuming from the
    // last sequence it saw is never refused.
    const uint64_t watermark = feed.Watermark(kSenders[0]);
    cursor_accepted = cursor_accepted || cursor <= watermark;
    UTPOST_FUZZ_CHECK(!cursor_accepted || cursor <= watermark);
  }
  for (const Watcher& w : watchers) {
    if (w.subscribed) feed.Unsubscribe(w.handle);
  }
  for (uint64_t handle : permanent) feed.Unsubscribe(handle);
}

}  // namespace
}  // namespace utpost::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Requests with invalid UTF-8 are refused by the parser, which also logs each one.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  uint64_t last_sequence = 0;
  std::memcpy(&last_sequence, data, sizeof(last_sequence));
  // A store's last sequence leaves room for the sequences this input allocates.
  last_sequence >>= 1;
  const size_t request_size = std::min<size_t>(data[8], size - 9);
  utpost::v1::WatchLetterEventsRequest request;
  if (!request.ParseFromArray(data + 9, static_cast<int>(request_size))) return 0;
  utpost::fuzz::FuzzFeed(last_sequence, request.after_sequence(),
                         std::string_view(reinterpret_cast<const char*>(data) + 9 + request_size,
                                          size - 9 - request_size));
  return 0;
}
