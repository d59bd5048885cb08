// The path of every unary call, in one place:
//   identity (the caller must be of the service's audience) -> admission (a Ticket) -> hand-off to
//   the bounded executor -> parse the raw request (raw_request.h) -> the logic -> reply.
// gRPC's threads never parse a large request nor wait on the disk, and every refusal has
// its own clear status. Services own a ServiceCore and call ServeUnary from each handler.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "common/grpc_status.h"
#include "services/common/admission.h"
#include "services/common/executor.h"
#include "services/common/identity.h"
#include "services/common/raw_request.h"

namespace utpost::service {

// What a service shares between its handlers. All references must outlive it.
struct ServiceCore {
  ServiceCore(const Authenticator& authenticator_in, Admission& admission_in,
              BoundedExecutor& executor_in, Audience audience_in = Audience::kOrganisations,
              std::function<absl::Status(const std::string&)> home_in = {})
      : authenticator(authenticator_in),
        admission(admission_in),
        executor(executor_in),
        audience(audience_in),
        home(std::move(home_in)) {}

  const Authenticator& authenticator;
  Admission& admission;
  BoundedExecutor& executor;
  // Who may call: organisations (public services) or components (internal services).
  Audience audience = Audience::kOrganisations;
  // On a ledger shard: OK when the caller's organisation is served here, else the redirect to
  // its shard (common::WrongShardError). Empty: every organisation is served here.
  std::function<absl::Status(const std::string& org_key)> home;
};

// The shard check of `core` for `org_key`: OK without one.
inline absl::Status CheckHome(const ServiceCore& core, const std::string& org_key) {
  return core.home ? core.home(org_key) : absl::OkStatus();
}

inline const grpc::Status kAtCapacity(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                      "server is at capacity; retry with backoff");

// Serves one unary call whose work finishes later: `work(caller, Request, done)` runs on the
// executor and calls `done(absl::StatusOr<Response>)` exactly once, from any thread (an
// outbound call's callback, say), so that no executor thread waits on another server.
// `caller` is the org key for a public service, the component name for an internal one. A
// call whose caller went away before its work started is skipped. The request's admission
// ticket is held until `done`.
template <typename Request, typename Work>
grpc::ServerUnaryReactor* ServeUnaryAsync(const ServiceCore& core, const char* method,
                                          grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* raw_request,
                                          grpc::ByteBuffer* raw_response,
                                          const RequestLimits& limits, Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<std::string> caller = core.authenticator.Authorize(*context, core.audience);
  if (!caller.ok()) {
    reactor->Finish(common::ToGrpcStatus(caller.status()));
    return reactor;
  }
  if (absl::Status home = CheckHome(core, *caller); !home.ok()) {
    reactor->Finish(common::ToGrpcStatus(home));
    return reactor;
  }
  // The whole request counts, not only its documents: a request of a million empty
  // documents costs memory too.
  absl::StatusOr<Admission::Ticket> ticket = core.admission.Admit(*caller, raw_request->Length());
  if (!ticket.ok()) {
    reactor->Finish(common::ToGrpcStatus(ticket.status()));
    return reactor;
  }
  // std::function needs a copyable task; the ticket moves into shared ownership.
  auto held = std::make_shared<Admission::Ticket>(std::move(*ticket));
  const bool queued =
      core.executor.TrySubmit([method, context, raw_request, raw_response, reactor, &limits, work,
                               held = std::move(held), caller = *caller]() mutable {
        // Answers, with the request's share given back before the reply leaves.
        auto answer = [method, reactor, caller, held](const absl::Status& status) mutable {
          grpc::Status reply = Reply(method, caller, status);
          held.reset();
          reactor->Finish(reply);
        };
        held.reset();  // `answer` holds the ticket now
        if (context->IsCancelled()) {
          answer(absl::CancelledError("the caller went away"));
          return;
        }
        Request request;
        absl::Status parsed = ParseRequest(*raw_request, request, limits);
        // The parsed request is all the work needs: the raw bytes (up to the receive
        // limit) go now, not when the call ends, as gRPC does with a request it parses.
        // The buffer belongs to this call and nothing else reads it.
        const_cast<grpc::ByteBuffer*>(raw_request)->Clear();
        if (!parsed.ok()) {
          answer(parsed);
          return;
        }
        work(caller, std::move(request),
             [answer = std::move(answer), raw_response](const auto& result) mutable {
               absl::Status status = result.status();
               if (result.ok()) status = SerializeResponse(*result, *raw_response);
               answer(status);
             });
      });
  if (!queued) reactor->Finish(kAtCapacity);
  return reactor;
}

// Serves one unary call whose work answers at once: `work(caller, const Request&)` runs on
// the executor and returns absl::StatusOr<Response>.
template <typename Request, typename Work>
grpc::ServerUnaryReactor* ServeUnary(const ServiceCore& core, const char* method,
                                     grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* raw_request,
                                     grpc::ByteBuffer* raw_response, const RequestLimits& limits,
                                     Work work) {
  return ServeUnaryAsync<Request>(
      core, method, context, raw_request, raw_response, limits,
      [work](const std::string& caller, Request request, auto done) mutable {
        done(work(caller, static_cast<const Request&>(request)));
      });
}

}  // namespace utpost::service
