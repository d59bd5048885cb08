#include "services/common/identity.h"

#include <grpcpp/security/auth_context.h>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "crypto/dev_pki.h"

namespace utpost::service {
namespace {

class CertificateAuthenticator final : public Authenticator {
 public:
  absl::StatusOr<std::string> CallerOrg(const grpc::ServerContextBase& context) const override {
    std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
    if (auth == nullptr || !auth->IsPeerAuthenticated()) {
      return absl::UnauthenticatedError("a client certificate is required");
    }
    std::vector<grpc::string_ref> pem = auth->FindPropertyValues("x509_pem_cert");
    if (pem.empty()) return absl::UnauthenticatedError("no client certificate was presented");
    return crypto::OrgKeyFromCertificatePem(
        std::string_view(pem.front().data(), pem.front().size()));
  }
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

std::unique_ptr<Authenticator> NewCertificateAuthenticator() {
  return std::make_unique<CertificateAuthenticator>();
}

std::unique_ptr<Authenticator> NewInsecureHeaderAuthenticator() {
  return std::make_unique<InsecureHeaderAuthenticator>();
}

}  // namespace utpost::service
