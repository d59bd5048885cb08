// The mailbox simulator's logic: simulated digital-mailbox and print providers for
// development and tests, one per provider id it holds a key for (<providers_dir>/<id>/
// key.pem). No grpcpp types: the handlers (mailbox_sim_service.h) feed it parsed messages.
//
// What it promises, as a real provider would (proto/utpost/provider/v1/provider.proto):
//  - a letter is shown once: Deliver is idempotent by (provider id, letter id), across
//    restarts; a replay answers as the first delivery did;
//  - every document is decrypted on receipt with the provider's key to prove that it can be,
//    and refused (INVALID_ARGUMENT) when it cannot; what is stored is the CMS envelope as
//    received, never the plaintext;
//  - READ receipts come read_delay after delivery for a read_share of letters, and are
//    offered until acknowledged, across restarts;
//  - a print batch is idempotent by batch id, decrypted and parsed (SpoolBatch) on receipt,
//    stored as its envelope, and PRINTED print_delay after submission.
// And what a test can make it do (SimBehaviour, per provider id or for all): fail a share of
// deliveries and submissions (UNAVAILABLE), refuse a share (FAILED_PRECONDITION or
// INVALID_ARGUMENT), answer after a delay, or be down (UNAVAILABLE for every call). Shares
// are spread evenly (a share of 0.5 hits every second call), so tests need no randomness.
//
// Thread-safe. Time comes from the injected clock; the delay is waited out through the
// injected `sleep` (tests pass one that advances a FakeClock).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/keyed_mutex.h"
#include "crypto/secret.h"
#include "services/mailbox_sim/mailbox_sim_config.h"
#include "services/mailbox_sim/sim_store.h"
#include "utpost/provider/v1/provider.pb.h"
#include "utpost/sim/v1/mailbox_sim.pb.h"

namespace utpost::mailbox_sim {

// The metadata key that names the provider id of a call (provider.proto's file comment).
inline constexpr char kProviderIdHeader[] = "utpost-provider-id";

// The most bytes in one chunk message (provider.proto).
inline constexpr size_t kMaxChunkBytes = 256 << 10;
// A delivery's envelopes up to this size are held in memory and written in the letter's one
// synced commit; a larger delivery stores its chunks as they come. At most max_streams
// deliveries run at once, so this bounds what they hold.
inline constexpr size_t kHeldBytes = 1 << 20;

class MailboxSim {
 public:
  using Sleep = std::function<void(absl::Duration)>;

  // `store` and `clock` outlive the simulator. Reads the keys under config.providers_dir.
  MailboxSim(MailboxSimConfig config, SimStore& store, const common::Clock& clock, Sleep sleep);
  ~MailboxSim();

  // (Re)reads the provider keys. Called at start; a provider id unknown to a call is also
  // looked up again then, so keys made after start are found.
  [[nodiscard]] absl::Status LoadProviders();
  // Provider ids served, sorted.
  std::vector<std::string> ProviderIds() const;

  // One Deliver stream. Feed each message to Add, then call Finish once the client has sent
  // everything. Any error ends the stream (the caller answers it and drops the session);
  // dropping a session that did not finish removes what it stored.
  class Delivery {
   public:
    virtual ~Delivery() = default;
    [[nodiscard]] virtual absl::Status Add(const provider::v1::DeliverRequest& request) = 0;
    [[nodiscard]] virtual absl::StatusOr<provider::v1::DeliverResponse> Finish() = 0;
  };
  // INVALID_ARGUMENT (no provider id), FAILED_PRECONDITION (a provider id not served),
  // UNAVAILABLE (down), RESOURCE_EXHAUSTED (max_streams open).
  [[nodiscard]] absl::StatusOr<std::unique_ptr<Delivery>> StartDelivery(
      std::string_view provider_id);

  // One SubmitBatch stream, as Delivery.
  class BatchUpload {
   public:
    virtual ~BatchUpload() = default;
    [[nodiscard]] virtual absl::Status Add(const provider::v1::SubmitBatchRequest& request) = 0;
    [[nodiscard]] virtual absl::StatusOr<provider::v1::SubmitBatchResponse> Finish() = 0;
  };
  [[nodiscard]] absl::StatusOr<std::unique_ptr<BatchUpload>> StartBatch(
      std::string_view provider_id);

  [[nodiscard]] absl::StatusOr<provider::v1::PullReceiptsResponse> PullReceipts(
      std::string_view provider_id, const provider::v1::PullReceiptsRequest& request);
  [[nodiscard]] absl::StatusOr<provider::v1::AcknowledgeReceiptsResponse> AcknowledgeReceipts(
      std::string_view provider_id, const provider::v1::AcknowledgeReceiptsRequest& request);
  [[nodiscard]] absl::StatusOr<provider::v1::GetBatchResponse> GetBatch(
      std::string_view provider_id, const provider::v1::GetBatchRequest& request);

  // The control service's two calls (proto/utpost/sim/v1/mailbox_sim.proto).
  [[nodiscard]] absl::StatusOr<sim::v1::SetBehaviourResponse> SetBehaviour(
      const sim::v1::SetBehaviourRequest& request);
  [[nodiscard]] absl::StatusOr<sim::v1::GetStatusResponse> GetStatus(
      const sim::v1::GetStatusRequest& request);

  // The behaviour in force for `provider_id`.
  SimBehaviour BehaviourOf(std::string_view provider_id) const;

  struct Provider;
  class DeliverySession;
  class BatchSession;

 private:
  enum class Call { kDeliver, kSubmit, kOther };
  // The provider of a call, once it passes `down` and (for deliveries and submissions)
  // fail_share; waits the delay first.
  [[nodiscard]] absl::StatusOr<Provider*> Admit(std::string_view provider_id, Call call);
  [[nodiscard]] absl::StatusOr<Provider*> Find(std::string_view provider_id);
  // Whether the next call of a share hits (evenly spread: `accumulator` carries the rest).
  static bool Hits(double share, double& accumulator);
  // Whether this delivery or submission is refused; the error if so.
  absl::Status MaybeReject(Provider& provider);
  // Whether a delivered letter will be read.
  bool WillBeRead(Provider& provider);
  std::string NewId();

  const MailboxSimConfig config_;
  SimStore& store_;
  const common::Clock& clock_;
  const Sleep sleep_;
  std::atomic<int> open_streams_{0};
  common::KeyedMutex commit_locks_;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Provider>> providers_;  // guarded by mu_
  SimBehaviour default_behaviour_;                              // guarded by mu_
};

}  // namespace utpost::mailbox_sim
