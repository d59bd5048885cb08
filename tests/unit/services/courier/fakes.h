// Test doubles of what the courier calls: a ledger's TaskService (with ReadDocuments and
// RecordTransition), a registry's RegistryLookupService, and a mailbox provider
// (MailboxProviderService, idempotent by letter id as provider.proto asks). In memory,
// served by a real gRPC server on 127.0.0.1:0; each records what it was sent.
#pragma once

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/proto_time.h"
#include "services/courier/courier.h"
#include "services/router/decide.h"
#include "utpost/internal/v1/registry_lookup.grpc.pb.h"
#include "utpost/internal/v1/tasks.grpc.pb.h"
#include "utpost/provider/v1/provider.grpc.pb.h"

namespace utpost::courier {

inline const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

// A ledger's TaskService, in memory. Lease expiry follows the shared FakeClock.
class FakeLedger final : public internal::v1::TaskService::Service {
 public:
  explicit FakeLedger(const common::FakeClock& clock) : clock_(clock) {}

  struct Entry {
    internal::v1::Task task;
    v1::LetterStatus letter_status = v1::LETTER_STATUS_ROUTED;
    std::string provider_id;  // the letter was handed to
    std::vector<std::string> documents;
    absl::Time due;
    std::string lease_token;
    absl::Time lease_expire;
    bool done = false;
    std::optional<internal::v1::CompleteTaskRequest> completion;
  };

  void Add(const std::string& task_id, internal::v1::TaskKind kind, internal::v1::TaskLetter letter,
           std::vector<std::string> documents, v1::LetterStatus status = v1::LETTER_STATUS_ROUTED) {
    std::lock_guard lock(mu_);
    Entry e;
    e.task.set_task_id(task_id);
    e.task.set_kind(kind);
    *e.task.mutable_create_time() = common::ToProto(clock_.Now());
    letter.set_status(status);
    letter.set_document_count(static_cast<uint32_t>(documents.size()));
    *e.task.mutable_letter() = std::move(letter);
    e.letter_status = status;
    e.documents = std::move(documents);
    e.due = clock_.Now();
    order_.push_back(task_id);
    entries_[task_id] = std::move(e);
  }
  void SetCreateTime(const std::string& task_id, absl::Time t) {
    std::lock_guard lock(mu_);
    *entries_.at(task_id).task.mutable_create_time() = common::ToProto(t);
  }
  void SetLetter(const std::string& task_id, v1::LetterStatus status, std::string provider) {
    std::lock_guard lock(mu_);
    entries_.at(task_id).letter_status = status;
    entries_.at(task_id).provider_id = std::move(provider);
  }
  // The next `n` CompleteTask calls answer `code` without changing anything.
  void FailCompletions(grpc::StatusCode code, int n) {
    std::lock_guard lock(mu_);
    completion_failure_ = code;
    completion_failures_left_ = n;
  }
  // The next `n` CompleteTask calls apply, then answer UNAVAILABLE as if the reply was lost.
  void LoseCompletionReplies(int n) {
    std::lock_guard lock(mu_);
    lost_replies_left_ = n;
  }
  // The next `n` RecordTransition calls answer `code`.
  void FailRecords(grpc::StatusCode code, int n) {
    std::lock_guard lock(mu_);
    record_failure_ = code;
    record_failures_left_ = n;
  }

  Entry Get(const std::string& task_id) const {
    std::lock_guard lock(mu_);
    return entries_.at(task_id);
  }
  std::vector<internal::v1::FailTaskRequest> fails() const {
    std::lock_guard lock(mu_);
    return fails_;
  }
  std::vector<internal::v1::RecordTransitionRequest> records() const {
    std::lock_guard lock(mu_);
    return records_;
  }

  grpc::Status LeaseTasks(grpc::ServerContext*, const internal::v1::LeaseTasksRequest* request,
                          internal::v1::LeaseTasksResponse* response) override {
    std::lock_guard lock(mu_);
    const absl::Time now = clock_.Now();
    for (const std::string& id : order_) {
      if (response->tasks_size() >= static_cast<int>(request->max_tasks())) break;
      Entry& e = entries_[id];
      if (e.task.kind() != request->kind()) continue;
      if (e.done || e.due > now || (!e.lease_token.empty() && e.lease_expire > now)) continue;
      e.lease_token = absl::StrCat(id, "#", ++lease_counter_);
      e.lease_expire = now + absl::Seconds(request->lease_for().seconds());
      internal::v1::Task* t = response->add_tasks();
      *t = e.task;
      t->set_lease_token(e.lease_token);
      t->mutable_letter()->set_status(e.letter_status);
      *t->mutable_lease_expire_time() = common::ToProto(e.lease_expire);
    }
    return grpc::Status::OK;
  }

  // CompleteTasks answers UNIMPLEMENTED, as a ledger of an earlier release, until this is
  // called; then each call takes `delay` (real time, so that other completions queue up
  // behind it meanwhile) and applies each completion as CompleteTask does.
  void EnableCompleteTasks(absl::Duration delay) {
    std::lock_guard lock(mu_);
    complete_tasks_ = true;
    complete_tasks_delay_ = delay;
  }
  // Completions per CompleteTasks call answered, in call order.
  std::vector<int> completion_batches() const {
    std::lock_guard lock(mu_);
    return completion_batches_;
  }
  int complete_task_calls() const {
    std::lock_guard lock(mu_);
    return complete_task_calls_;
  }

  grpc::Status CompleteTasks(grpc::ServerContext*,
                             const internal::v1::CompleteTasksRequest* request,
                             internal::v1::CompleteTasksResponse* response) override {
    absl::Duration delay;
    {
      std::lock_guard lock(mu_);
      if (!complete_tasks_) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not here");
      delay = complete_tasks_delay_;
    }
    absl::SleepFor(delay);
    std::lock_guard lock(mu_);
    completion_batches_.push_back(request->completions_size());
    for (const internal::v1::CompleteTaskRequest& completion : request->completions()) {
      internal::v1::CompleteTaskResult* result = response->add_results();
      const grpc::Status status = ApplyLocked(completion, result->mutable_response());
      if (!status.ok()) {
        result->clear_response();
        result->mutable_status()->set_code(static_cast<int>(status.error_code()));
        result->mutable_status()->set_message(status.error_message());
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status CompleteTask(grpc::ServerContext*, const internal::v1::CompleteTaskRequest* request,
                            internal::v1::CompleteTaskResponse* response) override {
    std::lock_guard lock(mu_);
    ++complete_task_calls_;
    if (completion_failures_left_ > 0) {
      --completion_failures_left_;
      return grpc::Status(completion_failure_, "scripted");
    }
    const grpc::Status status = ApplyLocked(*request, response);
    if (status.ok() && lost_replies_left_ > 0) {
      --lost_replies_left_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "reply lost");
    }
    return status;
  }

  grpc::Status ApplyLocked(const internal::v1::CompleteTaskRequest& completion,
                           internal::v1::CompleteTaskResponse* response) {
    const internal::v1::CompleteTaskRequest* request = &completion;
    auto it = entries_.find(request->lease_token().substr(0, request->lease_token().find('#')));
    if (it == entries_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no task");
    Entry& e = it->second;
    if (e.done) return grpc::Status(grpc::StatusCode::NOT_FOUND, "task finished");
    if (e.lease_token != request->lease_token() || e.lease_expire <= clock_.Now()) {
      return grpc::Status(grpc::StatusCode::ABORTED, "stale lease");
    }
    e.done = true;
    e.lease_token.clear();
    if (e.letter_status != request->transition().expected_status()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "letter moved on");
    }
    if (request->transition().status() != v1::LETTER_STATUS_UNSPECIFIED) {
      e.letter_status = request->transition().status();
      e.provider_id = request->transition().provider_id();
    }
    e.completion = *request;
    *response->mutable_letter() = e.task.letter();
    return grpc::Status::OK;
  }

  grpc::Status FailTask(grpc::ServerContext*, const internal::v1::FailTaskRequest* request,
                        internal::v1::FailTaskResponse* response) override {
    std::lock_guard lock(mu_);
    fails_.push_back(*request);
    Entry* e = ByLease(request->lease_token());
    if (e == nullptr) return grpc::Status(grpc::StatusCode::ABORTED, "stale lease");
    e->lease_token.clear();
    e->task.set_attempt(e->task.attempt() + 1);
    e->due = std::max(clock_.Now(), common::FromProto(request->retry_at()));
    response->set_attempt(e->task.attempt());
    return grpc::Status::OK;
  }

  grpc::Status ReadDocuments(
      grpc::ServerContext*, const internal::v1::ReadDocumentsRequest* request,
      grpc::ServerWriter<internal::v1::ReadDocumentsResponse>* writer) override {
    std::vector<std::string> documents;
    {
      std::lock_guard lock(mu_);
      Entry* e = ByLease(request->lease_token());
      if (e == nullptr) return grpc::Status(grpc::StatusCode::ABORTED, "stale lease");
      documents = e->documents;
    }
    constexpr size_t kChunk = 256 << 10;
    for (size_t i = 0; i < documents.size(); ++i) {
      internal::v1::ReadDocumentsResponse header;
      header.mutable_header()->set_index(static_cast<uint32_t>(i));
      header.mutable_header()->set_filename(absl::StrCat("doc", i, ".pdf"));
      header.mutable_header()->set_media_type("application/pdf");
      header.mutable_header()->set_size(documents[i].size());
      if (!writer->Write(header)) return grpc::Status(grpc::StatusCode::CANCELLED, "gone");
      for (size_t off = 0; off < documents[i].size(); off += kChunk) {
        internal::v1::ReadDocumentsResponse chunk;
        chunk.set_chunk(documents[i].substr(off, kChunk));
        if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "gone");
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status RecordTransition(grpc::ServerContext*,
                                const internal::v1::RecordTransitionRequest* request,
                                internal::v1::RecordTransitionResponse*) override {
    std::lock_guard lock(mu_);
    records_.push_back(*request);
    if (record_failures_left_ > 0) {
      --record_failures_left_;
      return grpc::Status(record_failure_, "scripted");
    }
    for (auto& [id, e] : entries_) {
      if (e.task.letter().letter_id() != request->letter_id()) continue;
      if (e.provider_id != request->provider_id()) {
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "not handed to this provider");
      }
      if (e.letter_status != request->transition().expected_status()) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "moved on");
      }
      e.letter_status = request->transition().status();
      return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such letter");
  }

 private:
  Entry* ByLease(const std::string& token) {
    auto it = entries_.find(token.substr(0, token.find('#')));
    if (it == entries_.end()) return nullptr;
    Entry& e = it->second;
    if (!e.done && !token.empty() && e.lease_token == token && e.lease_expire > clock_.Now()) {
      return &e;
    }
    return nullptr;
  }

  const common::FakeClock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;
  uint64_t lease_counter_ = 0;
  grpc::StatusCode completion_failure_ = grpc::StatusCode::OK;
  int completion_failures_left_ = 0;
  int lost_replies_left_ = 0;
  bool complete_tasks_ = false;
  absl::Duration complete_tasks_delay_;
  std::vector<int> completion_batches_;
  int complete_task_calls_ = 0;
  grpc::StatusCode record_failure_ = grpc::StatusCode::OK;
  int record_failures_left_ = 0;
  std::vector<internal::v1::FailTaskRequest> fails_;
  std::vector<internal::v1::RecordTransitionRequest> records_;
};

// A registry's RegistryLookupService: recipients and providers.
class FakeRegistry final : public internal::v1::RegistryLookupService::Service {
 public:
  void Put(const v1::Recipient& recipient, v1::LookupResult result) {
    std::lock_guard lock(mu_);
    entries_[router::RecipientDedupKey(recipient)] = std::move(result);
  }
  void PutProvider(const v1::Provider& provider) {
    std::lock_guard lock(mu_);
    providers_[provider.provider_id()] = provider;
  }
  grpc::Status Lookup(grpc::ServerContext*, const internal::v1::LookupRequest* request,
                      internal::v1::LookupResponse* response) override {
    std::lock_guard lock(mu_);
    for (const v1::RegistryKey& key : request->keys()) {
      v1::LookupResult* out = response->add_results();
      if (key.has_provider_id()) {
        auto it = providers_.find(key.provider_id());
        if (it != providers_.end()) *out->mutable_entry()->mutable_provider() = it->second;
        continue;
      }
      v1::Recipient r;
      if (key.has_person()) *r.mutable_person() = key.person();
      if (key.has_organisation()) *r.mutable_organisation() = key.organisation();
      auto it = entries_.find(router::RecipientDedupKey(r));
      if (it != entries_.end()) *out = it->second;
    }
    return grpc::Status::OK;
  }

 private:
  std::mutex mu_;
  std::map<std::string, v1::LookupResult> entries_;
  std::map<std::string, v1::Provider> providers_;
};

// A mailbox provider. Delivery is idempotent by letter id; receipts are scripted.
class FakeProvider final : public provider::v1::MailboxProviderService::Service {
 public:
  struct Delivered {
    provider::v1::DeliverHeader header;
    std::vector<provider::v1::DocumentStart> documents;
    std::vector<std::string> envelopes;
    std::string provider_id;  // from the call's metadata
    size_t largest_chunk = 0;
  };

  // Every Deliver answers `code` (OK: delivers).
  void Answer(grpc::StatusCode code, std::string message = "scripted") {
    std::lock_guard lock(mu_);
    answer_ = code;
    message_ = std::move(message);
  }
  // Deliver waits until the call is cancelled or its deadline passes.
  void BeSlow() {
    std::lock_guard lock(mu_);
    slow_ = true;
  }
  // Every delivery takes `delay` before it is answered.
  void SetDelay(absl::Duration delay) {
    std::lock_guard lock(mu_);
    delay_ = delay;
  }
  // A receipt; `time` set when given (the provider's time of the read).
  void AddReceipt(const std::string& receipt_id, const std::string& letter_id,
                  provider::v1::ReceiptKind kind = provider::v1::RECEIPT_KIND_READ,
                  std::optional<absl::Time> time = std::nullopt) {
    std::lock_guard lock(mu_);
    provider::v1::Receipt r;
    r.set_receipt_id(receipt_id);
    r.set_letter_id(letter_id);
    r.set_kind(kind);
    if (time) *r.mutable_time() = common::ToProto(*time);
    receipts_.push_back(r);
  }

  int calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int slow_calls_cancelled() const {
    std::lock_guard lock(mu_);
    return slow_cancelled_;
  }
  std::map<std::string, Delivered> mailbox() const {
    std::lock_guard lock(mu_);
    return mailbox_;
  }
  int replays() const {
    std::lock_guard lock(mu_);
    return replays_;
  }
  std::vector<std::string> acknowledged() const {
    std::lock_guard lock(mu_);
    return acknowledged_;
  }
  std::vector<std::string> metadata_provider_ids() const {
    std::lock_guard lock(mu_);
    return metadata_ids_;
  }

  grpc::Status Deliver(grpc::ServerContext* context,
                       grpc::ServerReader<provider::v1::DeliverRequest>* reader,
                       provider::v1::DeliverResponse* response) override {
    Delivered d;
    auto it = context->client_metadata().find(kProviderIdHeader);
    if (it != context->client_metadata().end())
      d.provider_id = std::string(it->second.data(), it->second.size());
    {
      std::lock_guard lock(mu_);
      ++calls_;
      metadata_ids_.push_back(d.provider_id);
    }
    provider::v1::DeliverRequest part;
    while (reader->Read(&part)) {
      if (part.has_header()) {
        d.header = part.header();
      } else if (part.has_document()) {
        d.documents.push_back(part.document());
        d.envelopes.emplace_back();
      } else if (!d.envelopes.empty()) {
        d.largest_chunk = std::max(d.largest_chunk, part.chunk().size());
        d.envelopes.back() += part.chunk();
      }
    }
    bool slow = false;
    grpc::StatusCode answer;
    std::string message;
    absl::Duration delay;
    {
      std::lock_guard lock(mu_);
      slow = slow_;
      answer = answer_;
      message = message_;
      delay = delay_;
    }
    if (delay > absl::ZeroDuration()) absl::SleepFor(delay);
    if (slow) {
      while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      std::lock_guard lock(mu_);
      ++slow_cancelled_;
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    if (answer != grpc::StatusCode::OK) return grpc::Status(answer, message);
    // A stream the client cancelled also ends Read; only a whole letter is taken.
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    if (d.documents.size() != d.header.document_count()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "document count mismatch");
    }
    for (size_t i = 0; i < d.documents.size(); ++i) {
      if (d.documents[i].envelope_size() != d.envelopes[i].size()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "envelope size mismatch");
      }
    }
    std::lock_guard lock(mu_);
    const std::string letter_id = d.header.letter_id();
    if (mailbox_.count(letter_id)) {
      ++replays_;
      response->set_replayed(true);
    } else {
      mailbox_[letter_id] = std::move(d);
    }
    response->set_delivery_id(absl::StrCat("delivery-", letter_id));
    return grpc::Status::OK;
  }

  grpc::Status PullReceipts(grpc::ServerContext*, const provider::v1::PullReceiptsRequest* request,
                            provider::v1::PullReceiptsResponse* response) override {
    std::lock_guard lock(mu_);
    for (const auto& r : receipts_) {
      if (response->receipts_size() >= static_cast<int>(request->max_receipts())) break;
      *response->add_receipts() = r;
    }
    return grpc::Status::OK;
  }

  grpc::Status AcknowledgeReceipts(grpc::ServerContext*,
                                   const provider::v1::AcknowledgeReceiptsRequest* request,
                                   provider::v1::AcknowledgeReceiptsResponse*) override {
    std::lock_guard lock(mu_);
    for (const std::string& id : request->receipt_ids()) {
      acknowledged_.push_back(id);
      std::erase_if(receipts_,
                    [&id](const provider::v1::Receipt& r) { return r.receipt_id() == id; });
    }
    return grpc::Status::OK;
  }

 private:
  mutable std::mutex mu_;
  grpc::StatusCode answer_ = grpc::StatusCode::OK;
  std::string message_;
  bool slow_ = false;
  absl::Duration delay_;
  int calls_ = 0;
  int slow_cancelled_ = 0;
  int replays_ = 0;
  std::map<std::string, Delivered> mailbox_;
  std::vector<provider::v1::Receipt> receipts_;
  std::vector<std::string> acknowledged_;
  std::vector<std::string> metadata_ids_;
};

// A gRPC server on 127.0.0.1:0 serving `service`.
struct Served {
  std::unique_ptr<grpc::Server> server;
  std::string address;
};

inline Served Serve(grpc::Service* service) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service);
  builder.SetMaxReceiveMessageSize(8 << 20);
  Served s;
  s.server = builder.BuildAndStart();
  s.address = absl::StrCat("127.0.0.1:", port);
  return s;
}

// Envelopes for tests that do not look inside: "ENV(" + content + ")".
class PlainEnvelope final : public EnvelopeWriter {
 public:
  explicit PlainEnvelope(std::function<absl::Status(std::string_view)> sink)
      : sink_(std::move(sink)) {
    (void)sink_("ENV(");
  }
  absl::Status Write(std::string_view plaintext) override { return sink_(plaintext); }
  absl::Status Finish() override { return sink_(")"); }

 private:
  std::function<absl::Status(std::string_view)> sink_;
};

inline EnvelopeWriterFactory PlainEnvelopes() {
  return [](std::string_view certificate_pem, std::function<absl::Status(std::string_view)> sink)
             -> absl::StatusOr<std::unique_ptr<EnvelopeWriter>> {
    if (certificate_pem == "unusable") return absl::InvalidArgumentError("not a certificate");
    return std::make_unique<PlainEnvelope>(std::move(sink));
  };
}

inline v1::Recipient Person(const std::string& id) {
  v1::Recipient r;
  r.mutable_person()->set_norwegian_national_id(id);
  return r;
}

inline v1::Provider MakeProvider(const std::string& id, const std::string& endpoint) {
  v1::Provider p;
  p.set_provider_id(id);
  p.set_name(id);
  p.set_endpoint(endpoint);
  p.set_encryption_certificate_pem("pem");
  p.set_max_security_level(v1::SECURITY_LEVEL_HIGH);
  return p;
}

inline v1::LookupResult WithMailbox(const v1::Recipient& r, const v1::Provider& provider) {
  v1::LookupResult out;
  *out.mutable_entry()->mutable_person()->mutable_id() = r.person();
  out.mutable_entry()->mutable_person()->mutable_mailbox()->set_provider_id(provider.provider_id());
  out.mutable_entry()->mutable_person()->mutable_mailbox()->set_address("kari@mbx");
  *out.mutable_provider() = provider;
  return out;
}

inline internal::v1::TaskLetter Letter(const v1::Recipient& to,
                                       v1::ChannelPolicy policy = v1::CHANNEL_POLICY_AUTO) {
  internal::v1::TaskLetter l;
  static std::atomic<int> n{0};
  l.set_letter_id(absl::StrCat("LETTER", ++n));
  l.set_sender("NO958935420");
  l.set_title("Vedtak");
  *l.mutable_recipient() = to;
  l.mutable_options()->set_channel_policy(policy);
  l.set_channel(v1::CHANNEL_DIGITAL_MAILBOX);
  return l;
}

}  // namespace utpost::courier
