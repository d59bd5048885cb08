#include "services/ledger/letter_service.h"

#include "absl/strings/str_cat.h"
#include "services/common/grpc_status.h"
#include "services/common/log.h"

namespace utpost::ledger {
namespace {

// Events per stream message.
constexpr size_t kWatchBatch = 256;

const grpc::Status kAtCapacity(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               "server is at capacity; retry with backoff");

// Errors that are the server's, not the caller's, are logged here, once; the caller's own
// mistakes are answered, not logged.
void LogServerError(const char* method, const std::string& sender, const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnknown:
      service::Log(spdlog::level::err, "request failed",
                   {{"method", method}, {"organisation", sender}, {"error", status.ToString()}});
      break;
    case absl::StatusCode::kUnavailable:
      service::Log(spdlog::level::warn, "request failed, retryable",
                   {{"method", method}, {"organisation", sender}, {"error", status.ToString()}});
      break;
    default:
      break;
  }
}

}  // namespace

// Streams a sender's feed. State machine: at most one read (on the executor) or one write
// (in gRPC) at a time; a feed advance during either sets `more_` so nothing is missed.
// Deleted in OnDone, or by the read that is still running at that moment.
class WatchReactor final : public grpc::ServerWriteReactor<v1::WatchLetterEventsResponse> {
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
    lock.unlock();
    if (!service_.executor_.TrySubmit([this] { Read(); })) {
      lock.lock();
      reading_ = false;
      FinishLocked(kAtCapacity);
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
    std::unique_lock lock(mu_);
    done_ = true;
    if (reading_) return;  // Read() deletes us when it returns
    lock.unlock();
    delete this;
  }

 private:
  void Read() {
    absl::StatusOr<std::vector<v1::LetterEvent>> events =
        service_.ledger_.ReadEvents(sender_, cursor_, kWatchBatch);
    std::unique_lock lock(mu_);
    reading_ = false;
    if (done_) {
      lock.unlock();
      delete this;
      return;
    }
    if (!events.ok()) {
      FinishLocked(service::ToGrpcStatus(events.status()));
      return;
    }
    if (events->empty()) {
      if (more_) {
        lock.unlock();
        Pump();
      }
      return;  // idle until the feed advances
    }
    response_.Clear();
    for (auto& event : *events) *response_.add_events() = std::move(event);
    cursor_ = response_.events(response_.events_size() - 1).sequence();
    if (finished_) return;
    writing_ = true;
    StartWrite(&response_);
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
  uint64_t cursor_;
  bool reading_ = false;
  bool writing_ = false;
  bool more_ = false;
  bool finished_ = false;
  bool done_ = false;
  std::optional<grpc::Status> pending_finish_;
  v1::WatchLetterEventsResponse response_;
};

LetterServiceImpl::LetterServiceImpl(Ledger& ledger, const service::Authenticator& authenticator,
                                     service::BoundedExecutor& executor)
    : ledger_(ledger), authenticator_(authenticator), executor_(executor) {}

LetterServiceImpl::~LetterServiceImpl() = default;

template <typename Request, typename Response, typename Work>
grpc::ServerUnaryReactor* LetterServiceImpl::Run(const char* method,
                                                 grpc::CallbackServerContext* context,
                                                 const Request* request, Response* response,
                                                 uint64_t cost_bytes, Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<std::string> sender = authenticator_.CallerOrg(*context);
  if (!sender.ok()) {
    reactor->Finish(service::ToGrpcStatus(sender.status()));
    return reactor;
  }
  // Admission, fair first: no organisation may hold more than its share of the workers, so a
  // retry storm from one case system cannot starve the others.
  if (!AdmitOrganisation(*sender)) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "too many requests of this organisation in progress; retry "
                                 "with backoff"));
    return reactor;
  }
  // Then bound the document bytes held by requests in progress. A letter larger than the whole
  // budget is still admitted when nothing else is in flight.
  const uint64_t before = inflight_bytes_.fetch_add(cost_bytes);
  if (before > 0 && before + cost_bytes > ledger_.config().max_inflight_bytes) {
    inflight_bytes_.fetch_sub(cost_bytes);
    ReleaseOrganisation(*sender);
    reactor->Finish(kAtCapacity);
    return reactor;
  }
  const bool queued = executor_.TrySubmit(
      [this, method, context, request, response, reactor, cost_bytes, work, sender = *sender] {
        absl::Status status;
        if (context->IsCancelled()) {
          status = absl::CancelledError("the caller went away");
        } else {
          auto result = work(sender, *request);
          status = result.status();
          if (result.ok()) *response = std::move(*result);
        }
        inflight_bytes_.fetch_sub(cost_bytes);
        ReleaseOrganisation(sender);
        LogServerError(method, sender, status);
        reactor->Finish(service::ToGrpcStatus(status));
      });
  if (!queued) {
    inflight_bytes_.fetch_sub(cost_bytes);
    ReleaseOrganisation(*sender);
    reactor->Finish(kAtCapacity);
  }
  return reactor;
}

grpc::ServerUnaryReactor* LetterServiceImpl::SendLetter(grpc::CallbackServerContext* context,
                                                        const v1::SendLetterRequest* request,
                                                        v1::SendLetterResponse* response) {
  uint64_t cost = 0;
  for (const auto& document : request->documents()) cost += document.content().size();
  // A letter whose caller went away before its work started is skipped: nothing was stored,
  // and a retry creates it. Once started, it completes; a retry with the same idempotency key
  // then replays it.
  return Run("SendLetter", context, request, response, cost,
             [this](const std::string& sender, const v1::SendLetterRequest& r) {
               return ledger_.SendLetter(sender, r);
             });
}

grpc::ServerUnaryReactor* LetterServiceImpl::GetLetter(grpc::CallbackServerContext* context,
                                                       const v1::GetLetterRequest* request,
                                                       v1::GetLetterResponse* response) {
  return Run("GetLetter", context, request, response, 0,
             [this](const std::string& sender, const v1::GetLetterRequest& r) {
               return ledger_.GetLetter(sender, r);
             });
}

grpc::ServerUnaryReactor* LetterServiceImpl::ListLetters(grpc::CallbackServerContext* context,
                                                         const v1::ListLettersRequest* request,
                                                         v1::ListLettersResponse* response) {
  return Run("ListLetters", context, request, response, 0,
             [this](const std::string& sender, const v1::ListLettersRequest& r) {
               return ledger_.ListLetters(sender, r);
             });
}

grpc::ServerUnaryReactor* LetterServiceImpl::CancelLetter(grpc::CallbackServerContext* context,
                                                          const v1::CancelLetterRequest* request,
                                                          v1::CancelLetterResponse* response) {
  return Run("CancelLetter", context, request, response, 0,
             [this](const std::string& sender, const v1::CancelLetterRequest& r) {
               return ledger_.CancelLetter(sender, r);
             });
}

grpc::ServerWriteReactor<v1::WatchLetterEventsResponse>* LetterServiceImpl::WatchLetterEvents(
    grpc::CallbackServerContext* context, const v1::WatchLetterEventsRequest* request) {
  absl::StatusOr<std::string> sender = authenticator_.CallerOrg(*context);
  grpc::Status refusal;
  if (!sender.ok()) {
    refusal = service::ToGrpcStatus(sender.status());
  } else if (request->after_sequence() > ledger_.feed().Watermark()) {
    refusal =
        service::ToGrpcStatus(ledger_.ReadEvents(*sender, request->after_sequence(), 1).status());
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
    class Refused final : public grpc::ServerWriteReactor<v1::WatchLetterEventsResponse> {
     public:
      explicit Refused(const grpc::Status& status) { Finish(status); }
      void OnDone() override { delete this; }
    };
    return new Refused(refusal);
  }
  auto* reactor = new WatchReactor(*this, *sender, request->after_sequence());
  watchers_.insert(reactor);
  ++watchers_per_org_[*sender];
  return reactor;
}

bool LetterServiceImpl::AdmitOrganisation(const std::string& sender) {
  std::lock_guard lock(admission_mu_);
  int& inflight = inflight_per_org_[sender];
  if (inflight >= ledger_.config().max_inflight_per_organisation) return false;
  ++inflight;
  return true;
}

void LetterServiceImpl::ReleaseOrganisation(const std::string& sender) {
  std::lock_guard lock(admission_mu_);
  auto it = inflight_per_org_.find(sender);
  if (it != inflight_per_org_.end() && --it->second == 0) inflight_per_org_.erase(it);
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
