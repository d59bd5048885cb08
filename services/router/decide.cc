#include "services/router/decide.h"

#include <algorithm>
#include <limits>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace utpost::router {
namespace {

using internal::v1::TaskKind;

// A rank for comparing security levels. Unspecified means SUBSTANTIAL (letters.proto and
// registry.proto both say so).
constexpr int kSubstantialRank = 1;
constexpr int kHighRank = 2;

// What the letter requires. A level this build does not know is treated as above every
// provider's: a letter is never delivered at a lower level than it asked for.
int RequiredRank(v1::SecurityLevel level) {
  switch (level) {
    case v1::SECURITY_LEVEL_UNSPECIFIED:
    case v1::SECURITY_LEVEL_SUBSTANTIAL:
      return kSubstantialRank;
    case v1::SECURITY_LEVEL_HIGH:
      return kHighRank;
    default:
      return std::numeric_limits<int>::max();
  }
}

// What a provider supports. A level this build does not know counts as the lowest.
int SupportedRank(v1::SecurityLevel level) {
  return level == v1::SECURITY_LEVEL_HIGH ? kHighRank : kSubstantialRank;
}

std::string LevelName(v1::SecurityLevel level, bool required) {
  switch (level) {
    case v1::SECURITY_LEVEL_UNSPECIFIED:
      return required ? "SUBSTANTIAL (the default)" : "SUBSTANTIAL (unspecified)";
    case v1::SECURITY_LEVEL_SUBSTANTIAL:
      return "SUBSTANTIAL";
    case v1::SECURITY_LEVEL_HIGH:
      return "HIGH";
    default:
      return absl::StrCat("unknown level ", static_cast<int>(level));
  }
}

// A provider id for the detail. Registry ids are [a-z0-9-]{1,64}; anything else is not
// repeated, so the detail can never carry what a provider id field should not hold.
std::string ProviderForDetail(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
  return ok ? absl::StrCat("'", id, "'") : std::string("(an id that is not well-formed)");
}

bool HasAddress(bool present, const v1::PostalAddress& address) {
  return present && address.ByteSizeLong() > 0;
}

// The entry's postal address, when the entry is of the recipient's kind and has one.
const v1::PostalAddress* RegistryAddress(const v1::Recipient& recipient,
                                         const v1::LookupResult* lookup) {
  if (lookup == nullptr || !lookup->has_entry()) return nullptr;
  const v1::RegistryEntry& entry = lookup->entry();
  if (recipient.has_person() && entry.has_person() &&
      HasAddress(entry.person().has_postal_address(), entry.person().postal_address())) {
    return &entry.person().postal_address();
  }
  if (recipient.has_organisation() && entry.has_organisation() &&
      HasAddress(entry.organisation().has_postal_address(),
                 entry.organisation().postal_address())) {
    return &entry.organisation().postal_address();
  }
  return nullptr;
}

// Why the letter cannot go digitally, before the channel policy and the address are applied.
struct PrintCause {
  v1::StatusReason reason;
  std::string why;
};

Decision Routed(v1::Channel channel, v1::StatusReason reason, TaskKind next, std::string detail) {
  Decision d;
  d.status = v1::LETTER_STATUS_ROUTED;
  d.channel = channel;
  d.reason = reason;
  d.next_task = next;
  d.detail = std::move(detail);
  return d;
}

Decision Failed(v1::StatusReason reason, std::string detail) {
  Decision d;
  d.status = v1::LETTER_STATUS_FAILED;
  d.reason = reason;
  d.detail = std::move(detail);
  return d;
}

// Print with the cause's reason, if an address can be found; FAILED NO_CHANNEL otherwise.
Decision ToPrint(const internal::v1::TaskLetter& letter, const v1::LookupResult* lookup,
                 PrintCause cause) {
  AddressSource source = AddressSource::kNone;
  if (HasAddress(letter.has_postal_address(), letter.postal_address())) {
    source = AddressSource::kLetter;
  } else if (RegistryAddress(letter.recipient(), lookup) != nullptr) {
    source = AddressSource::kRegistry;
  }
  if (source == AddressSource::kNone) {
    return Failed(v1::STATUS_REASON_NO_CHANNEL,
                  absl::StrCat(cause.why,
                               "; print is needed but there is no postal address in the letter "
                               "or the registry; needs manual handling"));
  }
  Decision d = Routed(v1::CHANNEL_PRINT, cause.reason, internal::v1::TASK_KIND_PRINT,
                      absl::StrCat(cause.why, "; printed, postal address from the ",
                                   source == AddressSource::kLetter ? "letter" : "registry"));
  d.address_source = source;
  return d;
}

}  // namespace

Decision Decide(const internal::v1::TaskLetter& letter, const v1::LookupResult* lookup) {
  const v1::Recipient& recipient = letter.recipient();
  if (!recipient.has_person() && !recipient.has_organisation()) {
    return Failed(v1::STATUS_REASON_NO_CHANNEL,
                  "the letter names no recipient; needs manual handling");
  }
  const v1::ChannelPolicy policy = letter.options().channel_policy();
  if (policy == v1::CHANNEL_POLICY_PRINT_ONLY) {
    return ToPrint(letter, lookup,
                   {v1::STATUS_REASON_SENDER_REQUESTED_PRINT, "the sender asked for print only"});
  }

  const bool has_entry = lookup != nullptr && lookup->has_entry();
  const v1::Provider* provider =
      lookup != nullptr && lookup->has_provider() ? &lookup->provider() : nullptr;
  PrintCause cause;
  if (recipient.has_organisation()) {
    if (!has_entry || !lookup->entry().has_organisation()) {
      cause = {v1::STATUS_REASON_NO_MAILBOX, "the organisation has no registry entry"};
    } else if (!lookup->entry().organisation().has_inbox()) {
      cause = {v1::STATUS_REASON_NO_MAILBOX, "the organisation has no inbox"};
    } else if (provider == nullptr) {
      cause = {v1::STATUS_REASON_NO_MAILBOX,
               absl::StrCat("the organisation's inbox names provider ",
                            ProviderForDetail(lookup->entry().organisation().inbox().provider_id()),
                            ", which is not in the registry; counted as no inbox")};
    } else {
      return Routed(v1::CHANNEL_ORGANISATION_INBOX, v1::STATUS_REASON_HAS_ORGANISATION_INBOX,
                    internal::v1::TASK_KIND_DELIVER_ORGANISATION_INBOX,
                    absl::StrCat("organisation inbox at provider ",
                                 ProviderForDetail(provider->provider_id())));
    }
  } else if (!has_entry || !lookup->entry().has_person()) {
    cause = {v1::STATUS_REASON_NO_MAILBOX, "the recipient has no registry entry"};
  } else {
    const v1::PersonEntry& person = lookup->entry().person();
    const v1::SecurityLevel required = letter.options().security_level();
    if (person.reserved()) {
      cause = {v1::STATUS_REASON_RECIPIENT_RESERVED,
               "the recipient has reserved against digital mail"};
    } else if (!person.has_mailbox()) {
      cause = {v1::STATUS_REASON_NO_MAILBOX, "the recipient has no digital mailbox"};
    } else if (provider == nullptr) {
      cause = {v1::STATUS_REASON_NO_MAILBOX,
               absl::StrCat("the recipient's mailbox names provider ",
                            ProviderForDetail(person.mailbox().provider_id()),
                            ", which is not in the registry; counted as no mailbox")};
    } else if (SupportedRank(provider->max_security_level()) < RequiredRank(required)) {
      cause = {
          v1::STATUS_REASON_SECURITY_LEVEL_NOT_SUPPORTED,
          absl::StrCat("the letter requires security level ", LevelName(required, true),
                       "; the recipient's provider ", ProviderForDetail(provider->provider_id()),
                       " supports up to ", LevelName(provider->max_security_level(), false))};
    } else {
      return Routed(
          v1::CHANNEL_DIGITAL_MAILBOX, v1::STATUS_REASON_HAS_DIGITAL_MAILBOX,
          internal::v1::TASK_KIND_DELIVER_DIGITAL,
          absl::StrCat("digital mailbox at provider ", ProviderForDetail(provider->provider_id()),
                       ", security level ", LevelName(required, true)));
    }
  }

  if (policy == v1::CHANNEL_POLICY_DIGITAL_ONLY) {
    return Failed(cause.reason,
                  absl::StrCat(cause.why, "; the sender allowed digital delivery only"));
  }
  return ToPrint(letter, lookup, std::move(cause));
}

std::optional<v1::RegistryKey> RegistryKeyFor(const v1::Recipient& recipient) {
  v1::RegistryKey key;
  if (recipient.has_person()) {
    *key.mutable_person() = recipient.person();
  } else if (recipient.has_organisation()) {
    *key.mutable_organisation() = recipient.organisation();
  } else {
    return std::nullopt;
  }
  return key;
}

std::string RecipientDedupKey(const v1::Recipient& recipient) {
  if (recipient.has_person()) {
    const v1::PersonId& p = recipient.person();
    if (p.has_norwegian_national_id()) return absl::StrCat("p/no/", p.norwegian_national_id());
    if (p.has_danish_cpr()) return absl::StrCat("p/dk/", p.danish_cpr());
  } else if (recipient.has_organisation()) {
    const v1::OrganisationId& o = recipient.organisation();
    if (o.has_norwegian_org_number()) return absl::StrCat("o/no/", o.norwegian_org_number());
    if (o.has_danish_cvr()) return absl::StrCat("o/dk/", o.danish_cvr());
  }
  return "";
}

bool LookupAnswersRecipient(const v1::Recipient& recipient, const v1::LookupResult& result) {
  if (!result.has_entry()) return !result.has_provider();
  const v1::RegistryEntry& entry = result.entry();
  const std::string* named_provider = nullptr;
  if (entry.has_person()) {
    v1::Recipient as_recipient;
    *as_recipient.mutable_person() = entry.person().id();
    if (!recipient.has_person() ||
        RecipientDedupKey(as_recipient) != RecipientDedupKey(recipient)) {
      return false;
    }
    if (entry.person().has_mailbox()) named_provider = &entry.person().mailbox().provider_id();
  } else if (entry.has_organisation()) {
    v1::Recipient as_recipient;
    *as_recipient.mutable_organisation() = entry.organisation().id();
    if (!recipient.has_organisation() ||
        RecipientDedupKey(as_recipient) != RecipientDedupKey(recipient)) {
      return false;
    }
    if (entry.organisation().has_inbox()) {
      named_provider = &entry.organisation().inbox().provider_id();
    }
  } else {
    return false;  // a provider entry, or an entry of a kind this build does not know
  }
  if (!result.has_provider()) return true;
  return named_provider != nullptr && result.provider().provider_id() == *named_provider;
}

}  // namespace utpost::router
