// Admission control for the public services, in one piece: a bound on the requests one
// organisation has in progress (so one case system's retry storm cannot starve the others)
// and a budget of request bytes held in memory by all requests in progress (so a burst of
// large requests cannot exhaust memory). A request that is admitted holds a Ticket, which
// gives its share back when destroyed, whatever path the request takes.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace utpost::service {

struct AdmissionLimits {
  // Requests (queued or running) one organisation may have at once.
  int max_inflight_per_organisation = 128;
  // Bytes of requests in progress, counted as the whole request's size on the wire.
  uint64_t max_inflight_bytes = 512ull << 20;
};

class Admission {
 public:
  explicit Admission(AdmissionLimits limits) : limits_(limits) {}
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept
        : admission_(std::exchange(other.admission_, nullptr)),
          organisation_(std::move(other.organisation_)),
          bytes_(other.bytes_) {}
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();

   private:
    friend class Admission;
    Ticket(Admission* admission, std::string organisation, uint64_t bytes)
        : admission_(admission), organisation_(std::move(organisation)), bytes_(bytes) {}
    Admission* admission_;
    std::string organisation_;
    uint64_t bytes_;
  };

  // A ticket for a request of `cost_bytes` from `organisation`, or RESOURCE_EXHAUSTED (retry
  // with backoff). A request larger than the whole byte budget is still admitted when no
  // other request holds bytes, so that the largest allowed letter can always be sent.
  [[nodiscard]] absl::StatusOr<Ticket> Admit(std::string_view organisation, uint64_t cost_bytes);

  uint64_t inflight_bytes() const { return inflight_bytes_.load(); }

 private:
  void Release(const std::string& organisation, uint64_t bytes);

  const AdmissionLimits limits_;
  std::atomic<uint64_t> inflight_bytes_{0};
  std::mutex mu_;
  absl::flat_hash_map<std::string, int> inflight_per_organisation_;  // guarded by mu_
};

}  // namespace utpost::service
