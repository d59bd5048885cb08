// The gRPC handlers of the registry: utpost.v1.RegistryService (public: organisations named
// as registry administrators) and utpost.internal.v1.RegistryLookupService (internal:
// components such as the router). Thin: each unary method runs the shared call path
// (services/common/unary_call.h) and hands the parsed request to the Registry; Import is a
// client-streaming reactor that holds one message at a time and reads the next only when the
// previous one is durable, so its memory is bounded by one message (4 MiB) whatever the
// import's length, and a slow disk slows the client down (HTTP/2 flow control) instead of
// filling memory.
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "services/common/admission.h"
#include "services/common/executor.h"
#include "services/common/identity.h"
#include "services/common/raw_request.h"
#include "services/common/unary_call.h"
#include "services/registry/registry.h"
#include "services/registry/registry_config.h"
#include "utpost/internal/v1/registry_lookup.grpc.pb.h"
#include "utpost/v1/registry.grpc.pb.h"

namespace utpost::registry {

class ImportReactor;

// Request size limits per method, as registry.proto states them.
inline constexpr uint64_t kImportMessageBytes = 4 << 20;
inline constexpr uint64_t kLookupRequestBytes = 1 << 20;
inline constexpr uint64_t kOtherRequestBytes = 64 << 10;

using RawRegistryService = v1::RegistryService::WithRawCallbackMethod_Lookup<
    v1::RegistryService::WithRawCallbackMethod_Upsert<
        v1::RegistryService::WithRawCallbackMethod_Delete<
            v1::RegistryService::WithRawCallbackMethod_Import<v1::RegistryService::Service>>>>;

class RegistryServiceImpl final : public RawRegistryService {
 public:
  // Only organisations in `administrators` (org keys) may call; others get PERMISSION_DENIED.
  // All references must outlive the service.
  RegistryServiceImpl(Registry& registry, const service::Authenticator& authenticator,
                      service::BoundedExecutor& executor, const RegistryConfig& config,
                      std::vector<std::string> administrators);

  grpc::ServerUnaryReactor* Lookup(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Upsert(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerReadReactor<grpc::ByteBuffer>* Import(grpc::CallbackServerContext* context,
                                                    grpc::ByteBuffer* response) override;

 private:
  friend class ImportReactor;

  [[nodiscard]] absl::Status CheckAdministrator(const std::string& organisation) const;

  Registry& registry_;
  const service::Authenticator& authenticator_;
  service::BoundedExecutor& executor_;
  service::Admission admission_;
  const service::ServiceCore core_;
  const absl::flat_hash_set<std::string> administrators_;
  const service::RequestLimits lookup_limits_;
  const service::RequestLimits small_limits_;
  const service::RequestLimits import_limits_;
};

using RawRegistryLookupService = internal::v1::RegistryLookupService::WithRawCallbackMethod_Lookup<
    internal::v1::RegistryLookupService::Service>;

// Registry lookups for components.
class RegistryLookupServiceImpl final : public RawRegistryLookupService {
 public:
  // All references must outlive the service.
  RegistryLookupServiceImpl(Registry& registry, const service::Authenticator& authenticator,
                            service::BoundedExecutor& executor, const RegistryConfig& config);

  grpc::ServerUnaryReactor* Lookup(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;

 private:
  Registry& registry_;
  service::Admission admission_;
  const service::ServiceCore core_;
  const service::RequestLimits lookup_limits_;
};

}  // namespace utpost::registry
