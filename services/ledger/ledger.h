// The ledger's logic: accepts letters, records their status changes, answers queries.
// No gRPC types: handlers (letter_service.cc) translate; tests call this directly.
//
// Every method takes the caller's organisation key (`sender`, from its certificate) and
// touches only that organisation's letters: another organisation's letter is NOT_FOUND.
// Every state change is one synced WriteBatch; a method returns only after it is durable.
// Thread-safe; methods block on disk I/O, so call them from a worker pool.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/keyed_mutex.h"
#include "common/letter_id.h"
#include "crypto/envelope.h"
#include "crypto/key_store.h"
#include "services/ledger/event_feed.h"
#include "services/ledger/ledger_config.h"
#include "storage/ledger_store.h"
#include "utpost/v1/letters.pb.h"

namespace utpost::ledger {

// A status change requested by a component that drives letters (router, courier, print).
struct Transition {
  std::string letter_id;
  v1::LetterStatus status = v1::LETTER_STATUS_UNSPECIFIED;
  v1::StatusReason reason = v1::STATUS_REASON_UNSPECIFIED;
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
  std::string detail;
};

// The most statuses one ListLetters filter may name (there are fewer distinct statuses).
inline constexpr int kMaxListStatuses = 16;

// True if a letter in status `from` may move to `to`.
bool IsAllowedTransition(v1::LetterStatus from, v1::LetterStatus to);

class Ledger {
 public:
  // Recovers the event feed's position from `store`. `store`, `keys` and `clock` must outlive
  // the ledger.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Ledger>> Create(const LedgerConfig& config,
                                                                      storage::LedgerStore& store,
                                                                      const crypto::KeyStore& keys,
                                                                      const common::Clock& clock);

  // Errors: INVALID_ARGUMENT (field violations), ALREADY_EXISTS (idempotency key reused for
  // another request), UNAVAILABLE (storage).
  [[nodiscard]] absl::StatusOr<v1::SendLetterResponse> SendLetter(
      std::string_view sender, const v1::SendLetterRequest& request);

  // Errors: INVALID_ARGUMENT (letter_id), NOT_FOUND.
  [[nodiscard]] absl::StatusOr<v1::GetLetterResponse> GetLetter(
      std::string_view sender, const v1::GetLetterRequest& request) const;

  // Errors: INVALID_ARGUMENT (page_size, page_token, statuses, accepted_after/before).
  [[nodiscard]] absl::StatusOr<v1::ListLettersResponse> ListLetters(
      std::string_view sender, const v1::ListLettersRequest& request) const;

  // Errors: INVALID_ARGUMENT (letter_id), NOT_FOUND, FAILED_PRECONDITION (already handed to
  // a channel or finished).
  [[nodiscard]] absl::StatusOr<v1::CancelLetterResponse> CancelLetter(
      std::string_view sender, const v1::CancelLetterRequest& request);

  // Applies a status change on behalf of the sender's letter. FAILED_PRECONDITION if the
  // transition is not allowed from the letter's current status.
  [[nodiscard]] absl::StatusOr<v1::Letter> ApplyTransition(std::string_view sender,
                                                           const Transition& transition);

  // Up to `limit` of the sender's events with sequence > `after`, in order, among those
  // visible now (see EventFeed). INVALID_ARGUMENT (after_sequence) if `after` is ahead of
  // every event recorded.
  [[nodiscard]] absl::StatusOr<std::vector<v1::LetterEvent>> ReadEvents(std::string_view sender,
                                                                        uint64_t after,
                                                                        size_t limit) const;

  // Decrypts document `position` of the sender's letter. NOT_FOUND also after cancellation.
  [[nodiscard]] absl::StatusOr<std::string> ReadDocument(std::string_view sender,
                                                         std::string_view letter_id,
                                                         uint32_t position) const;

  // Completes the shreds of cancelled letters that a crash or an error interrupted (see
  // LedgerStore::PendingShreds). Call once at start, before serving.
  [[nodiscard]] absl::Status ShredPending();

  EventFeed& feed() { return feed_; }
  const LedgerConfig& config() const { return config_; }

 private:
  Ledger(const LedgerConfig& config, storage::LedgerStore& store, const crypto::KeyStore& keys,
         const common::Clock& clock,
         const absl::flat_hash_map<std::string, uint64_t>& last_sequences);

  // The sender's letter, or NOT_FOUND (also when it belongs to someone else).
  absl::StatusOr<std::pair<common::LetterIdBytes, storage::LetterRecord>> LoadOwnLetter(
      std::string_view sender, std::string_view letter_id) const;
  absl::StatusOr<v1::Letter> ApplyTransitionLocked(const common::LetterIdBytes& id,
                                                   storage::LetterRecord record,
                                                   const Transition& transition,
                                                   bool purge_documents);
  // The public view of a stored letter: its sealed personal content opened.
  absl::StatusOr<v1::Letter> View(const storage::LetterRecord& record) const;
  // An event as stored: a non-empty detail sealed under EventDetailAad(letter id, index).
  absl::StatusOr<storage::EventRecord> SealEvent(v1::LetterEvent event, uint32_t index) const;
  // The one conversion of a stored event to the public one (the detail opened).
  absl::StatusOr<v1::LetterEvent> OpenEvent(storage::EventRecord record) const;
  // Makes the deletion of a cancelled letter's document keys physical (store.ShredDocuments).
  absl::Status Shred(const common::LetterIdBytes& id, std::string_view letter_id);

  LedgerConfig config_;
  storage::LedgerStore& store_;
  crypto::Envelope envelope_;
  const common::Clock& clock_;
  common::LetterIdGenerator ids_;
  EventFeed feed_;
  // Read-modify-write of one letter, and check-then-write of one idempotency key, are
  // serialised; nothing else waits, since these locks are held across a synced write.
  common::KeyedMutex letter_locks_;
  common::KeyedMutex idempotency_locks_;
};

}  // namespace utpost::ledger
