#include "common/registry_rules.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "common/text_rules.h"

namespace utpost::common {
namespace {

constexpr size_t kMaxProviderIdChars = 64;
constexpr int kMaxAddressChars = 254;
constexpr int kMaxProviderNameChars = 200;
constexpr size_t kMaxEndpointChars = 2000;
constexpr std::string_view kHttps = "https://";
constexpr std::string_view kPemCertificate = "-----BEGIN CERTIFICATE-----";

// A delivery endpoint: an https URL with a host, or host:port with a port of 1..65535.
// Printable ASCII without spaces.
void CheckEndpoint(FieldViolations& v, std::string_view endpoint, const std::string& field) {
  if (endpoint.empty()) {
    v.Add(field, "must not be empty");
    return;
  }
  if (endpoint.size() > kMaxEndpointChars) {
    v.Add(field, absl::StrCat("must be at most ", kMaxEndpointChars, " characters (is ",
                              endpoint.size(), ")"));
    return;
  }
  for (unsigned char c : endpoint) {
    if (c < 0x21 || c > 0x7E) {
      v.Add(field, "must be printable ASCII without spaces");
      return;
    }
  }
  if (absl::StartsWith(Av(endpoint), Av(kHttps))) {
    const std::string_view rest = endpoint.substr(kHttps.size());
    if (rest.empty() || rest.front() == '/' || rest.front() == ':') {
      v.Add(field, "must name a host after https://");
    }
    return;
  }
  // The name of a utpost component (e.g. "mailbox-sim"), which the caller reaches through
  // its component channels rather than the network address in the registry.
  if (endpoint.size() <= 32 && endpoint.front() >= 'a' && endpoint.front() <= 'z' &&
      std::all_of(endpoint.begin(), endpoint.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      })) {
    return;
  }
  const size_t colon = endpoint.rfind(':');
  uint32_t port = 0;
  if (colon == std::string_view::npos || colon == 0 || endpoint.find('/') != std::string::npos ||
      !IsAllDigits(endpoint.substr(colon + 1)) ||
      !absl::SimpleAtoi(Av(endpoint.substr(colon + 1)), &port) || port == 0 || port > 65535) {
    v.Add(field, "must be an https:// URL, host:port or a utpost component name");
  }
}

void CheckAddressAt(FieldViolations& v, const std::string& provider_id, const std::string& address,
                    const std::string& prefix) {
  CheckProviderId(v, provider_id, FieldPath(prefix, "provider_id"));
  CheckText(v, FieldPath(prefix, "address"), address, 1, kMaxAddressChars);
}

void CheckPerson(FieldViolations& v, const v1::PersonEntry& person, const std::string& prefix) {
  if (!person.has_id()) {
    v.Add(FieldPath(prefix, "id"), "is required");
  } else {
    CheckPersonId(v, person.id(), FieldPath(prefix, "id"));
  }
  if (person.has_mailbox()) {
    CheckAddressAt(v, person.mailbox().provider_id(), person.mailbox().address(),
                   FieldPath(prefix, "mailbox"));
  }
  if (person.has_postal_address()) {
    CheckPostalAddress(v, person.postal_address(), FieldPath(prefix, "postal_address"));
  }
}

void CheckOrganisation(FieldViolations& v, const v1::OrganisationEntry& org,
                       const std::string& prefix) {
  if (!org.has_id()) {
    v.Add(FieldPath(prefix, "id"), "is required");
  } else {
    CheckOrganisationId(v, org.id(), FieldPath(prefix, "id"));
  }
  if (org.has_inbox()) {
    CheckAddressAt(v, org.inbox().provider_id(), org.inbox().address(), FieldPath(prefix, "inbox"));
  }
  if (org.has_postal_address()) {
    CheckPostalAddress(v, org.postal_address(), FieldPath(prefix, "postal_address"));
  }
}

void CheckProvider(FieldViolations& v, const v1::Provider& provider, const std::string& prefix) {
  CheckProviderId(v, provider.provider_id(), FieldPath(prefix, "provider_id"));
  CheckText(v, FieldPath(prefix, "name"), provider.name(), 1, kMaxProviderNameChars);
  CheckEndpoint(v, provider.endpoint(), FieldPath(prefix, "endpoint"));
  const std::string& pem = provider.encryption_certificate_pem();
  const std::string pem_field = FieldPath(prefix, "encryption_certificate_pem");
  if (pem.empty()) {
    v.Add(pem_field, "is required");
  } else if (pem.size() > kMaxProviderCertificatePemBytes) {
    v.Add(pem_field, absl::StrCat("must be at most ", kMaxProviderCertificatePemBytes,
                                  " bytes (is ", pem.size(), ")"));
  } else if (!absl::StrContains(pem, Av(kPemCertificate))) {
    v.Add(pem_field, "must be a PEM certificate (-----BEGIN CERTIFICATE-----)");
  }
  if (!v1::SecurityLevel_IsValid(provider.max_security_level())) {
    v.Add(FieldPath(prefix, "max_security_level"),
          absl::StrCat("unknown value ", static_cast<int>(provider.max_security_level())));
  }
}

}  // namespace

std::string FieldPath(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  return absl::StrCat(Av(prefix), ".", Av(name));
}

void CheckProviderId(FieldViolations& v, std::string_view id, const std::string& field) {
  if (id.empty()) {
    v.Add(field, "must not be empty");
    return;
  }
  if (id.size() > kMaxProviderIdChars) {
    v.Add(field, absl::StrCat("must be at most ", kMaxProviderIdChars, " characters (is ",
                              id.size(), ")"));
    return;
  }
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      v.Add(field, "must contain only a-z, 0-9 and -");
      return;
    }
  }
}

void CheckRegistryEntry(FieldViolations& v, const v1::RegistryEntry& entry,
                        const std::string& prefix) {
  switch (entry.entry_case()) {
    case v1::RegistryEntry::kPerson:
      CheckPerson(v, entry.person(), FieldPath(prefix, "person"));
      break;
    case v1::RegistryEntry::kOrganisation:
      CheckOrganisation(v, entry.organisation(), FieldPath(prefix, "organisation"));
      break;
    case v1::RegistryEntry::kProvider:
      CheckProvider(v, entry.provider(), FieldPath(prefix, "provider"));
      break;
    case v1::RegistryEntry::ENTRY_NOT_SET:
      v.Add(prefix.empty() ? "entry" : prefix, "must hold a person, an organisation or a provider");
      break;
  }
}

void CheckRegistryKey(FieldViolations& v, const v1::RegistryKey& key, const std::string& prefix) {
  switch (key.key_case()) {
    case v1::RegistryKey::kPerson:
      CheckPersonId(v, key.person(), FieldPath(prefix, "person"));
      break;
    case v1::RegistryKey::kOrganisation:
      CheckOrganisationId(v, key.organisation(), FieldPath(prefix, "organisation"));
      break;
    case v1::RegistryKey::kProviderId:
      CheckProviderId(v, key.provider_id(), FieldPath(prefix, "provider_id"));
      break;
    case v1::RegistryKey::KEY_NOT_SET:
      v.Add(prefix.empty() ? "key" : prefix, "must name a person, an organisation or a provider");
      break;
  }
}

v1::RegistryKey RegistryKeyOf(const v1::RegistryEntry& entry) {
  v1::RegistryKey key;
  switch (entry.entry_case()) {
    case v1::RegistryEntry::kPerson:
      *key.mutable_person() = entry.person().id();
      break;
    case v1::RegistryEntry::kOrganisation:
      *key.mutable_organisation() = entry.organisation().id();
      break;
    case v1::RegistryEntry::kProvider:
      key.set_provider_id(entry.provider().provider_id());
      break;
    case v1::RegistryEntry::ENTRY_NOT_SET:
      break;
  }
  return key;
}

std::string CanonicalRegistryKey(const v1::RegistryKey& key) {
  switch (key.key_case()) {
    case v1::RegistryKey::kPerson:
      switch (key.person().id_case()) {
        case v1::PersonId::kNorwegianNationalId:
          return absl::StrCat("person/NO/", key.person().norwegian_national_id());
        case v1::PersonId::kDanishCpr:
          return absl::StrCat("person/DK/", key.person().danish_cpr());
        case v1::PersonId::ID_NOT_SET:
          return "";
      }
      return "";
    case v1::RegistryKey::kOrganisation:
      switch (key.organisation().id_case()) {
        case v1::OrganisationId::kNorwegianOrgNumber:
          return absl::StrCat("organisation/NO/", key.organisation().norwegian_org_number());
        case v1::OrganisationId::kDanishCvr:
          return absl::StrCat("organisation/DK/", key.organisation().danish_cvr());
        case v1::OrganisationId::ID_NOT_SET:
          return "";
      }
      return "";
    case v1::RegistryKey::kProviderId:
      return absl::StrCat("provider/", key.provider_id());
    case v1::RegistryKey::KEY_NOT_SET:
      return "";
  }
  return "";
}

}  // namespace utpost::common
