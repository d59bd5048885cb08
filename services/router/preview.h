// Route preview (LetterService.PreviewRoutes): how a batch of letters would be routed now,
// decided by the router's own rules (decide.h) from one registry lookup per batch, with the
// totals and their estimated cost. Nothing is sent or stored.
//
// PlanPreview and PreviewFrom are pure, so that the counting and pricing are tested without
// a server; RoutePreview adds the registry call, asynchronously, so that no server thread
// waits on the registry.
#pragma once

#include <grpcpp/channel.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "utpost/internal/v1/registry_lookup.grpc.pb.h"
#include "utpost/internal/v1/tasks.pb.h"
#include "utpost/v1/letters.pb.h"
#include "utpost/v1/money.pb.h"

namespace utpost::router {

// The registry keys a preview needs: one per distinct recipient.
struct PreviewPlan {
  std::vector<v1::RegistryKey> keys;
  // For each recipient of the request, the index of its key in `keys`, or -1 for a recipient
  // that names nobody (Decide fails it).
  std::vector<int> key_of;
};

PreviewPlan PlanPreview(const v1::PreviewRoutesRequest& request);

// The TaskLetter the router would see for `recipient` sent with `options`: the recipient, the
// options and, when the letter would carry a postal address, a placeholder one (Decide only
// asks whether there is one).
internal::v1::TaskLetter PreviewLetter(const v1::PreviewRecipient& recipient,
                                       const v1::DeliveryOptions& options);

// The preview of `request` given the registry's answers (`results[k]` for `plan.keys[k]`),
// priced with `prices`. UNAVAILABLE if the answers do not fit the plan (a registry fault:
// the wrong number of results, or a result about someone else).
absl::StatusOr<v1::PreviewRoutesResponse> PreviewFrom(const v1::PreviewRoutesRequest& request,
                                                      const PreviewPlan& plan,
                                                      const std::vector<v1::LookupResult>& results,
                                                      const v1::PriceTable& prices);

// Previews against a registry reached over gRPC. Thread-safe; keep it in a shared_ptr for as
// long as calls may be in flight (Run holds a reference until it has answered).
class RoutePreview : public std::enable_shared_from_this<RoutePreview> {
 public:
  using Done = std::function<void(absl::StatusOr<v1::PreviewRoutesResponse>)>;

  // `registry` reaches the RegistryLookupService, authenticated as a component. Every lookup
  // has the deadline `timeout`.
  RoutePreview(std::shared_ptr<grpc::ChannelInterface> registry, v1::PriceTable prices,
               absl::Duration timeout);

  // Previews a valid request (ValidatePreviewRoutes). Calls `done` exactly once: at once
  // when no lookup is needed, else from gRPC's thread when the registry has answered.
  // UNAVAILABLE, naming the registry's status code, if it does not answer.
  void Run(v1::PreviewRoutesRequest request, Done done);

 private:
  std::unique_ptr<internal::v1::RegistryLookupService::Stub> registry_;
  const v1::PriceTable prices_;
  const absl::Duration timeout_;
};

}  // namespace utpost::router
