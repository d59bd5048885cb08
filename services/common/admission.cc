#include "services/common/admission.h"

#include "common/strings.h"

namespace utpost::service {

Admission::Ticket::~Ticket() {
  if (admission_ != nullptr) admission_->Release(organisation_, bytes_);
}

absl::StatusOr<Admission::Ticket> Admission::Admit(std::string_view organisation,
                                                   uint64_t cost_bytes) {
  {
    std::lock_guard lock(mu_);
    int& inflight = inflight_per_organisation_[common::Av(organisation)];
    if (inflight >= limits_.max_inflight_per_organisation) {
      return absl::ResourceExhaustedError(
          "too many requests of this organisation in progress; retry with backoff");
    }
    ++inflight;
  }
  const uint64_t before = inflight_bytes_.fetch_add(cost_bytes);
  if (before > 0 && before + cost_bytes > limits_.max_inflight_bytes) {
    Release(std::string(organisation), cost_bytes);
    return absl::ResourceExhaustedError("server is at capacity; retry with backoff");
  }
  return Ticket(this, std::string(organisation), cost_bytes);
}

void Admission::Release(const std::string& organisation, uint64_t bytes) {
  inflight_bytes_.fetch_sub(bytes);
  std::lock_guard lock(mu_);
  auto it = inflight_per_organisation_.find(organisation);
  if (it != inflight_per_organisation_.end() && --it->second == 0) {
    inflight_per_organisation_.erase(it);
  }
}

}  // namespace utpost::service
