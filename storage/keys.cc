#include "storage/keys.h"

#include <algorithm>
#include <cstring>

namespace utpost::storage::keys {

void AppendU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void AppendU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

uint32_t ReadU32(std::string_view in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

uint64_t ReadU64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

namespace {
void AppendId(std::string& out, const common::LetterIdBytes& id) {
  out.append(reinterpret_cast<const char*>(id.data()), id.size());
}
std::string SenderPrefix(std::string_view sender) {
  std::string key(sender);
  key.push_back('/');
  return key;
}
}  // namespace

std::string Letter(const common::LetterIdBytes& id) {
  std::string key;
  AppendId(key, id);
  return key;
}

std::string Document(const common::LetterIdBytes& id, uint32_t position) {
  std::string key = Letter(id);
  AppendU32(key, position);
  return key;
}

std::string Event(const common::LetterIdBytes& id, uint32_t index) {
  std::string key = Letter(id);
  AppendU32(key, index);
  return key;
}

std::string EventPrefix(const common::LetterIdBytes& id) { return Letter(id); }

std::string Feed(std::string_view sender, uint64_t sequence) {
  std::string key = SenderPrefix(sender);
  AppendU64(key, sequence);
  return key;
}

std::string FeedPrefix(std::string_view sender) { return SenderPrefix(sender); }

std::string Task(const common::LetterIdBytes& task_id) { return Letter(task_id); }

std::string TaskDueStart(uint8_t kind, int64_t due_unix_ms) {
  std::string key;
  key.reserve(kTaskDueKeySize);
  key.push_back(static_cast<char>(kind));
  AppendU64(key, static_cast<uint64_t>(std::max<int64_t>(due_unix_ms, 0)));
  return key;
}

std::string TaskDue(uint8_t kind, int64_t due_unix_ms, const common::LetterIdBytes& task_id) {
  std::string key = TaskDueStart(kind, due_unix_ms);
  AppendId(key, task_id);
  return key;
}

std::string Idempotency(std::string_view sender, std::string_view idempotency_key) {
  std::string key = SenderPrefix(sender);
  key.append(idempotency_key);
  return key;
}

std::string SenderIndex(std::string_view sender, const common::LetterIdBytes& id) {
  std::string key = SenderPrefix(sender);
  AppendId(key, id);
  return key;
}

std::string SenderIndexPrefix(std::string_view sender) { return SenderPrefix(sender); }

std::string DocumentKey(const common::LetterIdBytes& id, uint32_t position) {
  return Document(id, position);
}

std::string KeyCheckPrefix() { return "kek/"; }

std::string FingerprintKey() { return "fingerprint-key"; }

std::string KeyCheck(std::string_view kek_id) {
  std::string key = KeyCheckPrefix();
  key.append(kek_id);
  return key;
}

std::string ShredPendingPrefix() { return "shred/"; }

std::string ShredPending(const common::LetterIdBytes& id) {
  std::string key = ShredPendingPrefix();
  AppendId(key, id);
  return key;
}

common::LetterIdBytes LetterIdFromSenderIndex(std::string_view key) {
  common::LetterIdBytes id{};
  std::memcpy(id.data(), key.data() + key.size() - id.size(), id.size());
  return id;
}

uint64_t SequenceFromFeed(std::string_view key) { return ReadU64(key.substr(key.size() - 8)); }

int64_t DueMsFromTaskDue(std::string_view key) {
  return static_cast<int64_t>(ReadU64(key.substr(1)));
}

common::LetterIdBytes TaskIdFromTaskDue(std::string_view key) {
  common::LetterIdBytes id{};
  std::memcpy(id.data(), key.data() + 9, id.size());
  return id;
}

}  // namespace utpost::storage::keys
