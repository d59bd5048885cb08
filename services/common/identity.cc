#include "services/common/identity.h"

#include <grpcpp/security/auth_context.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <mutex>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/strings.h"
#include "crypto/certificate_verifier.h"
#include "crypto/dev_pki.h"

namespace utpost::service {
namespace {

std::string_view Value(const grpc::string_ref& ref) { return {ref.data(), ref.size()}; }

// The single value of metadata `key`, nullopt if absent. Several values are UNAUTHENTICATED.
absl::StatusOr<std::optional<std::string_view>> SingleHeader(const grpc::ServerContextBase& context,
                                                             std::string_view key) {
  const auto& metadata = context.client_metadata();
  auto [begin, end] = metadata.equal_range(grpc::string_ref(key.data(), key.size()));
  if (begin == end) return std::nullopt;
  if (std::next(begin) != end) {
    return absl::UnauthenticatedError(absl::StrCat("more than one '", common::Av(key), "' header"));
  }
  return Value(begin->second);
}

absl::StatusOr<Caller> ComponentFromHeader(std::string_view name) {
  if (!crypto::ValidComponentName(name)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "'", kComponentHeader, "' header does not name a component (", common::Av(name), ")"));
  }
  return Caller{Caller::Kind::kComponent, std::string(name)};
}

// The caller of an in-process call: nullopt for a call without the token header.
absl::StatusOr<std::optional<Caller>> InProcessCaller(const grpc::ServerContextBase& context,
                                                      const std::string& token) {
  absl::StatusOr<std::optional<std::string_view>> presented =
      SingleHeader(context, kInProcessTokenHeader);
  if (!presented.ok()) return presented.status();
  if (!presented->has_value()) return std::nullopt;
  const std::string_view value = **presented;
  if (token.empty() || value.size() != token.size() ||
      CRYPTO_memcmp(value.data(), token.data(), token.size()) != 0) {
    return absl::UnauthenticatedError("in-process token does not match");
  }
  absl::StatusOr<std::optional<std::string_view>> component =
      SingleHeader(context, kComponentHeader);
  if (!component.ok()) return component.status();
  if (!component->has_value()) {
    return absl::UnauthenticatedError("an in-process call must name its component");
  }
  return ComponentFromHeader(**component);
}

class CertificateAuthenticator final : public Authenticator {
 public:
  CertificateAuthenticator(std::string in_process_token,
                           std::unique_ptr<crypto::CertificateVerifier> component_ca,
                           bool accept_serial_number_org)
      : in_process_token_(std::move(in_process_token)),
        component_ca_(std::move(component_ca)),
        accept_serial_number_org_(accept_serial_number_org) {}

  absl::StatusOr<Caller> Identify(const grpc::ServerContextBase& context) const override {
    absl::StatusOr<std::optional<Caller>> in_process = InProcessCaller(context, in_process_token_);
    if (!in_process.ok()) return in_process.status();
    if (in_process->has_value()) return **in_process;

    std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
    if (auth == nullptr || !auth->IsPeerAuthenticated()) {
      return absl::UnauthenticatedError("a client certificate is required");
    }
    std::vector<grpc::string_ref> pem = auth->FindPropertyValues("x509_pem_cert");
    if (pem.empty()) return absl::UnauthenticatedError("no client certificate was presented");
    std::string certificate(pem.front().data(), pem.front().size());
    // Parsing a certificate costs about 100 us; a caller presents the same one on every call.
    // The certificate was verified by the TLS handshake of this very call, so caching what
    // it names is safe; the key is the whole certificate, not a part of it.
    {
      std::lock_guard lock(mu_);
      if (auto it = cache_.find(certificate); it != cache_.end()) return it->second;
    }
    absl::StatusOr<crypto::CertificateIdentity> identity =
        crypto::IdentityFromCertificatePem(certificate, accept_serial_number_org_);
    if (!identity.ok()) return identity.status();
    if (identity->kind == crypto::CertificateIdentity::Kind::kComponent) {
      std::vector<grpc::string_ref> chain = auth->FindPropertyValues("x509_pem_cert_chain");
      const std::string_view chain_pem = chain.empty() ? std::string_view() : Value(chain.front());
      if (absl::Status issued = component_ca_->Verify(certificate, chain_pem); !issued.ok()) {
        return issued;
      }
    }
    Caller caller{identity->kind == crypto::CertificateIdentity::Kind::kComponent
                      ? Caller::Kind::kComponent
                      : Caller::Kind::kOrganisation,
                  std::move(identity->name)};
    std::lock_guard lock(mu_);
    if (cache_.size() >= kMaxCached) cache_.clear();
    cache_.emplace(std::move(certificate), caller);
    return caller;
  }

 private:
  static constexpr size_t kMaxCached = 4096;
  const std::string in_process_token_;
  const std::unique_ptr<crypto::CertificateVerifier> component_ca_;
  const bool accept_serial_number_org_;
  mutable std::mutex mu_;
  mutable absl::flat_hash_map<std::string, Caller> cache_;
};

class InsecureHeaderAuthenticator final : public Authenticator {
 public:
  explicit InsecureHeaderAuthenticator(std::string in_process_token)
      : in_process_token_(std::move(in_process_token)) {}

  absl::StatusOr<Caller> Identify(const grpc::ServerContextBase& context) const override {
    absl::StatusOr<std::optional<Caller>> in_process = InProcessCaller(context, in_process_token_);
    if (!in_process.ok()) return in_process.status();
    if (in_process->has_value()) return **in_process;

    absl::StatusOr<std::optional<std::string_view>> org =
        SingleHeader(context, kInsecureOrganisationHeader);
    if (!org.ok()) return org.status();
    absl::StatusOr<std::optional<std::string_view>> component =
        SingleHeader(context, kComponentHeader);
    if (!component.ok()) return component.status();
    if (org->has_value() && component->has_value()) {
      return absl::UnauthenticatedError(absl::StrCat("insecure mode: send either '",
                                                     kInsecureOrganisationHeader, "' or '",
                                                     kComponentHeader, "', not both"));
    }
    if (component->has_value()) return ComponentFromHeader(**component);
    if (!org->has_value()) {
      return absl::UnauthenticatedError(
          absl::StrCat("insecure mode: send the organisation number in the '",
                       kInsecureOrganisationHeader, "' header"));
    }
    absl::StatusOr<common::ParsedId> id = common::ParseIdentifier(**org);
    if (!id.ok()) return absl::UnauthenticatedError(id.status().message());
    absl::StatusOr<std::string> key = common::MakeOrgKey(id->kind, id->digits);
    if (!key.ok()) return absl::UnauthenticatedError(key.status().message());
    return Caller{Caller::Kind::kOrganisation, *std::move(key)};
  }

 private:
  const std::string in_process_token_;
};

}  // namespace

absl::StatusOr<std::string> Authenticator::Authorize(const grpc::ServerContextBase& context,
                                                     Audience audience) const {
  absl::StatusOr<Caller> caller = Identify(context);
  if (!caller.ok()) return caller.status();
  if (audience == Audience::kOrganisations && caller->kind != Caller::Kind::kOrganisation) {
    return absl::PermissionDeniedError(
        absl::StrCat("component '", caller->name,
                     "' may not call this service: it is for organisations (public service)"));
  }
  if (audience == Audience::kComponents && caller->kind != Caller::Kind::kComponent) {
    return absl::PermissionDeniedError(
        absl::StrCat("organisation ", caller->name,
                     " may not call this service: it is internal, for utpost components"));
  }
  return std::move(caller->name);
}

std::string NewInProcessToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();  // no entropy: nothing is safe
  std::string token =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
  OPENSSL_cleanse(bytes, sizeof bytes);
  return token;
}

absl::StatusOr<std::unique_ptr<Authenticator>> NewCertificateAuthenticator(
    std::string in_process_token, std::string_view component_ca_pem,
    bool accept_serial_number_org) {
  absl::StatusOr<std::unique_ptr<crypto::CertificateVerifier>> component_ca =
      crypto::CertificateVerifier::FromCaPem(component_ca_pem);
  if (!component_ca.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls.component_ca: ", component_ca.status().message()));
  }
  return std::make_unique<CertificateAuthenticator>(
      std::move(in_process_token), *std::move(component_ca), accept_serial_number_org);
}

std::unique_ptr<Authenticator> NewInsecureHeaderAuthenticator(std::string in_process_token) {
  return std::make_unique<InsecureHeaderAuthenticator>(std::move(in_process_token));
}

}  // namespace utpost::service
