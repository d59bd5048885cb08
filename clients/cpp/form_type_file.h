// Form type definitions as files: YAML (or JSON, which is YAML) shaped like utpost.v1.FormType
// (utpost/v1/forms.proto), for `utpostctl forms register` and integrations that keep their
// form types under version control. See examples/forms/barnehage.yaml.
//
// Besides FormType's own fields (proto field names) a file may say:
//   encryption_certificate: PATH   the PEM certificate submissions are encrypted to, relative
//                                  to the file; default: the one given to ReadFormTypeFile
//   allowed_portals: [NO991825827] organisation numbers (or CVR) as plain strings
//   kind: text | number | date | ...   short names of FieldKind
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "utpost/v1/forms.pb.h"

namespace utpost::client {

// Parses `text` (the content of a file at `base_dir`). INVALID_ARGUMENT naming the key path
// ("fields[2].kind: unknown value 'txt'") for anything it cannot map; unknown keys are errors.
// `default_certificate_pem`: used when the file names no encryption_certificate.
[[nodiscard]] absl::StatusOr<v1::FormType> ParseFormType(std::string_view text,
                                                         const std::filesystem::path& base_dir,
                                                         std::string_view default_certificate_pem);

// Reads and parses the file at `path`.
[[nodiscard]] absl::StatusOr<v1::FormType> ReadFormTypeFile(
    const std::filesystem::path& path, std::string_view default_certificate_pem);

}  // namespace utpost::client
