// Metadata headers utpost's clients and servers agree on.
#pragma once

namespace utpost::common {

// The caller's organisation number, on insecure loopback servers only (--insecure).
inline constexpr char kInsecureOrganisationHeader[] = "utpost-organisation";
// The calling component's name: on in-process calls, and on insecure loopback servers.
inline constexpr char kComponentHeader[] = "utpost-component";
// The in-process token of in-process calls (see services/common/identity.h).
inline constexpr char kInProcessTokenHeader[] = "utpost-in-process-token";

}  // namespace utpost::common
