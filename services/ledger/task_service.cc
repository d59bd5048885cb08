#include "services/ledger/task_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "crypto/secret.h"
#include "google/rpc/status.pb.h"
#include "services/ledger/task_validation.h"

namespace utpost::ledger {
namespace {

service::RequestLimits Limits(uint64_t max_bytes) {
  service::RequestLimits r;
  r.max_bytes = max_bytes;
  r.wire.max_repeated = 16;
  r.wire.max_unknown_fields = 16;
  return r;
}

service::RequestLimits CompleteLimits() {
  service::RequestLimits r = Limits(TaskServiceImpl::kMaxCompleteRequestBytes);
  // Counted on the wire, before a single NextTask object is built.
  r.wire.repeated[internal::v1::CompleteTaskRequest::descriptor()->FindFieldByName("next_tasks")] =
      {kMaxNextTasks, "next_tasks"};
  return r;
}

service::RequestLimits CompleteTasksLimits() {
  service::RequestLimits r = Limits(TaskServiceImpl::kMaxCompleteTasksRequestBytes);
  r.wire.repeated[internal::v1::CompleteTasksRequest::descriptor()->FindFieldByName(
      "completions")] = {Ledger::kMaxCompletions, "completions"};
  // Summed over the completions; each one's own limit is checked with it.
  r.wire.repeated[internal::v1::CompleteTaskRequest::descriptor()->FindFieldByName("next_tasks")] =
      {static_cast<int64_t>(Ledger::kMaxCompletions) * kMaxNextTasks, "next_tasks"};
  return r;
}

// One completion's outcome as CompleteTasks answers it: the status as CompleteTask's call
// would have ended (code, message, details), and the response when it is OK.
internal::v1::CompleteTaskResult ToResult(
    std::string_view caller, absl::StatusOr<internal::v1::CompleteTaskResponse> outcome) {
  internal::v1::CompleteTaskResult result;
  if (outcome.ok()) {
    *result.mutable_response() = *std::move(outcome);
    return result;
  }
  const grpc::Status status = service::Reply("CompleteTasks", caller, outcome.status());
  google::rpc::Status* out = result.mutable_status();
  if (!status.error_details().empty()) out->ParseFromString(status.error_details());
  out->set_code(static_cast<int>(status.error_code()));
  out->set_message(status.error_message());
  return result;
}

// A stream that is refused before it starts: finishes at once and deletes itself.
class RefusedRead final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RefusedRead(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

// One ReadDocuments stream. At most one step is in progress at a time: opening a document on
// the executor (the lease checked again, the document decrypted), or one write in gRPC. The
// next chunk is cut only when the previous write is done, so a slow reader holds the stream
// at one document and one chunk: gRPC's flow control, not the server's memory, absorbs it.
// Owned jointly by gRPC (until OnDone) and by the step on the executor, if any: whichever lets
// go last deletes it.
class DocumentReadReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  DocumentReadReactor(TaskServiceImpl& service, std::string caller,
                      internal::v1::ReadDocumentsRequest request)
      : service_(service), caller_(std::move(caller)), request_(std::move(request)) {}

  ~DocumentReadReactor() override { crypto::Wipe(document_); }

  // Starts the first step; call once, after the service has registered the stream.
  void Start() { SubmitLoad(); }

  // Ends the stream (shutdown, cancellation). Safe to call more than once.
  void End(const grpc::Status& status) {
    std::lock_guard lock(mu_);
    FinishLocked(status);
  }

  void OnWriteDone(bool ok) override {
    bool load = false;
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
      if (finished_) return;
      if (offset_ < document_.size()) {
        const size_t n = std::min(TaskServiceImpl::kMaxChunkBytes, document_.size() - offset_);
        internal::v1::ReadDocumentsResponse response;
        response.set_chunk(document_.data() + offset_, n);
        offset_ += n;
        // The letter's last chunk goes out with the stream's OK status, in one operation.
        const bool last =
            offset_ == document_.size() && position_ + 1 >= documents_.documents.size();
        WriteLocked(response, last ? Write::kLast : Write::kFlush);
        crypto::Wipe(*response.mutable_chunk());
        return;
      }
      crypto::Wipe(document_);
      document_.clear();
      offset_ = 0;
      ++position_;
      if (position_ >= documents_.documents.size()) {
        FinishLocked(grpc::Status::OK);
        return;
      }
      load = true;
    }
    if (load) SubmitLoad();
  }

  void OnCancel() override { End(grpc::Status::CANCELLED); }

  void OnDone() override {
    {
      std::lock_guard lock(service_.readers_mu_);
      service_.readers_.erase(this);
    }
    Unref();  // gRPC's reference
  }

 private:
  void SubmitLoad() {
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      ++refs_;  // the step's reference
    }
    if (!service_.executor_.TrySubmit([this] { Load(); })) {
      End(service::kAtCapacity);
      Unref();
    }
  }

  // On the executor: the lease checked (and, first, the documents listed), then the next
  // document opened and its header written.
  void Load() {
    absl::Status status;
    std::string document;
    bool opened;
    uint32_t position;
    {
      std::lock_guard lock(mu_);
      opened = opened_;
      position = static_cast<uint32_t>(position_);
    }
    if (!opened) {
      absl::StatusOr<Ledger::TaskDocuments> documents =
          service_.ledger_.OpenTaskDocuments(request_);
      status = documents.status();
      if (status.ok()) {
        std::lock_guard lock(mu_);
        documents_ = *std::move(documents);
        opened_ = true;
      }
    }
    if (status.ok() && position < documents_.documents.size()) {
      absl::StatusOr<std::string> read =
          service_.ledger_.ReadTaskDocument(documents_.token, position);
      status = read.status();
      if (status.ok()) {
        document = *std::move(read);
        if (document.size() != documents_.documents[position].size_bytes()) {
          status = absl::DataLossError(absl::StrCat(
              "document ", position, " of letter ", documents_.letter_id, " is ", document.size(),
              " bytes; its metadata says ", documents_.documents[position].size_bytes()));
        }
      }
    }
    {
      std::lock_guard lock(mu_);
      if (!status.ok()) {
        FinishLocked(service::Reply("ReadDocuments", caller_, status));
      } else if (position >= documents_.documents.size()) {
        FinishLocked(grpc::Status::OK);  // a letter without documents
      } else if (!finished_) {
        const storage::v1::DocumentMeta& meta = documents_.documents[position];
        internal::v1::ReadDocumentsResponse response;
        internal::v1::DocumentHeader* header = response.mutable_header();
        header->set_index(position);
        header->set_filename(meta.filename());
        header->set_media_type(meta.media_type());
        header->set_size(meta.size_bytes());
        document_ = std::move(document);
        offset_ = 0;
        // Not held back for the first chunk (WriteOptions::set_buffer_hint): a buffered
        // write's OnWriteDone may wait for the next flush, which only OnWriteDone starts.
        WriteLocked(response, Write::kFlush);
      }
    }
    crypto::Wipe(document);
    Unref();
  }

  enum class Write {
    kFlush,  // sent now
    kLast,   // sent now with the stream's OK status: no OnWriteDone follows
  };

  void WriteLocked(const internal::v1::ReadDocumentsResponse& response, Write how) {
    buffer_.Clear();
    if (absl::Status s = service::SerializeResponse(response, buffer_); !s.ok()) {
      FinishLocked(service::Reply("ReadDocuments", caller_, s));
      return;
    }
    if (how == Write::kLast) {
      finished_ = true;
      crypto::Wipe(document_);
      document_.clear();
      StartWriteAndFinish(&buffer_, grpc::WriteOptions(), grpc::Status::OK);
      return;
    }
    writing_ = true;
    StartWrite(&buffer_);
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    if (writing_) {
      // Finished after the write in flight completes.
      if (!pending_finish_) pending_finish_ = status;
      return;
    }
    finished_ = true;
    crypto::Wipe(document_);
    document_.clear();
    Finish(status);
  }

  void Unref() {
    bool last;
    {
      std::lock_guard lock(mu_);
      last = --refs_ == 0;
    }
    if (last) delete this;
  }

  TaskServiceImpl& service_;
  const std::string caller_;
  const internal::v1::ReadDocumentsRequest request_;
  std::mutex mu_;
  int refs_ = 1;  // gRPC's, until OnDone
  bool opened_ = false;
  Ledger::TaskDocuments documents_;  // written once, before opened_ is set
  size_t position_ = 0;              // the document being sent
  std::string document_;             // its content, opened (personal data: wiped when done)
  size_t offset_ = 0;                // bytes of it sent
  bool writing_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> pending_finish_;
  grpc::ByteBuffer buffer_;
};

TaskServiceImpl::TaskServiceImpl(Ledger& ledger, const service::Authenticator& authenticator,
                                 service::BoundedExecutor& executor)
    : ledger_(ledger),
      executor_(executor),
      admission_(service::AdmissionLimits{ledger.config().max_inflight_per_organisation,
                                          ledger.config().max_inflight_bytes}),
      core_{authenticator, admission_, executor, service::Audience::kComponents},
      lease_limits_(Limits(kMaxLeaseRequestBytes)),
      complete_limits_(CompleteLimits()),
      complete_tasks_limits_(CompleteTasksLimits()),
      fail_limits_(Limits(kMaxFailRequestBytes)),
      read_limits_(Limits(kMaxReadRequestBytes)),
      record_limits_(Limits(kMaxRecordRequestBytes)) {}

grpc::ServerUnaryReactor* TaskServiceImpl::LeaseTasks(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return service::ServeUnary<internal::v1::LeaseTasksRequest>(
      core_, "LeaseTasks", context, request, response, lease_limits_,
      [this](const std::string&, const internal::v1::LeaseTasksRequest& r) {
        return ledger_.LeaseTasks(r);
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::CompleteTask(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* response) {
  return service::ServeUnary<internal::v1::CompleteTaskRequest>(
      core_, "CompleteTask", context, request, response, complete_limits_,
      [this](const std::string&, const internal::v1::CompleteTaskRequest& r) {
        return ledger_.CompleteTask(r);
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::CompleteTasks(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* request,
                                                         grpc::ByteBuffer* response) {
  return service::ServeUnary<internal::v1::CompleteTasksRequest>(
      core_, "CompleteTasks", context, request, response, complete_tasks_limits_,
      [this](const std::string& caller, const internal::v1::CompleteTasksRequest& r)
          -> absl::StatusOr<internal::v1::CompleteTasksResponse> {
        UTPOST_ASSIGN_OR_RETURN(auto outcomes, ledger_.CompleteTasks(r));
        internal::v1::CompleteTasksResponse answer;
        answer.mutable_results()->Reserve(static_cast<int>(outcomes.size()));
        for (auto& outcome : outcomes) *answer.add_results() = ToResult(caller, std::move(outcome));
        return answer;
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::FailTask(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return service::ServeUnary<internal::v1::FailTaskRequest>(
      core_, "FailTask", context, request, response, fail_limits_,
      [this](const std::string&, const internal::v1::FailTaskRequest& r) {
        return ledger_.FailTask(r);
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::RecordTransition(grpc::CallbackServerContext* context,
                                                            const grpc::ByteBuffer* request,
                                                            grpc::ByteBuffer* response) {
  return service::ServeUnary<internal::v1::RecordTransitionRequest>(
      core_, "RecordTransition", context, request, response, record_limits_,
      [this](const std::string&, const internal::v1::RecordTransitionRequest& r) {
        return ledger_.RecordTransition(r);
      });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* TaskServiceImpl::ReadDocuments(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) {
  absl::StatusOr<std::string> caller =
      core_.authenticator.Authorize(*context, service::Audience::kComponents);
  if (!caller.ok()) return new RefusedRead(common::ToGrpcStatus(caller.status()));
  internal::v1::ReadDocumentsRequest request;
  if (absl::Status parsed = service::ParseRequest(*raw_request, request, read_limits_);
      !parsed.ok()) {
    return new RefusedRead(common::ToGrpcStatus(parsed));
  }
  DocumentReadReactor* reactor;
  {
    std::lock_guard lock(readers_mu_);
    if (shutting_down_) {
      return new RefusedRead(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
    }
    const int limit = ledger_.config().max_document_reads;
    if (static_cast<int>(readers_.size()) >= limit) {
      return new RefusedRead(
          grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                       absl::StrCat(limit, " document reads are in progress; retry with backoff")));
    }
    reactor = new DocumentReadReactor(*this, *std::move(caller), std::move(request));
    readers_.insert(reactor);
  }
  reactor->Start();
  return reactor;
}

void TaskServiceImpl::Shutdown() {
  std::lock_guard lock(readers_mu_);
  shutting_down_ = true;
  for (DocumentReadReactor* reader : readers_) {
    reader->End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                             "server is shutting down; read the documents again later"));
  }
}

int TaskServiceImpl::open_document_reads() const {
  std::lock_guard lock(readers_mu_);
  return static_cast<int>(readers_.size());
}

}  // namespace utpost::ledger
