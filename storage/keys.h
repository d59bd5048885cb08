// Key layouts, one function per column family. Integers are big-endian so that byte order is
// numeric order; letter ids are their 16-byte binary form, which is time-ordered.
//
//   letters       id(16)
//   documents     id(16) position(4)
//   events        id(16) index(4)
//   feed          sender "/" sequence(8)
//   tasks         task id(16)
//   task_due      kind(1) due_unix_ms(8) task id(16)     value empty; every key is put once
//                                                         and removed with SingleDelete
//   idempotency   sender "/" key
//   sender_index  sender "/" id(16)
//   document_keys id(16) position(4)
//   meta          "kek/" kek id             a KeyCheckRecord
//                 "shred/" id(16)           a cancelled letter whose document keys are deleted
//                                           but perhaps not yet physically gone
//                 "fingerprint-key"         a FingerprintKeyRecord
//   stats         sender "/" day(4) counter     a uint64 counter (storage/stats_store.h)
//
// `sender` is an org key ("NO" + 9 digits or "DK" + 8 digits); its length is fixed per
// country, so no sender's prefix is a prefix of another's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/letter_id.h"

namespace utpost::storage::keys {

void AppendU32(std::string& out, uint32_t v);
void AppendU64(std::string& out, uint64_t v);
uint32_t ReadU32(std::string_view in);  // first 4 bytes; in.size() >= 4
uint64_t ReadU64(std::string_view in);  // first 8 bytes; in.size() >= 8

std::string Letter(const common::LetterIdBytes& id);
std::string Document(const common::LetterIdBytes& id, uint32_t position);
std::string Event(const common::LetterIdBytes& id, uint32_t index);
std::string EventPrefix(const common::LetterIdBytes& id);
std::string Feed(std::string_view sender, uint64_t sequence);
std::string FeedPrefix(std::string_view sender);
std::string Task(const common::LetterIdBytes& task_id);
// Due times before the Unix epoch are stored as the epoch.
std::string TaskDue(uint8_t kind, int64_t due_unix_ms, const common::LetterIdBytes& task_id);
// The first key of `kind` due at or after `due_unix_ms` (no task id).
std::string TaskDueStart(uint8_t kind, int64_t due_unix_ms);
inline constexpr size_t kTaskDueKeySize = 1 + 8 + 16;
std::string Idempotency(std::string_view sender, std::string_view key);
std::string SenderIndex(std::string_view sender, const common::LetterIdBytes& id);
std::string SenderIndexPrefix(std::string_view sender);
std::string DocumentKey(const common::LetterIdBytes& id, uint32_t position);
std::string KeyCheck(std::string_view kek_id);
std::string KeyCheckPrefix();
// The ledger's fingerprint key (meta): "fingerprint-key".
std::string FingerprintKey();
std::string ShredPending(const common::LetterIdBytes& id);
std::string ShredPendingPrefix();

// The letter id at the end of a sender_index key.
common::LetterIdBytes LetterIdFromSenderIndex(std::string_view key);
// The sequence at the end of a feed key.
uint64_t SequenceFromFeed(std::string_view key);
// The parts of a task_due key (key.size() == kTaskDueKeySize).
int64_t DueMsFromTaskDue(std::string_view key);
common::LetterIdBytes TaskIdFromTaskDue(std::string_view key);

}  // namespace utpost::storage::keys
