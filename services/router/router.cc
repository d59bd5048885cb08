#include "services/router/router.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "services/common/lease_loop.h"
#include "services/common/log.h"
#include "services/router/decide.h"

namespace utpost::router {
namespace {

using google::protobuf::util::TimeUtil;
using internal::v1::Task;

// Sends of one completion in all, the first included, before the lease is left to expire.
constexpr int kMaxSends = 3;
// Transition.detail's limit (tasks.proto).
constexpr size_t kMaxDetail = 1000;

// Codes that mean the task is no longer this router's to finish (tasks.proto).
bool MeansDrop(grpc::StatusCode code) {
  return code == grpc::StatusCode::ABORTED || code == grpc::StatusCode::FAILED_PRECONDITION ||
         code == grpc::StatusCode::NOT_FOUND;
}

// A letter whose decision cannot depend on the registry: print only, with its own address.
bool NeedsLookup(const internal::v1::TaskLetter& letter) {
  return !(letter.options().channel_policy() == v1::CHANNEL_POLICY_PRINT_ONLY &&
           letter.has_postal_address() && letter.postal_address().ByteSizeLong() > 0);
}

}  // namespace

absl::Duration RetryDelay(const RouterConfig& config, uint32_t attempt, double unit) {
  absl::Duration base = config.backoff_min;
  for (uint32_t i = 0; i < attempt && base < config.backoff_max; ++i) base *= 2;
  base = std::min(base, config.backoff_max);
  if (!(unit >= 0.0)) unit = 0.0;  // NaN included
  if (unit > 1.0) unit = 1.0;
  // Rounding could reach `base` itself for `unit` close to 1.
  return std::min(base / 2 + (base / 2) * unit, base - absl::Nanoseconds(1));
}

struct Router::Call {
  bool is_complete = true;  // CompleteTask, else FailTask
  std::string task_id;
  std::string letter_id;
  internal::v1::CompleteTaskRequest complete;
  internal::v1::CompleteTaskResponse complete_response;
  internal::v1::FailTaskRequest fail;
  internal::v1::FailTaskResponse fail_response;
  std::unique_ptr<grpc::ClientContext> context;
  int sends = 0;
  absl::Time resend_at;  // real time
};

Router::Router(RouterConfig config, std::shared_ptr<grpc::ChannelInterface> tasks,
               std::shared_ptr<grpc::ChannelInterface> registry, const common::Clock& clock,
               std::function<double()> unit_random)
    : config_(std::move(config)),
      tasks_(internal::v1::TaskService::NewStub(tasks)),
      registry_(internal::v1::RegistryLookupService::NewStub(registry)),
      clock_(clock),
      unit_random_(std::move(unit_random)),
      prng_(std::random_device{}()) {}

Router::~Router() { Stop(); }

absl::Status Router::Start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return absl::FailedPreconditionError("router started before");
  started_ = true;
  for (int i = 0; i < config_.workers; ++i) threads_.emplace_back([this, i] { Loop(i); });
  return absl::OkStatus();
}

void Router::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (grpc::ClientContext* context : blocking_calls_) context->TryCancel();
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
  // Completions already sent finish within their deadline; none is resent once stopping.
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return in_flight_ == 0; });
  resend_.clear();
}

RouterStats Router::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Router::Loop(int index) {
  service::LeaseLoop{
      .component = "router",
      .worker = absl::StrCat(config_.name, "/", index),
      .poll_interval = config_.poll_interval,
      .lease_once = [this] { return RouteOneBatch(); },
      .wait = [this](absl::Duration d) { return Wait(d); },
      .stopping =
          [this] {
            std::lock_guard lock(mu_);
            return stopping_;
          },
      .unit_random = [this] { return UnitRandom(); },
  }
      .Run();
}

bool Router::Wait(absl::Duration d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return stopping_; });
  return !stopping_;
}

double Router::UnitRandom() {
  if (unit_random_) return unit_random_();
  std::lock_guard lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(prng_);
}

void Router::SetDeadline(grpc::ClientContext& context) const {
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoNanoseconds(config_.rpc_timeout));
}

bool Router::Track(grpc::ClientContext* context) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  blocking_calls_.insert(context);
  return true;
}

void Router::Untrack(grpc::ClientContext* context) {
  std::lock_guard lock(mu_);
  blocking_calls_.erase(context);
}

absl::StatusOr<int> Router::RouteOneBatch() {
  SendDueResends();
  internal::v1::LeaseTasksRequest request;
  request.set_kind(internal::v1::TASK_KIND_ROUTE);
  request.set_max_tasks(static_cast<uint32_t>(config_.batch_size));
  *request.mutable_lease_for() =
      TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(config_.lease_for));
  request.set_worker(config_.name);
  internal::v1::LeaseTasksResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  if (!Track(&context)) return absl::CancelledError("router stopping");
  grpc::Status status = tasks_->LeaseTasks(&context, request, &response);
  Untrack(&context);
  if (!status.ok()) {
    std::lock_guard lock(mu_);
    ++stats_.lease_errors;
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  const int leased = response.tasks_size();
  if (leased > 0) {
    {
      std::lock_guard lock(mu_);
      stats_.leased += static_cast<uint64_t>(leased);
    }
    std::vector<Task> tasks;
    tasks.reserve(static_cast<size_t>(leased));
    for (Task& task : *response.mutable_tasks()) {
      if (task.kind() != internal::v1::TASK_KIND_ROUTE) {
        // The ledger's fault; the lease expires and the task goes to the worker of its kind.
        service::Log(
            spdlog::level::err, "router was leased a task of another kind",
            {{"task_id", task.task_id()}, {"kind", internal::v1::TaskKind_Name(task.kind())}});
        continue;
      }
      tasks.push_back(std::move(task));
    }
    RunBatch(std::move(tasks));
  }
  return leased;
}

void Router::RunBatch(std::vector<Task> tasks) {
  // One registry key per distinct recipient that needs one; -1: decided without the registry.
  std::vector<v1::RegistryKey> keys;
  std::vector<int> key_of(tasks.size(), -1);
  absl::flat_hash_map<std::string, int> index;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const internal::v1::TaskLetter& letter = tasks[i].letter();
    if (!NeedsLookup(letter)) continue;
    std::string dedup = RecipientDedupKey(letter.recipient());
    if (dedup.empty()) continue;  // names nobody: Decide fails it
    auto [it, inserted] = index.try_emplace(dedup, static_cast<int>(keys.size()));
    if (inserted) keys.push_back(*RegistryKeyFor(letter.recipient()));
    key_of[i] = it->second;
  }

  std::vector<v1::LookupResult> results(keys.size());
  std::vector<bool> answered(keys.size(), false);
  std::string registry_error;
  if (!keys.empty()) {
    internal::v1::LookupRequest request;
    for (const auto& k : keys) *request.add_keys() = k;
    internal::v1::LookupResponse response;
    grpc::ClientContext context;
    SetDeadline(context);
    grpc::Status status = grpc::Status(grpc::StatusCode::CANCELLED, "router stopping");
    if (Track(&context)) {
      status = registry_->Lookup(&context, request, &response);
      Untrack(&context);
    }
    if (status.ok() && response.results_size() == static_cast<int>(keys.size())) {
      for (size_t k = 0; k < keys.size(); ++k) {
        results[k] = std::move(*response.mutable_results(static_cast<int>(k)));
        answered[k] = true;
      }
      std::lock_guard lock(mu_);
      ++stats_.lookups;
    } else if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT && keys.size() > 1) {
      // The registry refuses a key the ledger accepted. Look each key up alone so that one
      // such recipient holds up only its own letters.
      {
        std::lock_guard lock(mu_);
        ++stats_.registry_errors;
      }
      for (size_t k = 0; k < keys.size(); ++k) {
        internal::v1::LookupRequest one;
        *one.add_keys() = keys[k];
        internal::v1::LookupResponse one_response;
        grpc::ClientContext one_context;
        SetDeadline(one_context);
        if (!Track(&one_context)) break;
        grpc::Status s = registry_->Lookup(&one_context, one, &one_response);
        Untrack(&one_context);
        if (s.ok() && one_response.results_size() == 1) {
          results[k] = std::move(*one_response.mutable_results(0));
          answered[k] = true;
        }
      }
      registry_error = "registry refused the recipient's key (INVALID_ARGUMENT)";
    } else {
      {
        std::lock_guard lock(mu_);
        ++stats_.registry_errors;
      }
      registry_error =
          status.ok()
              ? std::string("registry answered with the wrong number of results")
              : absl::StrCat("registry lookup failed: ", service::CodeName(status.error_code()));
      if (status.error_code() != grpc::StatusCode::CANCELLED) {
        service::Log(spdlog::level::warn, "router cannot look recipients up",
                     {{"error", registry_error}, {"tasks", absl::StrCat(tasks.size())}});
      }
    }
  }

  std::vector<const Task*> unanswered;
  std::vector<const Task*> mismatched;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const Task& task = tasks[i];
    const v1::LookupResult* result = nullptr;
    if (key_of[i] >= 0) {
      if (!answered[static_cast<size_t>(key_of[i])]) {
        unanswered.push_back(&task);
        continue;
      }
      result = &results[static_cast<size_t>(key_of[i])];
      if (!LookupAnswersRecipient(task.letter().recipient(), *result)) {
        mismatched.push_back(&task);
        continue;
      }
    }
    Decision decision = Decide(task.letter(), result);
    auto call = std::make_unique<Call>();
    call->task_id = task.task_id();
    call->letter_id = task.letter().letter_id();
    call->complete.set_lease_token(task.lease_token());
    internal::v1::Transition* t = call->complete.mutable_transition();
    t->set_expected_status(v1::LETTER_STATUS_ACCEPTED);
    t->set_status(decision.status);
    t->set_reason(decision.reason);
    t->set_channel(decision.channel);
    if (decision.detail.size() > kMaxDetail) decision.detail.resize(kMaxDetail);
    t->set_detail(decision.detail);
    if (decision.next_task.has_value()) {
      internal::v1::NextTask* next = call->complete.add_next_tasks();
      next->set_kind(*decision.next_task);
      // Print records QUEUED_FOR_PRINT with the reason the letter goes to paper.
      if (*decision.next_task == internal::v1::TASK_KIND_PRINT) {
        next->set_reason(decision.reason);
        next->set_detail(std::move(decision.detail));
      }
    }
    Send(std::move(call));
  }
  if (!unanswered.empty()) FailTasks(unanswered, registry_error);
  if (!mismatched.empty()) {
    {
      std::lock_guard lock(mu_);
      ++stats_.registry_errors;
    }
    service::Log(spdlog::level::err, "registry answered about another entry",
                 {{"tasks", absl::StrCat(mismatched.size())}});
    FailTasks(mismatched, "registry answered about another entry than the recipient");
  }
}

void Router::FailTasks(const std::vector<const Task*>& tasks, const std::string& why) {
  const absl::Time now = clock_.Now();
  for (const Task* task : tasks) {
    auto call = std::make_unique<Call>();
    call->is_complete = false;
    call->task_id = task->task_id();
    call->letter_id = task->letter().letter_id();
    call->fail.set_lease_token(task->lease_token());
    absl::Time retry_at = now + RetryDelay(config_, task->attempt(), UnitRandom());
    *call->fail.mutable_retry_at() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(retry_at));
    call->fail.set_reason(why.substr(0, kMaxDetail));
    Send(std::move(call));
  }
}

void Router::Send(std::unique_ptr<Call> call) {
  {
    // Waits for room even while stopping: a decided batch is still completed, within the
    // calls' deadlines, rather than left to its leases' expiry.
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return in_flight_ < config_.max_in_flight; });
    ++in_flight_;
  }
  call->context = std::make_unique<grpc::ClientContext>();
  SetDeadline(*call->context);
  ++call->sends;
  Call* raw = call.release();  // owned by the call until OnDone
  if (raw->is_complete) {
    tasks_->async()->CompleteTask(raw->context.get(), &raw->complete, &raw->complete_response,
                                  [this, raw](grpc::Status s) { OnDone(raw, s); });
  } else {
    tasks_->async()->FailTask(raw->context.get(), &raw->fail, &raw->fail_response,
                              [this, raw](grpc::Status s) { OnDone(raw, s); });
  }
}

void Router::OnDone(Call* raw, const grpc::Status& status) {
  std::unique_ptr<Call> call(raw);
  // The call's ClientContext holds a reference to the channel. It must go while the router
  // still holds its own: were it the last, the channel would be destroyed on this gRPC
  // callback thread, which then joins itself while shutting its completion queue down.
  call->context.reset();
  const grpc::StatusCode code = status.error_code();
  const char* rpc = call->is_complete ? "CompleteTask" : "FailTask";
  if (!status.ok() && MeansDrop(code)) {
    service::Log(spdlog::level::debug, "router drops a task",
                 {{"rpc", rpc},
                  {"task_id", call->task_id},
                  {"letter_id", call->letter_id},
                  {"code", service::CodeName(code)}});
  } else if (!status.ok() && !service::IsRetryableTaskCall(code)) {
    service::Log(spdlog::level::err, "router call refused",
                 {{"rpc", rpc},
                  {"task_id", call->task_id},
                  {"letter_id", call->letter_id},
                  {"code", service::CodeName(code)}});
  } else if (!status.ok()) {
    service::Log(spdlog::level::debug, "router call failed",
                 {{"rpc", rpc},
                  {"task_id", call->task_id},
                  {"letter_id", call->letter_id},
                  {"code", service::CodeName(code)},
                  {"sends", absl::StrCat(call->sends)}});
  }

  std::unique_lock lock(mu_);
  if (status.ok()) {
    if (!call->is_complete) {
      ++stats_.retried;
    } else if (call->complete.transition().status() == v1::LETTER_STATUS_ROUTED) {
      ++stats_.routed;
    } else {
      ++stats_.failed;
    }
  } else if (MeansDrop(code)) {
    ++stats_.dropped;
  } else if (service::IsRetryableTaskCall(code) && call->sends < kMaxSends && !stopping_) {
    call->resend_at = absl::Now() + config_.poll_interval * call->sends;
    resend_.push_back(std::move(call));
  } else {
    ++stats_.completion_errors;
    if (service::IsRetryableTaskCall(code)) {
      service::Log(spdlog::level::warn, "router gives a task up to its lease's expiry",
                   {{"rpc", rpc}, {"task_id", call->task_id}, {"code", service::CodeName(code)}});
    }
  }
  lock.unlock();
  call.reset();
  lock.lock();
  // Last touch of `this`: Stop() may return, and the router go, once the lock is released.
  --in_flight_;
  cv_.notify_all();
}

void Router::SendDueResends() {
  std::vector<std::unique_ptr<Call>> due;
  {
    std::lock_guard lock(mu_);
    const absl::Time now = absl::Now();
    for (auto it = resend_.begin(); it != resend_.end();) {
      if ((*it)->resend_at <= now || stopping_) {
        due.push_back(std::move(*it));
        it = resend_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& call : due) Send(std::move(call));
}

void Router::AwaitIdle() {
  while (true) {
    SendDueResends();
    std::unique_lock lock(mu_);
    if (in_flight_ == 0 && resend_.empty()) return;
    cv_.wait_for(lock, absl::ToChronoNanoseconds(config_.poll_interval));
  }
}

}  // namespace utpost::router
