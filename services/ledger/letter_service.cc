#include "services/ledger/letter_service.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace utpost::ledger {
namespace {

// Events per stream message.
constexpr size_t kWatchBatch = 256;

// Requests other than SendLetter carry an id, a cursor or a few filters.
constexpr uint64_t kSmallRequestBytes = 4 << 10;
constexpr uint64_t kListRequestBytes = 16 << 10;
// A PreviewRoutes request carries up to 1000 identifiers of a few dozen bytes each.
constexpr uint64_t kPreviewRequestBytes = 128 << 10;

service::RequestLimits SendLimits(const LetterLimits& limits) {
  service::RequestLimits r;
  r.max_bytes = LetterServiceImpl::MaxSendLetterBytes(limits);
  // The documents are counted on the wire, before a single Document object is built.
  r.wire.repeated[v1::SendLetterRequest::descriptor()->FindFieldByName("documents")] = {
      limits.max_documents, "documents"};
  return r;
}

service::RequestLimits SmallLimits(uint64_t max_bytes) {
  service::RequestLimits r;
  r.max_bytes = max_bytes;
  r.wire.max_repeated = 64;
  r.wire.max_unknown_fields = 64;
  r.wire.repeated[v1::ListLettersRequest::descriptor()->FindFieldByName("statuses")] = {
      kMaxListStatuses, "statuses"};
  return r;
}

service::RequestLimits PreviewLimits() {
  service::RequestLimits r;
  r.max_bytes = kPreviewRequestBytes;
  r.wire.max_unknown_fields = 64;
  r.wire.repeated[v1::PreviewRoutesRequest::descriptor()->FindFieldByName("recipients")] = {
      kMaxPreviewRecipients, "recipients"};
  return r;
}

}  // namespace

// Streams an organisation's feed. State machine: at most one read (on the executor) or one
// write (in gRPC) at a time; a feed advance during either sets `more_` so nothing is missed.
// Owned jointly by gRPC (until OnDone) and by the read in flight, if any: whichever lets go
// last deletes it, so no path (a refused read, a cancel racing a read) can leak or double-free.
class WatchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  WatchReactor(LetterServiceImpl& service, std::string sender, uint64_t after)
      : service_(service), sender_(std::move(sender)), cursor_(after) {
    subscription_ = service_.ledger_.feed().Subscribe(sender_, [this] { Pump(); });
    Pump();
  }

  void Pump() {
    std::unique_lock lock(mu_);
    if (finished_) return;
    if (reading_ || writing_) {
      more_ = true;
      return;
    }
    reading_ = true;
    more_ = false;
    ++refs_;  // the read's reference
    lock.unlock();
    if (!service_.executor_.TrySubmit([this] { Read(); })) {
      lock.lock();
      reading_ = false;
      FinishLocked(service::kAtCapacity);
      lock.unlock();
      Unref();
    }
  }

  // Ends the stream (from shutdown or cancellation). Safe to call more than once.
  void End(const grpc::Status& status) {
    std::lock_guard lock(mu_);
    FinishLocked(status);
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!ok) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
        return;
      }
      if (pending_finish_) {
        FinishLocked(*pending_finish_);
        return;
      }
    }
    Pump();
  }

  void OnCancel() override { End(grpc::Status::CANCELLED); }

  void OnDone() override {
    service_.ledger_.feed().Unsubscribe(subscription_);
    {
      std::lock_guard lock(service_.watchers_mu_);
      service_.watchers_.erase(this);
      if (--service_.watchers_per_org_[sender_] == 0) service_.watchers_per_org_.erase(sender_);
    }
    Unref();  // gRPC's reference
  }

 private:
  void Read() {
    absl::StatusOr<std::vector<v1::LetterEvent>> events =
        service_.ledger_.ReadEvents(sender_, cursor_, kWatchBatch);
    std::unique_lock lock(mu_);
    reading_ = false;
    if (!events.ok()) {
      FinishLocked(service::Reply("WatchLetterEvents", sender_, events.status()));
    } else if (events->empty()) {
      if (more_) {
        lock.unlock();
        Pump();
      }
    } else if (!finished_) {
      v1::WatchLetterEventsResponse response;
      for (auto& event : *events) *response.add_events() = std::move(event);
      cursor_ = response.events(response.events_size() - 1).sequence();
      buffer_.Clear();
      if (absl::Status s = service::SerializeResponse(response, buffer_); !s.ok()) {
        FinishLocked(service::Reply("WatchLetterEvents", sender_, s));
      } else {
        writing_ = true;
        StartWrite(&buffer_);
      }
    }
    if (lock.owns_lock()) lock.unlock();
    Unref();
  }

  void Unref() {
    bool last;
    {
      std::lock_guard lock(mu_);
      last = --refs_ == 0;
    }
    if (last) delete this;
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    if (writing_) {
      // Finish after the write in flight completes.
      if (!pending_finish_) pending_finish_ = status;
      return;
    }
    finished_ = true;
    Finish(status);
  }

  LetterServiceImpl& service_;
  const std::string sender_;
  uint64_t subscription_ = 0;
  std::mutex mu_;
  int refs_ = 1;  // gRPC's, until OnDone
  uint64_t cursor_;
  bool reading_ = false;
  bool writing_ = false;
  bool more_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> pending_finish_;
  grpc::ByteBuffer buffer_;
};

uint64_t LetterServiceImpl::MaxSendLetterBytes(const LetterLimits& limits) {
  return limits.max_total_bytes + (1 << 20);
}

LetterServiceImpl::LetterServiceImpl(Ledger& ledger, const service::Authenticator& authenticator,
                                     service::BoundedExecutor& executor,
                                     std::function<absl::Status(const std::string&)> home)
    : ledger_(ledger),
      authenticator_(authenticator),
      executor_(executor),
      admission_(service::AdmissionLimits{ledger.config().max_inflight_per_organisation,
                                          ledger.config().max_inflight_bytes}),
      core_{authenticator_, admission_, executor_, service::Audience::kOrganisations,
            std::move(home)},
      send_limits_(SendLimits(ledger.config().limits)),
      small_limits_(SmallLimits(kSmallRequestBytes)),
      list_limits_(SmallLimits(kListRequestBytes)),
      preview_limits_(PreviewLimits()) {}

LetterServiceImpl::~LetterServiceImpl() = default;

grpc::ServerUnaryReactor* LetterServiceImpl::SendLetter(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* response) {
  // A letter whose caller went away before its work started is skipped: nothing was stored,
  // and a retry creates it. Once started, it completes; a retry with the same idempotency key
  // then replays it.
  return service::ServeUnary<v1::SendLetterRequest>(
      core_, "SendLetter", context, request, response, send_limits_,
      [this](const std::string& sender, const v1::SendLetterRequest& r) {
        return ledger_.SendLetter(sender, r);
      });
}

grpc::ServerUnaryReactor* LetterServiceImpl::GetLetter(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::GetLetterRequest>(
      core_, "GetLetter", context, request, response, small_limits_,
      [this](const std::string& sender, const v1::GetLetterRequest& r) {
        return ledger_.GetLetter(sender, r);
      });
}

grpc::ServerUnaryReactor* LetterServiceImpl::ListLetters(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* request,
                                                         grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::ListLettersRequest>(
      core_, "ListLetters", context, request, response, list_limits_,
      [this](const std::string& sender, const v1::ListLettersRequest& r) {
        return ledger_.ListLetters(sender, r);
      });
}

grpc::ServerUnaryReactor* LetterServiceImpl::CancelLetter(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* request,
                                                          grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::CancelLetterRequest>(
      core_, "CancelLetter", context, request, response, small_limits_,
      [this](const std::string& sender, const v1::CancelLetterRequest& r) {
        return ledger_.CancelLetter(sender, r);
      });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* LetterServiceImpl::WatchLetterEvents(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) {
  absl::StatusOr<std::string> sender = authenticator_.CallerOrg(*context);
  v1::WatchLetterEventsRequest request;
  grpc::Status refusal;
  if (!sender.ok()) {
    refusal = common::ToGrpcStatus(sender.status());
  } else if (absl::Status home = service::CheckHome(core_, *sender); !home.ok()) {
    refusal = common::ToGrpcStatus(home);
  } else if (absl::Status parsed = service::ParseRequest(*raw_request, request, small_limits_);
             !parsed.ok()) {
    refusal = common::ToGrpcStatus(parsed);
  } else if (request.after_sequence() > ledger_.feed().Watermark(*sender)) {
    refusal = service::Reply("WatchLetterEvents", *sender,
                             ledger_.ReadEvents(*sender, request.after_sequence(), 1).status());
  }
  std::lock_guard lock(watchers_mu_);
  if (refusal.ok() && shutting_down_) {
    refusal = grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down");
  }
  const int limit = ledger_.config().max_watch_streams_per_organisation;
  if (refusal.ok() && watchers_per_org_[*sender] >= limit) {
    refusal =
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     absl::StrCat("organisation already has ", limit,
                                  " open watch streams; one stream carries all of its events"));
  }
  if (!refusal.ok()) {
    // A reactor that finishes at once and deletes itself.
    class Refused final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
     public:
      explicit Refused(const grpc::Status& status) { Finish(status); }
      void OnDone() override { delete this; }
    };
    return new Refused(refusal);
  }
  auto* reactor = new WatchReactor(*this, *sender, request.after_sequence());
  watchers_.insert(reactor);
  ++watchers_per_org_[*sender];
  return reactor;
}

grpc::ServerUnaryReactor* LetterServiceImpl::PreviewRoutes(grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* response) {
  return service::ServeUnaryAsync<v1::PreviewRoutesRequest>(
      core_, "PreviewRoutes", context, request, response, preview_limits_,
      [this](const std::string&, v1::PreviewRoutesRequest r, router::RoutePreview::Done done) {
        if (absl::Status s =
                ValidatePreviewRoutes(r, ledger_.config().limits, ledger_.clock().Now());
            !s.ok()) {
          done(s);
          return;
        }
        absl::StatusOr<std::shared_ptr<router::RoutePreview>> preview;
        {
          std::lock_guard lock(preview_mu_);
          preview = preview_;
        }
        if (!preview.ok()) {
          done(preview.status());
          return;
        }
        (*preview)->Run(std::move(r), std::move(done));
      });
}

void LetterServiceImpl::SetRoutePreview(
    absl::StatusOr<std::shared_ptr<router::RoutePreview>> preview) {
  std::lock_guard lock(preview_mu_);
  preview_ = std::move(preview);
}

void LetterServiceImpl::Shutdown() {
  std::lock_guard lock(watchers_mu_);
  shutting_down_ = true;
  for (WatchReactor* watcher : watchers_) {
    watcher->End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "server is shutting down; reconnect with your last sequence"));
  }
}

}  // namespace utpost::ledger
