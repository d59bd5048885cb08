#include "storage/stats_store.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "storage/keys.h"

namespace utpost::storage {
namespace {

constexpr char kStatusCounter = 's';
constexpr char kPaperCounter = 'p';

std::string EncodeCount(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

uint64_t DecodeCount(const rocksdb::Slice& s) {
  if (s.size() != 8) return 0;
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s.data()[i]);
  return v;
}

class Add64 final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    const uint64_t base = existing == nullptr ? 0 : DecodeCount(*existing);
    *new_value = EncodeCount(base + DecodeCount(value));
    return true;
  }
  const char* Name() const override { return "utpost.add64"; }
};

std::string DayPrefix(std::string_view sender, int32_t day) {
  std::string key(sender);
  key.push_back('/');
  keys::AppendU32(key, static_cast<uint32_t>(day));
  return key;
}

// Enum numbers of the public contract fit a byte; a larger one would be a new contract.
absl::StatusOr<char> EnumByte(int value, std::string_view what) {
  if (value < 0 || value > 255) {
    return absl::InternalError(
        absl::StrCat(common::Av(what), " ", value, " does not fit a stats key"));
  }
  return static_cast<char>(value);
}

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> NewAdd64MergeOperator() {
  return std::make_shared<Add64>();
}

int32_t DayOf(absl::Time t) {
  return static_cast<int32_t>(absl::ToUnixSeconds(t) >= 0
                                  ? absl::ToUnixSeconds(t) / 86400
                                  : (absl::ToUnixSeconds(t) - 86399) / 86400);
}

absl::Status AddEventCounters(Db& db, rocksdb::WriteBatch& batch, std::string_view sender,
                              const ::utpost::v1::LetterEvent& event) {
  const absl::Time time =
      absl::FromUnixSeconds(event.time().seconds()) + absl::Nanoseconds(event.time().nanos());
  const std::string prefix = DayPrefix(sender, DayOf(time));
  const std::string one = EncodeCount(1);
  UTPOST_ASSIGN_OR_RETURN(const char status, EnumByte(event.status(), "status"));
  UTPOST_ASSIGN_OR_RETURN(const char channel, EnumByte(event.channel(), "channel"));
  std::string key = prefix;
  key.push_back(kStatusCounter);
  key.push_back(status);
  key.push_back(channel);
  UTPOST_RETURN_IF_ERROR(FromRocksDb(batch.Merge(db.cf(Cf::kStats), key, one), "batch merge"));
  if (event.status() == ::utpost::v1::LETTER_STATUS_QUEUED_FOR_PRINT) {
    UTPOST_ASSIGN_OR_RETURN(const char reason, EnumByte(event.reason(), "reason"));
    key = prefix;
    key.push_back(kPaperCounter);
    key.push_back(reason);
    UTPOST_RETURN_IF_ERROR(FromRocksDb(batch.Merge(db.cf(Cf::kStats), key, one), "batch merge"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DayCount>> StatsStore::Read(std::string_view sender, int32_t first,
                                                       int32_t last) const {
  std::vector<DayCount> counts;
  if (last < first) return counts;
  const std::string lower = DayPrefix(sender, first);
  const std::string upper = DayPrefix(sender, last + 1);
  rocksdb::ReadOptions options;
  rocksdb::Slice lower_slice(lower), upper_slice(upper);
  options.iterate_lower_bound = &lower_slice;
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_.raw().NewIterator(options, db_.cf(Cf::kStats)));
  const size_t head = sender.size() + 1 + 4;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() < head + 2) return absl::DataLossError("malformed stats key");
    DayCount count;
    count.day = static_cast<int32_t>(keys::ReadU32(key.substr(sender.size() + 1)));
    count.count = DecodeCount(it->value());
    const std::string_view counter = key.substr(head);
    if (counter[0] == kStatusCounter && counter.size() == 3) {
      count.status = static_cast<::utpost::v1::LetterStatus>(static_cast<uint8_t>(counter[1]));
      count.channel = static_cast<::utpost::v1::Channel>(static_cast<uint8_t>(counter[2]));
    } else if (counter[0] == kPaperCounter && counter.size() == 2) {
      count.paper = true;
      count.paper_reason =
          static_cast<::utpost::v1::StatusReason>(static_cast<uint8_t>(counter[1]));
    } else {
      return absl::DataLossError("malformed stats key");
    }
    counts.push_back(count);
  }
  UTPOST_RETURN_IF_ERROR(FromRocksDb(it->status(), "read stats"));
  return counts;
}

}  // namespace utpost::storage
