// Guards a database against a key-encryption key that changed under it. Every KEK the
// database holds data under is recorded in it (column family "meta") with its key check value
// (crypto::KeyCheckValue). At start, each recorded key must be in the key store and be the
// same key: a missing key directory (an unmounted volume, a restore without keys) or a key
// made afresh under an old id is refused before a single letter is accepted, instead of
// surfacing later as DATA_LOSS on every old letter.
#pragma once

#include <filesystem>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "crypto/key_store.h"
#include "storage/ledger_store.h"

namespace utpost::storage {

// Compares the keys recorded in `store` with `keys` (whose keys live in `key_dir`, named in
// messages) and records, synced, every key of `keys` the database does not know yet (a fresh
// database, or a key added by rotation), with `now` as its record time.
// FAILED_PRECONDITION naming the key id, `key_dir` and what to do if a recorded key is missing
// from `keys` or differs from it. Errors of the store and the key store pass through.
[[nodiscard]] absl::Status ReconcileKeyChecks(LedgerStore& store, const crypto::KeyStore& keys,
                                              const std::filesystem::path& key_dir, absl::Time now);

// For when the key store in `key_dir` could not be opened (`open_error`): if the database has
// recorded keys, FAILED_PRECONDITION naming them, `key_dir` and what to do; otherwise
// `open_error` with a hint on how to create a first key.
[[nodiscard]] absl::Status KeyStoreUnavailable(const LedgerStore& store,
                                               const std::filesystem::path& key_dir,
                                               const absl::Status& open_error);

}  // namespace utpost::storage
