// What `utpostctl forms fetch` does with a fetched submission: opens its CMS envelope with the
// municipality's private key, splits the MIME entity inside (utpost/v1/forms.proto: the JSON
// part first, then one part per attachment) and writes them as files.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace utpost::cli {

// Decrypts a DER CMS (AuthEnvelopedData or EnvelopedData) with the PEM private key at
// `key_path`. INVALID_ARGUMENT when the envelope is not for that key or was altered.
[[nodiscard]] absl::StatusOr<std::string> DecryptEnvelope(std::string_view der,
                                                          const std::filesystem::path& key_path);

struct SubmissionPart {
  std::string filename;    // from Content-Disposition (RFC 2231 filename* preferred)
  std::string media_type;  // from Content-Type, without parameters
  std::string content;
};

// The parts of a submission's MIME entity, the JSON part first. INVALID_ARGUMENT when it is
// not one.
[[nodiscard]] absl::StatusOr<std::vector<SubmissionPart>> SplitSubmissionMime(
    std::string_view mime);

// A file name that is safe to create in a directory: the part after the last '/' or '\\',
// without control characters; "." and ".." and empty names become "attachment-<index>".
std::string SafeFilename(std::string_view name, int index);

// Writes `parts` into `dir` (created): the JSON part as submission.json, each attachment under
// its safe file name (made unique with a "-2", "-3" suffix). Returns the paths written.
[[nodiscard]] absl::StatusOr<std::vector<std::filesystem::path>> WriteSubmissionParts(
    const std::filesystem::path& dir, const std::vector<SubmissionPart>& parts);

}  // namespace utpost::cli
