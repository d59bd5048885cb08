// The recipient registry's logic: validation (common/registry_rules.h, the same identifier
// and address rules as letters), provider references, and batching onto the store. No
// grpcpp types: the handlers (registry_service.h) and tests call it directly.
//
// Thread-safe. Writes are serialised (so "replaced" and the provider check are exact); reads
// run concurrently with them.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "services/registry/registry_source.h"
#include "storage/registry_store.h"
#include "utpost/v1/registry.pb.h"

namespace utpost::registry {

class Registry {
 public:
  // Loads the providers into memory (there are few). `store` and `clock` must outlive it.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Registry>> Create(
      storage::RegistryStore& store, const common::Clock& clock);

  // Looks up 1..1000 keys, answering in request order; a person's mailbox and an
  // organisation's inbox come with their provider (unset if it is not in the registry).
  // INVALID_ARGUMENT naming keys, keys[i] and its fields.
  [[nodiscard]] absl::StatusOr<std::vector<v1::LookupResult>> Lookup(
      const google::protobuf::RepeatedPtrField<v1::RegistryKey>& keys) const;

  // Creates or replaces an entry, with update_time set to now. Durable when it returns.
  // INVALID_ARGUMENT naming entry.* fields; FAILED_PRECONDITION (entry.person.mailbox.
  // provider_id or entry.organisation.inbox.provider_id) if the provider is unknown.
  [[nodiscard]] absl::StatusOr<v1::UpsertResponse> Upsert(const v1::UpsertRequest& request);

  // Deletes an entry; found says whether there was one. INVALID_ARGUMENT naming key.*.
  [[nodiscard]] absl::StatusOr<v1::DeleteResponse> Delete(const v1::DeleteRequest& request);

  // One message of an import: each row is validated (fields under the row, e.g.
  // "person.id.norwegian_national_id", plus an unknown provider, which may also be a
  // provider row earlier in the same import), bad rows are added to `progress`'s errors
  // (the first kMaxReportedErrors) and error_count, and the good rows are written in one
  // synced WriteBatch (later rows with the same key win) and counted in imported/replaced.
  // INVALID_ARGUMENT ("rows") for more than 1000 rows, and nothing is written. Store errors
  // pass through; then nothing of this message is written.
  [[nodiscard]] absl::Status ImportBatch(const v1::ImportRequest& request,
                                         v1::ImportResponse& progress);

  // Imports every entry of `source`, in messages of 1000 rows numbered from line 1.
  [[nodiscard]] absl::StatusOr<v1::ImportResponse> ImportFrom(RegistrySource& source);

  // True if the registry holds no entry at all.
  [[nodiscard]] absl::StatusOr<bool> Empty() const;

  static constexpr int kMaxReportedErrors = 1000;

 private:
  Registry(storage::RegistryStore& store, const common::Clock& clock)
      : store_(store), clock_(clock) {}

  bool ProviderKnown(const std::string& provider_id) const;

  storage::RegistryStore& store_;
  const common::Clock& clock_;
  // Serialises writes.
  std::mutex write_mu_;
  // Every stored provider, by id; changed only under write_mu_ and after the store write.
  mutable std::mutex providers_mu_;
  absl::flat_hash_map<std::string, v1::Provider> providers_;
};

}  // namespace utpost::registry
