// Test doubles of what the print worker calls, in memory, served by a real gRPC server on
// 127.0.0.1:0: a ledger's TaskService (PRINT tasks, ReadDocuments, RecordTransition), a
// registry's RegistryLookupService and a print provider's PrintProviderService that opens
// each batch with the provider's private key.
#pragma once

#include <google/protobuf/util/time_util.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "crypto/cms.h"
#include "utpost/internal/v1/registry_lookup.grpc.pb.h"
#include "utpost/internal/v1/tasks.grpc.pb.h"
#include "utpost/provider/v1/provider.grpc.pb.h"

namespace utpost::print {

using google::protobuf::util::TimeUtil;

class FakeLedger final : public internal::v1::TaskService::Service {
 public:
  explicit FakeLedger(const common::Clock& clock) : clock_(clock) {}

  struct Entry {
    internal::v1::Task task;
    v1::LetterStatus status = v1::LETTER_STATUS_ROUTED;
    std::vector<std::pair<std::string, std::string>> documents;  // filename, content
    std::string lease_token;
    absl::Time lease_expire;
    bool done = false;
    std::optional<internal::v1::Transition> applied;
    std::string provider_id;
    std::vector<internal::v1::Transition> recorded;
  };

  void Add(internal::v1::TaskLetter letter,
           std::vector<std::pair<std::string, std::string>> documents,
           v1::StatusReason reason = v1::STATUS_REASON_NO_MAILBOX) {
    std::lock_guard lock(mu_);
    Entry e;
    e.task.set_task_id(absl::StrCat("task-", letter.letter_id()));
    e.task.set_kind(internal::v1::TASK_KIND_PRINT);
    e.task.set_reason(reason);
    e.status = letter.status();
    letter.set_document_count(static_cast<uint32_t>(documents.size()));
    *e.task.mutable_letter() = std::move(letter);
    e.documents = std::move(documents);
    order_.push_back(e.task.letter().letter_id());
    entries_[e.task.letter().letter_id()] = std::move(e);
  }
  // The next `n` CompleteTask calls answer `code`; with `apply`, after applying.
  void FailCompletions(grpc::StatusCode code, int n, bool apply = false) {
    std::lock_guard lock(mu_);
    completion_failure_ = code;
    completion_failures_left_ = n;
    apply_before_failing_ = apply;
  }
  // Makes every current lease stale (as if it expired and the task was leased again).
  void InvalidateLeases() {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : entries_) e.lease_token = absl::StrCat(e.lease_token, "-stale");
  }
  Entry Get(const std::string& letter_id) const {
    std::lock_guard lock(mu_);
    return entries_.at(letter_id);
  }
  std::vector<internal::v1::CompleteTaskRequest> completions() const {
    std::lock_guard lock(mu_);
    return completions_;
  }
  int fails() const {
    std::lock_guard lock(mu_);
    return fails_;
  }
  int reads() const {
    std::lock_guard lock(mu_);
    return reads_;
  }

  grpc::Status LeaseTasks(grpc::ServerContext*, const internal::v1::LeaseTasksRequest* request,
                          internal::v1::LeaseTasksResponse* response) override {
    std::lock_guard lock(mu_);
    const absl::Time now = clock_.Now();
    for (const std::string& id : order_) {
      if (response->tasks_size() >= static_cast<int>(request->max_tasks())) break;
      Entry& e = entries_[id];
      if (e.done || request->kind() != e.task.kind()) continue;
      if (!e.lease_token.empty() && e.lease_expire > now) continue;
      e.lease_token = absl::StrCat(id, "#", ++leases_);
      e.lease_expire = now + absl::Seconds(TimeUtil::DurationToSeconds(request->lease_for()));
      internal::v1::Task* t = response->add_tasks();
      *t = e.task;
      t->mutable_letter()->set_status(e.status);
      t->set_lease_token(e.lease_token);
    }
    return grpc::Status::OK;
  }

  grpc::Status CompleteTask(grpc::ServerContext*, const internal::v1::CompleteTaskRequest* request,
                            internal::v1::CompleteTaskResponse* response) override {
    std::lock_guard lock(mu_);
    completions_.push_back(*request);
    if (completion_failures_left_ > 0 && !apply_before_failing_) {
      --completion_failures_left_;
      return grpc::Status(completion_failure_, "scripted");
    }
    Entry* e = ByToken(request->lease_token());
    if (e == nullptr) return grpc::Status(grpc::StatusCode::ABORTED, "stale lease");
    const internal::v1::Transition& t = request->transition();
    if (e->done) {
      if (e->applied.has_value() && e->applied->status() == t.status() &&
          e->applied->reason() == t.reason() && t.status() != v1::LETTER_STATUS_UNSPECIFIED) {
        response->set_replayed(true);
        return grpc::Status::OK;
      }
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such task");
    }
    if (e->lease_token != request->lease_token()) {
      return grpc::Status(grpc::StatusCode::ABORTED, "stale lease");
    }
    if (e->status != t.expected_status()) {
      e->done = true;
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "letter moved on");
    }
    e->done = true;
    e->applied = t;
    if (t.status() != v1::LETTER_STATUS_UNSPECIFIED) {
      e->status = t.status();
      e->provider_id = t.provider_id();
    }
    if (completion_failures_left_ > 0) {
      --completion_failures_left_;
      return grpc::Status(completion_failure_, "scripted after applying");
    }
    return grpc::Status::OK;
  }

  grpc::Status FailTask(grpc::ServerContext*, const internal::v1::FailTaskRequest* request,
                        internal::v1::FailTaskResponse*) override {
    std::lock_guard lock(mu_);
    ++fails_;
    Entry* e = ByToken(request->lease_token());
    if (e == nullptr || e->lease_token != request->lease_token()) {
      return grpc::Status(grpc::StatusCode::ABORTED, "stale lease");
    }
    e->lease_token.clear();
    return grpc::Status::OK;
  }

  grpc::Status ReadDocuments(
      grpc::ServerContext*, const internal::v1::ReadDocumentsRequest* request,
      grpc::ServerWriter<internal::v1::ReadDocumentsResponse>* writer) override {
    std::vector<std::pair<std::string, std::string>> documents;
    {
      std::lock_guard lock(mu_);
      ++reads_;
      Entry* e = ByToken(request->lease_token());
      if (e == nullptr || e->done || e->lease_token != request->lease_token()) {
        return grpc::Status(grpc::StatusCode::ABORTED, "stale lease");
      }
      documents = e->documents;
    }
    for (size_t i = 0; i < documents.size(); ++i) {
      internal::v1::ReadDocumentsResponse m;
      m.mutable_header()->set_index(static_cast<uint32_t>(i));
      m.mutable_header()->set_filename(documents[i].first);
      m.mutable_header()->set_media_type("application/pdf");
      m.mutable_header()->set_size(documents[i].second.size());
      writer->Write(m);
      for (size_t at = 0; at < documents[i].second.size(); at += 1000) {
        m.Clear();
        m.set_chunk(documents[i].second.substr(at, 1000));
        writer->Write(m);
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status RecordTransition(grpc::ServerContext*,
                                const internal::v1::RecordTransitionRequest* request,
                                internal::v1::RecordTransitionResponse* response) override {
    std::lock_guard lock(mu_);
    auto it = entries_.find(request->letter_id());
    if (it == entries_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no letter");
    Entry& e = it->second;
    if (e.provider_id != request->provider_id()) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "not handed to that provider");
    }
    const internal::v1::Transition& t = request->transition();
    if (e.status == t.status() && !e.recorded.empty()) {
      response->set_replayed(true);
      return grpc::Status::OK;
    }
    if (e.status != t.expected_status()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "other status");
    }
    e.status = t.status();
    e.recorded.push_back(t);
    return grpc::Status::OK;
  }

 private:
  Entry* ByToken(const std::string& token) {
    std::string id = token.substr(0, token.find('#'));
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
  }

  const common::Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;
  uint64_t leases_ = 0;
  grpc::StatusCode completion_failure_ = grpc::StatusCode::OK;
  int completion_failures_left_ = 0;
  bool apply_before_failing_ = false;
  int fails_ = 0;
  int reads_ = 0;
  std::vector<internal::v1::CompleteTaskRequest> completions_;
};

class FakeRegistry final : public internal::v1::RegistryLookupService::Service {
 public:
  grpc::Status Lookup(grpc::ServerContext*, const internal::v1::LookupRequest* request,
                      internal::v1::LookupResponse* response) override {
    std::lock_guard lock(mu_);
    for (int i = 0; i < request->keys_size(); ++i) {
      v1::LookupResult* r = response->add_results();
      if (request->keys(i).has_person() && address_.has_value()) {
        *r->mutable_entry()->mutable_person()->mutable_id() = request->keys(i).person();
        *r->mutable_entry()->mutable_person()->mutable_postal_address() = *address_;
      }
    }
    ++calls_;
    return grpc::Status::OK;
  }
  void SetAddress(v1::PostalAddress a) {
    std::lock_guard lock(mu_);
    address_ = std::move(a);
  }
  int calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  mutable std::mutex mu_;
  std::optional<v1::PostalAddress> address_;
  int calls_ = 0;
};

// Opens each submitted batch with the provider's key; answers GetBatch with `state`.
class FakePrintProvider final : public provider::v1::PrintProviderService::Service {
 public:
  explicit FakePrintProvider(std::string key_pem) : key_pem_(std::move(key_pem)) {}

  grpc::Status SubmitBatch(grpc::ServerContext* context,
                           grpc::ServerReader<provider::v1::SubmitBatchRequest>* reader,
                           provider::v1::SubmitBatchResponse* response) override {
    provider::v1::SubmitBatchRequest m;
    std::string batch_id;
    std::string envelope;
    while (reader->Read(&m)) {
      if (m.has_header()) batch_id = m.header().batch_id();
      if (m.part_case() == provider::v1::SubmitBatchRequest::kChunk) envelope += m.chunk();
    }
    std::lock_guard lock(mu_);
    auto md = context->client_metadata().find("utpost-provider-id");
    provider_ids_.push_back(md == context->client_metadata().end()
                                ? std::string()
                                : std::string(md->second.data(), md->second.size()));
    if (refuse_) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unreadable batch");
    if (batches_.count(batch_id)) {
      response->set_replayed(true);
      return grpc::Status::OK;
    }
    provider::v1::SpoolBatch batch;
    std::optional<std::string> plain = Decrypt(envelope);
    if (!plain.has_value() || !batch.ParseFromString(*plain)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "cannot decrypt");
    }
    batches_[batch_id] = std::move(batch);
    envelopes_.push_back(envelope);
    return grpc::Status::OK;
  }

  grpc::Status GetBatch(grpc::ServerContext*, const provider::v1::GetBatchRequest* request,
                        provider::v1::GetBatchResponse* response) override {
    std::lock_guard lock(mu_);
    ++polls_;
    if (!batches_.count(request->batch_id())) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no batch");
    }
    response->set_state(state_);
    if (state_ == provider::v1::BATCH_STATE_REJECTED) response->set_detail("paper jam");
    return grpc::Status::OK;
  }

  void SetState(provider::v1::BatchState s) {
    std::lock_guard lock(mu_);
    state_ = s;
  }
  void Refuse() {
    std::lock_guard lock(mu_);
    refuse_ = true;
  }
  std::map<std::string, provider::v1::SpoolBatch> batches() const {
    std::lock_guard lock(mu_);
    return batches_;
  }
  std::vector<std::string> provider_ids() const {
    std::lock_guard lock(mu_);
    return provider_ids_;
  }
  int polls() const {
    std::lock_guard lock(mu_);
    return polls_;
  }

 private:
  std::optional<std::string> Decrypt(const std::string& der) {
    absl::StatusOr<std::string> plain = crypto::CmsDecrypt(key_pem_, der);
    if (!plain.ok()) return std::nullopt;
    return *std::move(plain);
  }

  const std::string key_pem_;
  mutable std::mutex mu_;
  provider::v1::BatchState state_ = provider::v1::BATCH_STATE_RECEIVED;
  bool refuse_ = false;
  int polls_ = 0;
  std::map<std::string, provider::v1::SpoolBatch> batches_;
  std::vector<std::string> envelopes_;
  std::vector<std::string> provider_ids_;
};

}  // namespace utpost::print
