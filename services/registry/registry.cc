#include "services/registry/registry.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/field_violations.h"
#include "common/registry_rules.h"
#include "common/status_macros.h"
#include "crypto/dev_provider_cert.h"
#include "google/protobuf/util/time_util.h"

namespace utpost::registry {
namespace {

using common::FieldPath;
using common::FieldViolations;
using google::protobuf::util::TimeUtil;

// Every violation of `entry` under `prefix`, the provider's certificate parsed as well.
void CheckEntry(FieldViolations& v, const v1::RegistryEntry& entry, const std::string& prefix) {
  const size_t before = v.size();
  common::CheckRegistryEntry(v, entry, prefix);
  if (entry.has_provider() && v.size() == before) {
    if (absl::Status s =
            crypto::CheckEncryptionCertificatePem(entry.provider().encryption_certificate_pem());
        !s.ok()) {
      v.Add(FieldPath(FieldPath(prefix, "provider"), "encryption_certificate_pem"),
            std::string(s.message()));
    }
  }
}

// The provider an entry names (mailbox or inbox) and the field that names it, if any.
std::pair<const std::string*, std::string> NamedProvider(const v1::RegistryEntry& entry,
                                                         const std::string& prefix) {
  if (entry.has_person() && entry.person().has_mailbox()) {
    return {&entry.person().mailbox().provider_id(),
            FieldPath(prefix, "person.mailbox.provider_id")};
  }
  if (entry.has_organisation() && entry.organisation().has_inbox()) {
    return {&entry.organisation().inbox().provider_id(),
            FieldPath(prefix, "organisation.inbox.provider_id")};
  }
  return {nullptr, ""};
}

void SetUpdateTime(v1::RegistryEntry& entry, absl::Time now) {
  const google::protobuf::Timestamp t = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  switch (entry.entry_case()) {
    case v1::RegistryEntry::kPerson:
      *entry.mutable_person()->mutable_update_time() = t;
      break;
    case v1::RegistryEntry::kOrganisation:
      *entry.mutable_organisation()->mutable_update_time() = t;
      break;
    case v1::RegistryEntry::kProvider:
      *entry.mutable_provider()->mutable_update_time() = t;
      break;
    case v1::RegistryEntry::ENTRY_NOT_SET:
      break;
  }
}

// An import row's report: the first wrong field, the others named in the description.
v1::ImportRowError RowError(uint64_t line, const absl::Status& status) {
  v1::ImportRowError error;
  error.set_line(line);
  const auto bad = common::GetBadRequest(status);
  if (!bad || bad->field_violations_size() == 0) {
    error.set_field("entry");
    error.set_description(std::string(status.message()));
    return error;
  }
  error.set_field(bad->field_violations(0).field());
  std::string description = bad->field_violations(0).description();
  for (int i = 1; i < bad->field_violations_size(); ++i) {
    absl::StrAppend(&description, i == 1 ? "; also wrong: " : "; ",
                    bad->field_violations(i).field(), " (", bad->field_violations(i).description(),
                    ")");
  }
  error.set_description(common::TruncateUtf8(description, 1000));
  return error;
}

void AddRowError(v1::ImportResponse& progress, uint64_t line, const absl::Status& status) {
  progress.set_error_count(progress.error_count() + 1);
  if (progress.errors_size() < Registry::kMaxReportedErrors) {
    *progress.add_errors() = RowError(line, status);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Registry>> Registry::Create(storage::RegistryStore& store,
                                                           const common::Clock& clock) {
  std::unique_ptr<Registry> registry(new Registry(store, clock));
  UTPOST_RETURN_IF_ERROR(store.ForEach(
      storage::RegistryStore::Family::kProviders, [&registry](v1::RegistryEntry entry) {
        if (!entry.has_provider()) {
          return absl::DataLossError("a provider record holds another kind of entry");
        }
        std::string id = entry.provider().provider_id();
        registry->providers_[id] = std::move(*entry.mutable_provider());
        return absl::OkStatus();
      }));
  return registry;
}

bool Registry::ProviderKnown(const std::string& provider_id) const {
  std::lock_guard lock(providers_mu_);
  return providers_.contains(provider_id);
}

absl::StatusOr<std::vector<v1::LookupResult>> Registry::Lookup(
    const google::protobuf::RepeatedPtrField<v1::RegistryKey>& keys) const {
  FieldViolations v;
  if (keys.empty()) {
    v.Add("keys", "must have at least 1 key");
  } else if (keys.size() > common::kMaxRegistryLookupKeys) {
    v.Add("keys", absl::StrCat("must have at most ", common::kMaxRegistryLookupKeys, " keys (has ",
                               keys.size(), ")"));
  } else {
    for (int i = 0; i < keys.size(); ++i) {
      common::CheckRegistryKey(v, keys.Get(i), absl::StrCat("keys[", i, "]"));
    }
  }
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  const std::vector<v1::RegistryKey> key_list(keys.begin(), keys.end());
  UTPOST_ASSIGN_OR_RETURN(std::vector<std::optional<v1::RegistryEntry>> entries,
                          store_.Get(key_list));
  std::vector<v1::LookupResult> results(entries.size());
  std::lock_guard lock(providers_mu_);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i]) continue;
    const auto [provider_id, field] = NamedProvider(*entries[i], "");
    if (provider_id != nullptr) {
      if (auto it = providers_.find(*provider_id); it != providers_.end()) {
        *results[i].mutable_provider() = it->second;
      }
    }
    *results[i].mutable_entry() = *std::move(entries[i]);
  }
  return results;
}

absl::StatusOr<v1::UpsertResponse> Registry::Upsert(const v1::UpsertRequest& request) {
  FieldViolations v;
  if (!request.has_entry()) {
    v.Add("entry", "is required");
  } else {
    CheckEntry(v, request.entry(), "entry");
  }
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  v1::RegistryEntry entry = request.entry();
  std::lock_guard write_lock(write_mu_);
  if (const auto [provider_id, field] = NamedProvider(entry, "entry");
      provider_id != nullptr && !ProviderKnown(*provider_id)) {
    return common::FieldError(absl::StatusCode::kFailedPrecondition, field,
                              absl::StrCat("names provider '", *provider_id,
                                           "', which is not in the registry; add it first"));
  }
  SetUpdateTime(entry, clock_.Now());
  UTPOST_ASSIGN_OR_RETURN(std::vector<bool> replaced,
                          store_.Put(std::span<const v1::RegistryEntry>(&entry, 1)));
  if (entry.has_provider()) {
    std::lock_guard lock(providers_mu_);
    providers_[entry.provider().provider_id()] = entry.provider();
  }
  v1::UpsertResponse response;
  *response.mutable_entry() = std::move(entry);
  response.set_replaced(replaced[0]);
  return response;
}

absl::StatusOr<v1::DeleteResponse> Registry::Delete(const v1::DeleteRequest& request) {
  FieldViolations v;
  if (!request.has_key()) {
    v.Add("key", "is required");
  } else {
    common::CheckRegistryKey(v, request.key(), "key");
  }
  UTPOST_RETURN_IF_ERROR(v.ToStatus());
  std::lock_guard write_lock(write_mu_);
  UTPOST_ASSIGN_OR_RETURN(const bool found, store_.Delete(request.key()));
  if (found && request.key().has_provider_id()) {
    std::lock_guard lock(providers_mu_);
    providers_.erase(request.key().provider_id());
  }
  v1::DeleteResponse response;
  response.set_found(found);
  return response;
}

absl::Status Registry::ImportBatch(const v1::ImportRequest& request, v1::ImportResponse& progress) {
  if (request.rows_size() > common::kMaxRegistryImportRows) {
    return common::FieldError(absl::StatusCode::kInvalidArgument, "rows",
                              absl::StrCat("must have at most ", common::kMaxRegistryImportRows,
                                           " rows per message (has ", request.rows_size(), ")"));
  }
  std::vector<v1::RegistryEntry> good;
  good.reserve(request.rows_size());
  const absl::Time now = clock_.Now();
  std::lock_guard write_lock(write_mu_);
  // Providers of this message, usable by its later rows.
  absl::flat_hash_set<std::string> new_providers;
  for (const v1::ImportRow& row : request.rows()) {
    FieldViolations v;
    if (!row.has_entry()) {
      v.Add("entry", "is required");
    } else {
      CheckEntry(v, row.entry(), "");
    }
    if (v.empty()) {
      if (const auto [provider_id, field] = NamedProvider(row.entry(), "");
          provider_id != nullptr && !new_providers.contains(*provider_id) &&
          !ProviderKnown(*provider_id)) {
        v.Add(field, absl::StrCat("names provider '", *provider_id,
                                  "', which is not in the registry (nor earlier in the import)"));
      }
    }
    if (!v.empty()) {
      AddRowError(progress, row.line(), v.ToStatus());
      continue;
    }
    good.push_back(row.entry());
    SetUpdateTime(good.back(), now);
    if (row.entry().has_provider()) new_providers.insert(row.entry().provider().provider_id());
  }
  if (good.empty()) return absl::OkStatus();
  UTPOST_ASSIGN_OR_RETURN(std::vector<bool> replaced, store_.Put(good));
  uint64_t replaced_count = 0;
  for (bool r : replaced) replaced_count += r ? 1 : 0;
  progress.set_imported(progress.imported() + good.size());
  progress.set_replaced(progress.replaced() + replaced_count);
  if (!new_providers.empty()) {
    std::lock_guard lock(providers_mu_);
    for (v1::RegistryEntry& entry : good) {
      if (entry.has_provider()) {
        providers_[entry.provider().provider_id()] = std::move(*entry.mutable_provider());
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ImportResponse> Registry::ImportFrom(RegistrySource& source) {
  v1::ImportResponse progress;
  v1::ImportRequest batch;
  uint64_t line = 0;
  UTPOST_RETURN_IF_ERROR(source.ForEach([&](v1::RegistryEntry entry) -> absl::Status {
    v1::ImportRow* row = batch.add_rows();
    row->set_line(++line);
    *row->mutable_entry() = std::move(entry);
    if (batch.rows_size() < common::kMaxRegistryImportRows) return absl::OkStatus();
    absl::Status s = ImportBatch(batch, progress);
    batch.Clear();
    return s;
  }));
  if (batch.rows_size() > 0) UTPOST_RETURN_IF_ERROR(ImportBatch(batch, progress));
  return progress;
}

absl::StatusOr<bool> Registry::Empty() const { return store_.Empty(); }

}  // namespace utpost::registry
