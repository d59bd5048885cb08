// Test doubles of the components the router calls: a ledger's TaskService and a registry's
// RegistryLookupService, in memory, served by a real gRPC server on 127.0.0.1:0. They record
// every call, so a test sees what the router sent. Test helpers build letters and entries.
#pragma once

#include <google/protobuf/util/time_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

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
#include "absl/time/time.h"
#include "common/clock.h"
#include "services/router/decide.h"
#include "utpost/internal/v1/registry_lookup.grpc.pb.h"
#include "utpost/internal/v1/tasks.grpc.pb.h"

namespace utpost::router {

using google::protobuf::util::TimeUtil;

inline const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

inline absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
}

// True if the call carries a deadline within the next minute.
inline bool HasDeadline(const grpc::ServerContext* context) {
  auto deadline = context->deadline();
  return deadline < std::chrono::system_clock::now() + std::chrono::minutes(1);
}

// A ledger's TaskService, in memory. Due times and lease expiry follow the shared FakeClock.
class FakeLedger final : public internal::v1::TaskService::Service {
 public:
  explicit FakeLedger(const common::FakeClock& clock) : clock_(clock) {}

  struct Entry {
    internal::v1::Task task;  // lease fields filled when leased
    v1::LetterStatus letter_status = v1::LETTER_STATUS_ACCEPTED;
    absl::Time due;
    std::string lease_token;  // current lease; empty when none
    absl::Time lease_expire;
    bool done = false;
    std::optional<internal::v1::CompleteTaskRequest> completion;
  };

  void Add(const std::string& task_id, internal::v1::TaskLetter letter, uint32_t attempt = 0,
           internal::v1::TaskKind kind = internal::v1::TASK_KIND_ROUTE) {
    std::lock_guard lock(mu_);
    Entry e;
    e.task.set_task_id(task_id);
    e.task.set_kind(kind);
    e.task.set_attempt(attempt);
    letter.set_status(v1::LETTER_STATUS_ACCEPTED);
    *e.task.mutable_letter() = std::move(letter);
    e.due = clock_.Now();
    order_.push_back(task_id);
    entries_[task_id] = std::move(e);
  }

  void SetLetterStatus(const std::string& task_id, v1::LetterStatus status) {
    std::lock_guard lock(mu_);
    entries_.at(task_id).letter_status = status;
  }
  // The next `n` CompleteTask calls answer `code` without changing anything.
  void FailCompletions(grpc::StatusCode code, int n) {
    std::lock_guard lock(mu_);
    completion_failure_ = code;
    completion_failures_left_ = n;
  }
  // LeaseTasks waits until the call is cancelled or its deadline passes.
  void BlockLeases() {
    std::lock_guard lock(mu_);
    block_leases_ = true;
  }
  bool lease_was_cancelled() const {
    std::lock_guard lock(mu_);
    return lease_was_cancelled_;
  }
  int blocked_leases() const {
    std::lock_guard lock(mu_);
    return blocked_leases_;
  }

  Entry Get(const std::string& task_id) const {
    std::lock_guard lock(mu_);
    return entries_.at(task_id);
  }
  std::vector<internal::v1::LeaseTasksRequest> leases() const {
    std::lock_guard lock(mu_);
    return leases_;
  }
  std::vector<internal::v1::CompleteTaskRequest> completions() const {
    std::lock_guard lock(mu_);
    return completions_;
  }
  std::vector<internal::v1::FailTaskRequest> fails() const {
    std::lock_guard lock(mu_);
    return fails_;
  }
  int calls_without_deadline() const {
    std::lock_guard lock(mu_);
    return calls_without_deadline_;
  }
  int done() const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& [id, e] : entries_) n += e.done ? 1 : 0;
    return n;
  }

  grpc::Status LeaseTasks(grpc::ServerContext* context,
                          const internal::v1::LeaseTasksRequest* request,
                          internal::v1::LeaseTasksResponse* response) override {
    std::unique_lock lock(mu_);
    if (!HasDeadline(context)) ++calls_without_deadline_;
    leases_.push_back(*request);
    if (block_leases_) {
      ++blocked_leases_;
      lock.unlock();
      while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      lock.lock();
      lease_was_cancelled_ = true;
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    const absl::Time now = clock_.Now();
    for (const std::string& id : order_) {
      if (response->tasks_size() >= static_cast<int>(request->max_tasks())) break;
      Entry& e = entries_[id];
      if (e.done || e.due > now || (!e.lease_token.empty() && e.lease_expire > now)) continue;
      e.lease_token = absl::StrCat(id, "#", ++lease_counter_);
      e.lease_expire =
          now + absl::Nanoseconds(TimeUtil::DurationToNanoseconds(request->lease_for()));
      internal::v1::Task* t = response->add_tasks();
      *t = e.task;
      t->set_lease_token(e.lease_token);
      *t->mutable_lease_expire_time() =
          TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(e.lease_expire));
    }
    return grpc::Status::OK;
  }

  grpc::Status CompleteTask(grpc::ServerContext* context,
                            const internal::v1::CompleteTaskRequest* request,
                            internal::v1::CompleteTaskResponse* response) override {
    std::lock_guard lock(mu_);
    if (!HasDeadline(context)) ++calls_without_deadline_;
    completions_.push_back(*request);
    if (completion_failures_left_ > 0) {
      --completion_failures_left_;
      return grpc::Status(completion_failure_, "scripted");
    }
    Entry* e = ByLease(request->lease_token());
    if (e == nullptr) return grpc::Status(grpc::StatusCode::ABORTED, "stale lease");
    if (e->letter_status != request->transition().expected_status()) {
      e->done = true;
      e->lease_token.clear();
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "letter moved on");
    }
    e->done = true;
    e->lease_token.clear();
    e->letter_status = request->transition().status();
    e->completion = *request;
    *response->mutable_letter() = e->task.letter();
    return grpc::Status::OK;
  }

  grpc::Status FailTask(grpc::ServerContext* context, const internal::v1::FailTaskRequest* request,
                        internal::v1::FailTaskResponse* response) override {
    std::lock_guard lock(mu_);
    if (!HasDeadline(context)) ++calls_without_deadline_;
    fails_.push_back(*request);
    Entry* e = ByLease(request->lease_token());
    if (e == nullptr) return grpc::Status(grpc::StatusCode::ABORTED, "stale lease");
    e->lease_token.clear();
    e->task.set_attempt(e->task.attempt() + 1);
    e->due = std::max(clock_.Now(), FromProto(request->retry_at()));
    response->set_attempt(e->task.attempt());
    *response->mutable_due_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(e->due));
    return grpc::Status::OK;
  }

 private:
  // Tokens are "<task_id>#<n>".
  Entry* ByLease(const std::string& token) {
    const absl::Time now = clock_.Now();
    auto it = entries_.find(token.substr(0, token.find('#')));
    if (it == entries_.end()) return nullptr;
    Entry& e = it->second;
    if (!e.done && !token.empty() && e.lease_token == token && e.lease_expire > now) return &e;
    return nullptr;
  }

  const common::FakeClock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;
  uint64_t lease_counter_ = 0;
  grpc::StatusCode completion_failure_ = grpc::StatusCode::OK;
  int completion_failures_left_ = 0;
  bool block_leases_ = false;
  bool lease_was_cancelled_ = false;
  int blocked_leases_ = 0;
  int calls_without_deadline_ = 0;
  std::vector<internal::v1::LeaseTasksRequest> leases_;
  std::vector<internal::v1::CompleteTaskRequest> completions_;
  std::vector<internal::v1::FailTaskRequest> fails_;
};

// A registry's RegistryLookupService, in memory.
class FakeRegistry final : public internal::v1::RegistryLookupService::Service {
 public:
  void Put(const v1::Recipient& recipient, v1::LookupResult result) {
    std::lock_guard lock(mu_);
    entries_[RecipientDedupKey(recipient)] = std::move(result);
  }
  // The next `n` Lookup calls answer `code`.
  void FailLookups(grpc::StatusCode code, int n) {
    std::lock_guard lock(mu_);
    failure_ = code;
    failures_left_ = n;
  }
  // Keys naming this recipient are refused with INVALID_ARGUMENT.
  void RefuseKey(const v1::Recipient& recipient) {
    std::lock_guard lock(mu_);
    refused_.insert(RecipientDedupKey(recipient));
  }
  // Answer every Lookup with one result too few.
  void DropLastResult() {
    std::lock_guard lock(mu_);
    drop_last_ = true;
  }
  // Answers for this recipient are about `other` instead.
  void Misanswer(const v1::Recipient& recipient, v1::LookupResult other) {
    std::lock_guard lock(mu_);
    misanswers_[RecipientDedupKey(recipient)] = std::move(other);
  }

  std::vector<internal::v1::LookupRequest> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int calls_without_deadline() const {
    std::lock_guard lock(mu_);
    return calls_without_deadline_;
  }

  grpc::Status Lookup(grpc::ServerContext* context, const internal::v1::LookupRequest* request,
                      internal::v1::LookupResponse* response) override {
    std::lock_guard lock(mu_);
    if (!HasDeadline(context)) ++calls_without_deadline_;
    calls_.push_back(*request);
    if (failures_left_ > 0) {
      --failures_left_;
      return grpc::Status(failure_, "scripted");
    }
    for (const v1::RegistryKey& key : request->keys()) {
      v1::Recipient r;
      if (key.has_person()) *r.mutable_person() = key.person();
      if (key.has_organisation()) *r.mutable_organisation() = key.organisation();
      std::string k = RecipientDedupKey(r);
      if (refused_.count(k)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad key");
      if (misanswers_.count(k)) {
        *response->add_results() = misanswers_[k];
      } else if (entries_.count(k)) {
        *response->add_results() = entries_[k];
      } else {
        response->add_results();
      }
    }
    if (drop_last_ && response->results_size() > 0) response->mutable_results()->RemoveLast();
    return grpc::Status::OK;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, v1::LookupResult> entries_;
  std::map<std::string, v1::LookupResult> misanswers_;
  std::set<std::string> refused_;
  grpc::StatusCode failure_ = grpc::StatusCode::OK;
  int failures_left_ = 0;
  bool drop_last_ = false;
  int calls_without_deadline_ = 0;
  std::vector<internal::v1::LookupRequest> calls_;
};

inline v1::Recipient Person(const std::string& id) {
  v1::Recipient r;
  if (id.size() == 11) {
    r.mutable_person()->set_norwegian_national_id(id);
  } else {
    r.mutable_person()->set_danish_cpr(id);
  }
  return r;
}

inline v1::Recipient Org(const std::string& id) {
  v1::Recipient r;
  if (id.size() == 9) {
    r.mutable_organisation()->set_norwegian_org_number(id);
  } else {
    r.mutable_organisation()->set_danish_cvr(id);
  }
  return r;
}

inline v1::PostalAddress Address() {
  v1::PostalAddress a;
  a.set_name("Kari Nordmann");
  a.add_address_lines("Storgata 1");
  a.set_postal_code("0155");
  a.set_city("OSLO");
  a.set_country_code("NO");
  return a;
}

inline internal::v1::TaskLetter Letter(const v1::Recipient& to,
                                       v1::ChannelPolicy policy = v1::CHANNEL_POLICY_AUTO,
                                       bool with_address = false) {
  internal::v1::TaskLetter l;
  static std::atomic<int> n{0};
  l.set_letter_id(absl::StrCat("LETTER", ++n));
  l.set_sender("NO958935420");
  *l.mutable_recipient() = to;
  l.mutable_options()->set_channel_policy(policy);
  if (with_address) *l.mutable_postal_address() = Address();
  l.set_document_count(1);
  return l;
}

inline v1::Provider DevProvider() {
  v1::Provider p;
  p.set_provider_id("dev");
  p.set_name("Dev");
  p.set_endpoint("https://dev.example");
  p.set_encryption_certificate_pem("pem");
  p.set_max_security_level(v1::SECURITY_LEVEL_HIGH);
  return p;
}

inline v1::LookupResult WithMailbox(const v1::Recipient& r) {
  v1::LookupResult out;
  *out.mutable_entry()->mutable_person()->mutable_id() = r.person();
  out.mutable_entry()->mutable_person()->mutable_mailbox()->set_provider_id("dev");
  out.mutable_entry()->mutable_person()->mutable_mailbox()->set_address("mbx");
  *out.mutable_provider() = DevProvider();
  return out;
}

inline v1::LookupResult Reserved(const v1::Recipient& r) {
  v1::LookupResult out = WithMailbox(r);
  out.mutable_entry()->mutable_person()->set_reserved(true);
  *out.mutable_entry()->mutable_person()->mutable_postal_address() = Address();
  return out;
}

inline v1::LookupResult WithInbox(const v1::Recipient& r) {
  v1::LookupResult out;
  *out.mutable_entry()->mutable_organisation()->mutable_id() = r.organisation();
  out.mutable_entry()->mutable_organisation()->mutable_inbox()->set_provider_id("dev");
  out.mutable_entry()->mutable_organisation()->mutable_inbox()->set_address("inbox");
  *out.mutable_provider() = DevProvider();
  return out;
}

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
  Served s;
  s.server = builder.BuildAndStart();
  s.address = absl::StrCat("127.0.0.1:", port);
  return s;
}

// An address where nothing listens: a server's port, once that server is gone.
inline std::string DeadAddress() {
  FakeRegistry nothing;
  Served s = Serve(&nothing);
  std::string address = s.address;
  s.server->Shutdown();
  s.server->Wait();
  return address;
}

}  // namespace utpost::router
