#include "storage/key_checks.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"

namespace utpost::storage {

absl::Status ReconcileKeyChecks(LedgerStore& store, const crypto::KeyStore& keys,
                                const std::filesystem::path& key_dir, absl::Time now) {
  UTPOST_ASSIGN_OR_RETURN(std::vector<KeyCheckRecord> recorded, store.GetKeyChecks());
  std::map<std::string, std::string> held;
  for (const std::string& id : keys.KeyIds()) {
    UTPOST_ASSIGN_OR_RETURN(held[id], keys.CheckValue(id));
  }
  for (const KeyCheckRecord& record : recorded) {
    const auto it = held.find(record.kek_id());
    if (it == held.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "key-encryption key ", absl::CHexEscape(record.kek_id()),
          ", which this database holds data under, is not in the key directory ", key_dir.string(),
          ". Mount or restore that directory (or the key file kek-",
          absl::CHexEscape(record.kek_id()),
          ".key) from where the keys are kept; never make a new key for a database "
          "that has data, since nothing encrypted under the old key could be read again"));
    }
    if (it->second != record.check_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "key-encryption key ", absl::CHexEscape(record.kek_id()), " in the key directory ",
          key_dir.string(),
          " is not the key this database holds data under (its key check value differs). "
          "Restore the original key file kek-",
          absl::CHexEscape(record.kek_id()), ".key from where the keys are kept"));
    }
  }
  for (const auto& [id, check_value] : held) {
    const std::string& kek_id = id;  // clang 14 cannot capture a structured binding
    const bool known = std::any_of(recorded.begin(), recorded.end(),
                                   [&](const KeyCheckRecord& r) { return r.kek_id() == kek_id; });
    if (known) continue;
    KeyCheckRecord record;
    record.set_kek_id(id);
    record.set_check_value(check_value);
    *record.mutable_record_time() =
        google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
    UTPOST_RETURN_IF_ERROR(store.PutKeyCheck(record));
  }
  return absl::OkStatus();
}

absl::Status KeyStoreUnavailable(const LedgerStore& store, const std::filesystem::path& key_dir,
                                 const absl::Status& open_error) {
  UTPOST_ASSIGN_OR_RETURN(std::vector<KeyCheckRecord> recorded, store.GetKeyChecks());
  if (recorded.empty()) {
    return absl::Status(
        open_error.code(),
        absl::StrCat(open_error.message(),
                     " (a new installation creates its first key with utpost --create-kek)"));
  }
  std::vector<std::string> ids;
  for (const KeyCheckRecord& record : recorded) ids.push_back(absl::CHexEscape(record.kek_id()));
  return absl::FailedPreconditionError(absl::StrCat(
      "this database holds data under key-encryption key(s) ", absl::StrJoin(ids, ", "),
      ", but the key directory ", key_dir.string(), " cannot be used: ", open_error.message(),
      ". Mount or restore the key directory from where the keys are kept; never make a new "
      "key for a database that has data, since nothing encrypted under the old key could be "
      "read again"));
}

}  // namespace utpost::storage
