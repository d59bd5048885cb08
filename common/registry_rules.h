// Rules for entries and keys of the recipient registry (utpost/v1/registry.proto), shared by
// the registry service and by utpostctl's local checks of an import file, so that both judge
// a row the same way. Identifiers follow common/ids.h and postal addresses
// common/text_rules.h, exactly as for letters. Pure: no I/O, thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/field_violations.h"
#include "utpost/v1/registry.pb.h"

namespace utpost::common {

// Keys per Lookup and rows per Import message.
inline constexpr int kMaxRegistryLookupKeys = 1000;
inline constexpr int kMaxRegistryImportRows = 1000;
// The longest provider certificate accepted, in bytes of PEM.
inline constexpr size_t kMaxProviderCertificatePemBytes = 32 << 10;

// `prefix` + "." + `name`, or `name` alone when `prefix` is empty.
std::string FieldPath(std::string_view prefix, std::string_view name);

// Every violation of `entry`, with field paths under `prefix` ("" gives paths such as
// "person.id.norwegian_national_id", as import reports use; "entry" gives
// "entry.person.mailbox.address"). Output-only fields (update_time) are ignored. The provider
// certificate is checked for its form here (a PEM certificate block); the registry also
// parses it.
void CheckRegistryEntry(FieldViolations& v, const v1::RegistryEntry& entry,
                        const std::string& prefix);

// Every violation of `key`, with field paths under `prefix` (e.g. "keys[3]").
void CheckRegistryKey(FieldViolations& v, const v1::RegistryKey& key, const std::string& prefix);

// A provider id: 1..64 characters of [a-z0-9-]. Adds at most one violation for `field`.
void CheckProviderId(FieldViolations& v, std::string_view id, const std::string& field);

// The key that names `entry`. An entry with no kind set gives a key with none set.
v1::RegistryKey RegistryKeyOf(const v1::RegistryEntry& entry);

// The normalised text of a key, for hashing and for finding duplicates: "person/NO/<11
// digits>", "person/DK/<10 digits>", "organisation/NO/<9 digits>", "organisation/DK/<8
// digits>", "provider/<id>". Distinct valid keys give distinct texts. Empty for a key with
// nothing set.
std::string CanonicalRegistryKey(const v1::RegistryKey& key);

}  // namespace utpost::common
