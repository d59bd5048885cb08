#include "services/common/identity.h"

#include <grpcpp/security/auth_context.h>

#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "crypto/dev_pki.h"

namespace utpost::service {
namespace {

class CertificateAuthenticator final : public Authenticator {
 public:
  explicit CertificateAuthenticator(bool accept_serial_number_org)
      : accept_serial_number_org_(accept_serial_number_org) {}

  absl::StatusOr<std::string> CallerOrg(const grpc::ServerContextBase& context) const override {
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
    absl::StatusOr<std::string> org =
        crypto::OrgKeyFromCertificatePem(certificate, accept_serial_number_org_);
    if (org.ok()) {
      std::lock_guard lock(mu_);
      if (cache_.size() >= kMaxCached) cache_.clear();
      cache_.emplace(std::move(certificate), *org);
    }
    return org;
  }

 private:
  static constexpr size_t kMaxCached = 4096;
  const bool accept_serial_number_org_;
  mutable std::mutex mu_;
  mutable absl::flat_hash_map<std::string, std::string> cache_;
};

class InsecureHeaderAuthenticator final : public Authenticator {
 public:
  absl::StatusOr<std::string> CallerOrg(const grpc::ServerContextBase& context) const override {
    const auto& metadata = context.client_metadata();
    auto it = metadata.find(kInsecureOrganisationHeader);
    if (it == metadata.end()) {
      return absl::UnauthenticatedError(
          absl::StrCat("insecure mode: send the organisation number in the '",
                       kInsecureOrganisationHeader, "' header"));
    }
    std::string_view value(it->second.data(), it->second.size());
    absl::StatusOr<common::ParsedId> id = common::ParseIdentifier(value);
    if (!id.ok()) return absl::UnauthenticatedError(id.status().message());
    absl::StatusOr<std::string> key = common::MakeOrgKey(id->kind, id->digits);
    if (!key.ok()) return absl::UnauthenticatedError(key.status().message());
    return key;
  }
};

}  // namespace

std::unique_ptr<Authenticator> NewCertificateAuthenticator(bool accept_serial_number_org) {
  return std::make_unique<CertificateAuthenticator>(accept_serial_number_org);
}

std::unique_ptr<Authenticator> NewInsecureHeaderAuthenticator() {
  return std::make_unique<InsecureHeaderAuthenticator>();
}

}  // namespace utpost::service
