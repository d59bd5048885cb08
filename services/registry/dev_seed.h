// The development registry: what `make run` starts with, so that every routing case can be
// tried at once. Written into an empty registry when config.dev_pki is on.
//
//   provider  dev                 "utpost dev mailbox", supports HIGH
//   provider  dev-substantial     "utpost dev mailbox (substantial only)", supports SUBSTANTIAL
//   provider  dev-print           "utpost dev print", the print provider (no mailboxes)
// Every provider's endpoint is "mailbox-sim": the mailbox simulator component, which a
// courier or print reaches through ModuleContext::ChannelTo (in-process, or mutual TLS to
// components.addresses), naming the provider id in the "utpost-provider-id" metadata.
//   person    15076500565   NO    digital mailbox at dev
//   person    02028234530   NO    reserved against digital mail; postal address
//   person    17059121030   NO    no digital mailbox; postal address
//   person    09116441796   NO    mailbox at dev-substantial; postal address
//   org       921837003     NO    organisation inbox at dev
//   org       921837011     NO    no inbox; postal address
//   person    0707614285    DK    digital mailbox at dev
//   person    1112732116    DK    exempt from Digital Post (reserved); postal address
//   person    2309805123    DK    no digital mailbox; postal address
//   person    0402927011    DK    mailbox at dev-substantial; postal address
//   org       29189854      DK    organisation inbox at dev
//   org       29189862      DK    no inbox; postal address
// Any other valid identifier has no entry (no mailbox and no postal address).
//
// Each provider's encryption certificate is self-signed and made on first use, with its
// private key, under `providers_dir` (crypto/dev_provider_cert.h): the mailbox simulator
// decrypts with <providers_dir>/<id>/key.pem.
#pragma once

#include <filesystem>
#include <string>

#include "services/registry/registry_source.h"

namespace utpost::registry {

// The identifiers of the seed, for tests and the README.
namespace dev_seed {
inline constexpr char kProviderDev[] = "dev";
inline constexpr char kProviderSubstantial[] = "dev-substantial";
inline constexpr char kProviderPrint[] = "dev-print";
// The endpoint of every dev provider: the mailbox simulator's component name.
inline constexpr char kSimEndpoint[] = "mailbox-sim";
struct DevProvider {
  const char* id;
  const char* name;
  v1::SecurityLevel max_security_level;
};
inline constexpr DevProvider kDevProviders[] = {
    {kProviderDev, "utpost dev mailbox", v1::SECURITY_LEVEL_HIGH},
    {kProviderSubstantial, "utpost dev mailbox (substantial only)", v1::SECURITY_LEVEL_SUBSTANTIAL},
    {kProviderPrint, "utpost dev print", v1::SECURITY_LEVEL_HIGH},
};
inline constexpr char kPersonWithMailbox[] = "15076500565";
inline constexpr char kPersonReserved[] = "02028234530";
inline constexpr char kPersonWithoutMailbox[] = "17059121030";
inline constexpr char kPersonSubstantialOnly[] = "09116441796";
inline constexpr char kOrgWithInbox[] = "921837003";
inline constexpr char kOrgWithoutInbox[] = "921837011";
inline constexpr char kCprWithMailbox[] = "0707614285";
inline constexpr char kCprExempt[] = "1112732116";
inline constexpr char kCprWithoutMailbox[] = "2309805123";
inline constexpr char kCprSubstantialOnly[] = "0402927011";
inline constexpr char kCvrWithInbox[] = "29189854";
inline constexpr char kCvrWithoutInbox[] = "29189862";
}  // namespace dev_seed

class DevSeedSource final : public RegistrySource {
 public:
  // `providers_dir`: where the providers' certificates and keys are made (e.g.
  // data/pki/providers).
  explicit DevSeedSource(std::filesystem::path providers_dir)
      : providers_dir_(std::move(providers_dir)) {}

  std::string name() const override { return "dev-seed"; }
  absl::Status ForEach(const std::function<absl::Status(v1::RegistryEntry)>& sink) override;

 private:
  std::filesystem::path providers_dir_;
};

}  // namespace utpost::registry
