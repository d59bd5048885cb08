// Certificates of digital-mailbox providers: what the registry accepts as the certificate
// documents are encrypted to, and, for development, a self-signed one per seeded provider.
//
// Dev layout (beside the dev PKI, e.g. data/pki/providers/<provider id>/):
//   cert.pem   self-signed X.509, subject CN=<name> O=utpost dev provider, ECDSA P-256,
//              keyUsage keyAgreement (CMS encrypts to it by ECDH key agreement), 2 years
//   key.pem    its private key, mode 0600: the mailbox simulator decrypts with it
// Existing files are kept, so it is safe to call on every start.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace utpost::crypto {

// Makes (or keeps) <providers_dir>/<provider_id>/{cert.pem,key.pem}, the directories with mode
// 0700. Returns the certificate PEM. FAILED_PRECONDITION if only one of the two files exists.
[[nodiscard]] absl::StatusOr<std::string> EnsureDevProviderCertificate(
    const std::filesystem::path& providers_dir, std::string_view provider_id,
    std::string_view name);

// Where EnsureDevProviderCertificate puts the files of `provider_id`.
std::filesystem::path DevProviderDir(const std::filesystem::path& providers_dir,
                                     std::string_view provider_id);

// OK if `pem` is one PEM X.509 certificate whose public key can receive a CMS-encrypted
// document (RSA of at least 2048 bits, or EC). INVALID_ARGUMENT saying what is wrong.
[[nodiscard]] absl::Status CheckEncryptionCertificatePem(std::string_view pem);

}  // namespace utpost::crypto
