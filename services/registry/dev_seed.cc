#include "services/registry/dev_seed.h"

#include "common/status_macros.h"
#include "crypto/dev_provider_cert.h"

namespace utpost::registry {
namespace {

using namespace dev_seed;  // NOLINT: the seed's own names

v1::PostalAddress Address(const char* name, const char* line, const char* code, const char* city,
                          const char* country) {
  v1::PostalAddress a;
  a.set_name(name);
  a.add_address_lines(line);
  a.set_postal_code(code);
  a.set_city(city);
  a.set_country_code(country);
  return a;
}

v1::RegistryEntry Person(bool norwegian, const char* id) {
  v1::RegistryEntry e;
  if (norwegian) {
    e.mutable_person()->mutable_id()->set_norwegian_national_id(id);
  } else {
    e.mutable_person()->mutable_id()->set_danish_cpr(id);
  }
  return e;
}

v1::RegistryEntry Org(bool norwegian, const char* id) {
  v1::RegistryEntry e;
  if (norwegian) {
    e.mutable_organisation()->mutable_id()->set_norwegian_org_number(id);
  } else {
    e.mutable_organisation()->mutable_id()->set_danish_cvr(id);
  }
  return e;
}

v1::RegistryEntry WithMailbox(v1::RegistryEntry e, const char* provider, std::string address) {
  e.mutable_person()->mutable_mailbox()->set_provider_id(provider);
  e.mutable_person()->mutable_mailbox()->set_address(std::move(address));
  return e;
}

v1::RegistryEntry WithAddress(v1::RegistryEntry e, v1::PostalAddress a) {
  if (e.has_person()) {
    *e.mutable_person()->mutable_postal_address() = std::move(a);
  } else {
    *e.mutable_organisation()->mutable_postal_address() = std::move(a);
  }
  return e;
}

}  // namespace

absl::Status DevSeedSource::ForEach(const std::function<absl::Status(v1::RegistryEntry)>& sink) {
  for (const DevProvider& p : kDevProviders) {
    UTPOST_ASSIGN_OR_RETURN(std::string pem,
                            crypto::EnsureDevProviderCertificate(providers_dir_, p.id, p.name));
    v1::RegistryEntry e;
    v1::Provider* provider = e.mutable_provider();
    provider->set_provider_id(p.id);
    provider->set_name(p.name);
    provider->set_endpoint(kSimEndpoint);
    provider->set_encryption_certificate_pem(std::move(pem));
    provider->set_max_security_level(p.max_security_level);
    UTPOST_RETURN_IF_ERROR(sink(std::move(e)));
  }

  const bool no = true;
  const bool dk = false;
  std::vector<v1::RegistryEntry> entries;
  entries.push_back(
      WithAddress(WithMailbox(Person(no, kPersonWithMailbox), kProviderDev, "kari.nordmann@dev"),
                  Address("Kari Nordmann", "Storgata 1", "0155", "Oslo", "NO")));
  {
    v1::RegistryEntry e =
        WithAddress(Person(no, kPersonReserved),
                    Address("Ola Nordmann", "Kongens gate 2", "0153", "Oslo", "NO"));
    e.mutable_person()->set_reserved(true);
    entries.push_back(std::move(e));
  }
  entries.push_back(WithAddress(Person(no, kPersonWithoutMailbox),
                                Address("Per Hansen", "Bryggen 3", "5003", "Bergen", "NO")));
  entries.push_back(WithAddress(
      WithMailbox(Person(no, kPersonSubstantialOnly), kProviderSubstantial, "lise.berg@dev-sub"),
      Address("Lise Berg", "Torget 4", "7011", "Trondheim", "NO")));
  {
    v1::RegistryEntry e = Org(no, kOrgWithInbox);
    e.mutable_organisation()->mutable_inbox()->set_provider_id(kProviderDev);
    e.mutable_organisation()->mutable_inbox()->set_address("post@921837003.dev");
    entries.push_back(std::move(e));
  }
  entries.push_back(WithAddress(Org(no, kOrgWithoutInbox),
                                Address("Eksempel AS", "Postboks 5", "0101", "Oslo", "NO")));

  entries.push_back(
      WithAddress(WithMailbox(Person(dk, kCprWithMailbox), kProviderDev, "mette.jensen@dev"),
                  Address("Mette Jensen", "Vesterbrogade 1", "1620", "København V", "DK")));
  {
    v1::RegistryEntry e = WithAddress(
        Person(dk, kCprExempt), Address("Jens Nielsen", "Strøget 2", "1160", "København K", "DK"));
    e.mutable_person()->set_reserved(true);
    entries.push_back(std::move(e));
  }
  entries.push_back(
      WithAddress(Person(dk, kCprWithoutMailbox),
                  Address("Anne Larsen", "Åboulevarden 3", "8000", "Aarhus C", "DK")));
  entries.push_back(WithAddress(
      WithMailbox(Person(dk, kCprSubstantialOnly), kProviderSubstantial, "lars.holm@dev-sub"),
      Address("Lars Holm", "Vestergade 4", "5000", "Odense C", "DK")));
  {
    v1::RegistryEntry e = Org(dk, kCvrWithInbox);
    e.mutable_organisation()->mutable_inbox()->set_provider_id(kProviderDev);
    e.mutable_organisation()->mutable_inbox()->set_address("post@29189854.dev");
    entries.push_back(std::move(e));
  }
  entries.push_back(WithAddress(Org(dk, kCvrWithoutInbox), Address("Eksempel ApS", "Havnegade 5",
                                                                   "1058", "København K", "DK")));
  for (v1::RegistryEntry& e : entries) UTPOST_RETURN_IF_ERROR(sink(std::move(e)));
  return absl::OkStatus();
}

}  // namespace utpost::registry
