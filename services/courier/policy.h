// The courier's decisions that need no network: how a provider's error is classified, how
// long a retry waits, when a provider is backed off as a whole, and what a detail may say.
// Pure or self-contained (the breaker keeps its own state under its caller's lock), so every
// rule is tested directly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace utpost::courier {

// What to do after a provider's error (provider.proto's file comment).
enum class FailureKind {
  // INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, PERMISSION_DENIED, UNIMPLEMENTED: the
  // provider will not take the letter; it goes to print at once (or fails under
  // DIGITAL_ONLY).
  kPermanent,
  // Everything else that is not OK (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
  // ABORTED, INTERNAL, UNKNOWN, and the codes of a channel that cannot be made): retried with
  // back-off until the retry deadline.
  kTransient,
};

// How a provider's answer with `code` (not OK) is handled.
FailureKind ClassifyProviderError(absl::StatusCode code);

// Exponential back-off with full jitter: a delay in [0, min(backoff_min × 2^attempt,
// backoff_max)) for `unit` in [0, 1) (clamped into it; NaN counts as 0). `attempt` 0 is the
// first retry. Never negative.
absl::Duration FullJitterDelay(absl::Duration backoff_min, absl::Duration backoff_max,
                               uint32_t attempt, double unit);

// When to try a failed task again: now + FullJitterDelay, but no later than `deadline`
// (one last attempt at the deadline). Callers check `now >= deadline` first: by then the
// letter falls back instead of being retried.
absl::Time RetryAt(absl::Time now, absl::Time deadline, absl::Duration backoff_min,
                   absl::Duration backoff_max, uint32_t attempt, double unit);

// A text fit for Transition.detail, NextTask.detail and FailTask.reason: printable ASCII (any
// other byte becomes '?'), at most 1000 characters. Providers are told to keep personal
// data out of their messages; this keeps control characters and overlong text out too.
std::string SafeDetail(std::string_view text);

// A provider id fit for a log field or a metric label: the id when it is 1..64 of
// [a-z0-9-], "none" when empty, else "(malformed)".
std::string ProviderLabel(std::string_view provider_id);

// A circuit breaker for one provider. Closed: every delivery may go. After
// `failures_to_open` transient failures in a row it opens for a cool-off of
// min(backoff_min × 2^(openings), backoff_max); while open no delivery goes. When the
// cool-off ends one delivery at a time probes it (half open): success closes it, a
// transient failure opens it again for twice as long. Not thread-safe: the caller locks.
class ProviderBreaker {
 public:
  ProviderBreaker(int failures_to_open, absl::Duration backoff_min, absl::Duration backoff_max)
      : failures_to_open_(failures_to_open), backoff_min_(backoff_min), backoff_max_(backoff_max) {}

  // True if a delivery may start at `now`; the caller then notes generation() and reports
  // the delivery's end with OnSuccess, OnTransientFailure or OnAbandoned. False:
  // `*retry_after` is when to try again.
  bool Admit(absl::Time now, absl::Time* retry_after);
  // Counts the openings so far. A delivery reports the generation it was admitted in.
  uint64_t generation() const { return generation_; }
  // The provider answered (OK, or a permanent error: it is up).
  void OnSuccess();
  // The delivery admitted in `admitted` failed transiently at `now`. One admitted before the
  // breaker last opened failed in the outage that opened it, which has been counted: it
  // changes nothing. (Otherwise every max_in_flight deliveries caught by one short outage
  // would open the breaker again and again, doubling its cool-off each time.)
  void OnTransientFailure(absl::Time now, uint64_t admitted);
  // The delivery admitted in `admitted` ended without telling anything about the provider
  // (cancelled, ledger side).
  void OnAbandoned(uint64_t admitted);

  bool open(absl::Time now) const { return open_until_ > now; }
  // When the cool-off ends (the past when closed).
  absl::Time open_until() const { return open_until_; }
  int openings() const { return openings_; }

 private:
  const int failures_to_open_;
  const absl::Duration backoff_min_;
  const absl::Duration backoff_max_;
  int consecutive_failures_ = 0;
  int openings_ = 0;  // since the last success
  absl::Time open_until_ = absl::InfinitePast();
  bool probing_ = false;
  uint64_t generation_ = 0;
};

}  // namespace utpost::courier
