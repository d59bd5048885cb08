#include "services/courier/courier.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/strings.h"
#include "google/rpc/status.pb.h"
#include "services/common/lease_loop.h"
#include "services/common/log.h"
#include "services/router/decide.h"

namespace utpost::courier {
namespace {

// How long a read receipt that the ledger cannot apply yet (its delivery not recorded) is
// kept and pulled again before it is let go.
constexpr absl::Duration kEarlyReceiptGrace = absl::Minutes(10);

using internal::v1::Task;
using internal::v1::TaskKind;

// Sends of one completion in all, the first included, before the lease is left to expire.
constexpr int kMaxSends = 3;
// Completions in one CompleteTasks call, at most (the ledger takes up to 256).
constexpr size_t kMaxCompletionsPerCall = 64;
// Receipts per pull (PullReceipts allows 1..1000).
constexpr uint32_t kReceiptsPerPull = 100;

absl::StatusCode ToAbsl(grpc::StatusCode code) { return static_cast<absl::StatusCode>(code); }

v1::Channel ChannelOf(const Task& task) {
  if (task.letter().channel() != v1::CHANNEL_UNSPECIFIED) return task.letter().channel();
  return task.kind() == internal::v1::TASK_KIND_DELIVER_ORGANISATION_INBOX
             ? v1::CHANNEL_ORGANISATION_INBOX
             : v1::CHANNEL_DIGITAL_MAILBOX;
}

TaskKind ExpectedNext(const Task& task) {
  return task.kind() == internal::v1::TASK_KIND_DELIVER_ORGANISATION_INBOX
             ? internal::v1::TASK_KIND_DELIVER_ORGANISATION_INBOX
             : internal::v1::TASK_KIND_DELIVER_DIGITAL;
}

std::string TaskKindName(TaskKind kind) { return internal::v1::TaskKind_Name(kind); }

}  // namespace

struct Courier::Target {
  v1::Provider provider;
  std::string address;
};

struct Courier::DeliveryResult {
  enum class Stage { kDone, kLedger, kProvider, kEnvelope, kStopped } stage = Stage::kDone;
  grpc::Status status;
  bool replayed = false;
};

Courier::Courier(CourierConfig config, std::shared_ptr<grpc::ChannelInterface> tasks,
                 std::shared_ptr<grpc::ChannelInterface> registry,
                 ProviderChannelFn provider_channel, EnvelopeWriterFactory envelopes,
                 const common::Clock& clock, CourierMetrics* metrics,
                 std::function<double()> unit_random)
    : config_(std::move(config)),
      tasks_channel_(tasks),
      tasks_(internal::v1::TaskService::NewStub(tasks)),
      registry_(internal::v1::RegistryLookupService::NewStub(registry)),
      provider_channel_(std::move(provider_channel)),
      envelopes_(std::move(envelopes)),
      clock_(clock),
      metrics_(metrics),
      unit_random_(std::move(unit_random)),
      prng_(std::random_device{}()) {
  receipt_providers_.insert(config_.receipt_providers.begin(), config_.receipt_providers.end());
  for (int i = 0; i < config_.max_in_flight; ++i) pool_.emplace_back([this] { PoolLoop(); });
}

Courier::~Courier() { Stop(); }

absl::Status Courier::Start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return absl::FailedPreconditionError("courier started before");
  started_ = true;
  for (int i = 0; i < config_.workers; ++i) loops_.emplace_back([this, i] { LeaseLoop(i); });
  for (const std::string& id : receipt_providers_) StartReceiptLoopLocked(id);
  return absl::OkStatus();
}

void Courier::SetOtherLedgers(std::vector<std::shared_ptr<grpc::ChannelInterface>> ledgers) {
  other_ledgers_.clear();
  for (auto& channel : ledgers) {
    other_ledgers_.push_back(internal::v1::TaskService::NewStub(std::move(channel)));
  }
}

void Courier::StartReceiptLoopLocked(const std::string& provider_id) {
  if (!started_ || stopping_ || !receipt_loops_.insert(provider_id).second) return;
  loops_.emplace_back([this, provider_id] { ReceiptLoop(provider_id); });
}

void Courier::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && loops_.empty() && pool_.empty()) return;
    stopping_ = true;
    for (grpc::ClientContext* context : calls_) context->TryCancel();
    threads.swap(loops_);
    for (auto& t : pool_) threads.push_back(std::move(t));
    pool_.clear();
    // Queued deliveries never start: their leases expire and the tasks are leased again.
    in_flight_ -= static_cast<int>(jobs_.size());
    jobs_.clear();
  }
  jobs_cv_.notify_all();
  room_cv_.notify_all();
  stop_cv_.notify_all();
  for (auto& t : threads) t.join();
}

CourierStats Courier::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::vector<std::string> Courier::receipt_providers() const {
  std::lock_guard lock(mu_);
  return {receipt_providers_.begin(), receipt_providers_.end()};
}

void Courier::Count(uint64_t CourierStats::*field, uint64_t n) {
  std::lock_guard lock(mu_);
  stats_.*field += n;
}

bool Courier::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

bool Courier::Wait(absl::Duration d) {
  std::unique_lock lock(mu_);
  stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return stopping_; });
  return !stopping_;
}

double Courier::UnitRandom() {
  if (unit_random_) return unit_random_();
  std::lock_guard lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(prng_);
}

void Courier::SetDeadline(grpc::ClientContext& context, absl::Duration timeout) const {
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
}

bool Courier::Track(grpc::ClientContext* context) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  calls_.insert(context);
  return true;
}

void Courier::Untrack(grpc::ClientContext* context) {
  std::lock_guard lock(mu_);
  calls_.erase(context);
}

void Courier::PoolLoop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      jobs_cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

void Courier::AwaitIdle() {
  std::unique_lock lock(mu_);
  room_cv_.wait(lock, [this] { return in_flight_ == 0 || stopping_; });
}

int Courier::RoomWanted() const {
  // A quarter of a batch: fewer, fuller leases than one per finished delivery, and the pool
  // never waits long for work while the ledger has some.
  return std::max(1, std::min(config_.batch_size, config_.max_in_flight) / 4);
}

void Courier::Release(int n) {
  if (n == 0) return;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    in_flight_ -= n;
    wake = in_flight_ == 0 || config_.max_in_flight - in_flight_ >= RoomWanted();
  }
  if (wake) room_cv_.notify_all();
}

void Courier::WaitWhileEveryProviderBacksOff() {
  std::unique_lock lock(mu_);
  if (breakers_.empty()) return;
  const absl::Time now = clock_.Now();
  absl::Time first = absl::InfiniteFuture();
  for (const auto& [id, breaker] : breakers_) {
    if (!breaker.open(now)) return;
    first = std::min(first, breaker.open_until());
  }
  const absl::Duration wait =
      std::min(first - now, std::max(config_.poll_interval, absl::Seconds(1)));
  stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(wait), [this] { return stopping_; });
}

void Courier::WaitForRoom(absl::Duration most) {
  std::unique_lock lock(mu_);
  room_cv_.wait_for(lock, absl::ToChronoNanoseconds(most), [&] {
    return stopping_ || config_.max_in_flight - in_flight_ >= RoomWanted();
  });
}

void Courier::LeaseLoop(int index) {
  service::LeaseLoop{
      .component = "courier",
      .worker = absl::StrCat(config_.name, "/", index),
      .poll_interval = config_.poll_interval,
      .lease_once =
          [this] {
            // A full pool is not an empty queue: lease again as soon as deliveries end,
            // not a poll interval later.
            WaitForRoom(config_.poll_interval);
            WaitWhileEveryProviderBacksOff();
            return LeaseOnce();
          },
      .wait = [this](absl::Duration d) { return Wait(d); },
      .stopping = [this] { return stopping(); },
      .unit_random = [this] { return UnitRandom(); },
  }
      .Run();
}

absl::StatusOr<std::vector<Task>> Courier::Lease(TaskKind kind, int max) {
  internal::v1::LeaseTasksRequest request;
  request.set_kind(kind);
  request.set_max_tasks(static_cast<uint32_t>(max));
  *request.mutable_lease_for() = google::protobuf::util::TimeUtil::NanosecondsToDuration(
      absl::ToInt64Nanoseconds(config_.lease_for));
  request.set_worker(config_.name);
  internal::v1::LeaseTasksResponse response;
  grpc::ClientContext context;
  SetDeadline(context, config_.rpc_timeout);
  if (!Track(&context)) return absl::CancelledError("courier stopping");
  grpc::Status status = tasks_->LeaseTasks(&context, request, &response);
  Untrack(&context);
  if (!status.ok()) return absl::Status(ToAbsl(status.error_code()), status.error_message());
  std::vector<Task> out;
  for (Task& task : *response.mutable_tasks()) {
    if (task.kind() != kind) {
      // The ledger's fault; the lease expires and the task goes to the worker of its kind.
      service::Log(spdlog::level::err, "courier was leased a task of another kind",
                   {{"task_id", task.task_id()}, {"kind", TaskKindName(task.kind())}});
      continue;
    }
    out.push_back(std::move(task));
  }
  Count(&CourierStats::leased, static_cast<uint64_t>(response.tasks_size()));
  return out;
}

absl::StatusOr<int> Courier::LeaseOnce() {
  int leased = 0;
  for (TaskKind kind : {internal::v1::TASK_KIND_DELIVER_DIGITAL,
                        internal::v1::TASK_KIND_DELIVER_ORGANISATION_INBOX}) {
    // Reserve the room first, so that loops leasing at once never overfill the pool.
    int room = 0;
    {
      std::lock_guard lock(mu_);
      room = std::min(config_.batch_size, config_.max_in_flight - in_flight_);
      if (room <= 0) break;
      in_flight_ += room;
    }
    absl::StatusOr<std::vector<Task>> tasks = Lease(kind, room);
    const int got = tasks.ok() ? static_cast<int>(tasks->size()) : 0;
    Release(room - got);  // each leased task keeps its place until it ends
    if (!tasks.ok()) return tasks.status();
    leased += got;
    if (got > 0) DispatchDeliveries(*std::move(tasks));
  }
  // Unread checks need no provider: done here, one completion each.
  absl::StatusOr<std::vector<Task>> checks =
      Lease(internal::v1::TASK_KIND_CHECK_UNREAD, config_.batch_size);
  if (!checks.ok()) return checks.status();
  for (const Task& task : *checks) CheckUnread(task);
  leased += static_cast<int>(checks->size());
  return leased;
}

void Courier::DispatchDeliveries(std::vector<Task> tasks) {
  // One registry key per distinct recipient.
  std::vector<v1::RegistryKey> keys;
  std::vector<int> key_of(tasks.size(), -1);
  absl::flat_hash_map<std::string, int> index;
  for (size_t i = 0; i < tasks.size(); ++i) {
    std::string dedup = router::RecipientDedupKey(tasks[i].letter().recipient());
    if (dedup.empty()) continue;
    auto [it, inserted] = index.try_emplace(dedup, static_cast<int>(keys.size()));
    if (inserted) keys.push_back(*router::RegistryKeyFor(tasks[i].letter().recipient()));
    key_of[i] = it->second;
  }
  internal::v1::LookupResponse lookup;
  grpc::Status lookup_status = grpc::Status::OK;
  if (!keys.empty()) {
    internal::v1::LookupRequest request;
    for (const auto& k : keys) *request.add_keys() = k;
    grpc::ClientContext context;
    SetDeadline(context, config_.rpc_timeout);
    lookup_status = grpc::Status(grpc::StatusCode::CANCELLED, "courier stopping");
    if (Track(&context)) {
      lookup_status = registry_->Lookup(&context, request, &lookup);
      Untrack(&context);
    }
    if (lookup_status.ok() && lookup.results_size() != static_cast<int>(keys.size())) {
      lookup_status =
          grpc::Status(grpc::StatusCode::INTERNAL, "registry answered the wrong number of results");
    }
  }

  // Each task ends here (given back, completed) or in a job, which releases its place.
  for (size_t i = 0; i < tasks.size(); ++i) {
    Task& task = tasks[i];
    if (stopping()) {
      Release(1);
      continue;
    }
    if (!lookup_status.ok()) {
      RetryOrFallBack(task, absl::StrCat("registry lookup failed: ",
                                         service::CodeName(lookup_status.error_code())));
      Release(1);
      continue;
    }
    v1::LookupResult result;
    if (key_of[i] >= 0) result = lookup.results(key_of[i]);
    if (key_of[i] >= 0 && !router::LookupAnswersRecipient(task.letter().recipient(), result)) {
      RetryOrFallBack(task, "registry answered about another entry than the recipient");
      Release(1);
      continue;
    }
    // The router's rules decide whether this letter still goes to this channel: the
    // registry may have changed since it was routed.
    router::Decision decision = router::Decide(task.letter(), key_of[i] >= 0 ? &result : nullptr);
    if (decision.status != v1::LETTER_STATUS_ROUTED || decision.channel != ChannelOf(task) ||
        decision.next_task != ExpectedNext(task) || !result.has_provider()) {
      Count(&CourierStats::permanent_errors);
      if (metrics_ != nullptr) metrics_->Delivery("", "permanent");
      CompleteUndeliverable(
          task, absl::StrCat("the registry no longer allows this delivery: ", decision.detail));
      Release(1);
      continue;
    }
    Target target;
    target.provider = result.provider();
    const v1::RegistryEntry& entry = result.entry();
    target.address = entry.has_person() ? entry.person().mailbox().address()
                                        : entry.organisation().inbox().address();
    NoteProvider(target.provider);
    const std::string& id = target.provider.provider_id();

    const absl::Time now = clock_.Now();
    absl::Time retry_after;
    bool admitted = false;
    bool busy = false;
    {
      std::lock_guard lock(mu_);
      auto it =
          breakers_
              .try_emplace(id, config_.breaker_failures, config_.backoff_min, config_.backoff_max)
              .first;
      if (provider_in_flight_[id] >= config_.max_in_flight_per_provider) {
        busy = true;
      } else if (it->second.Admit(now, &retry_after)) {
        admitted = true;
        ++provider_in_flight_[id];
        // The job takes over this task's place in in_flight_.
        jobs_.push_back(
            [this, task = std::move(task), target = std::move(target),
             generation = it->second.generation()] { Deliver(task, target, generation); });
      }
    }
    if (admitted) {
      jobs_cv_.notify_one();
      continue;
    }
    const std::string label = ProviderLabel(id);
    if (busy) {
      Count(&CourierStats::busy);
      if (metrics_ != nullptr) metrics_->Delivery(id, "busy");
      // Not a failure of the letter: back soon, with no back-off growth of its own.
      Retry(task, absl::StrCat("provider ", label, " is at its share of deliveries"),
            now + config_.backoff_min * (0.5 + 0.5 * UnitRandom()));
    } else {
      Count(&CourierStats::backed_off);
      if (metrics_ != nullptr) metrics_->Delivery(id, "backed_off");
      const std::string why =
          absl::StrCat("provider ", label, " is backed off after repeated transient failures");
      const absl::Time deadline = common::FromProto(task.create_time()) + config_.retry_deadline;
      if (now >= deadline) {
        CompleteUndeliverable(task, absl::StrCat("retry deadline passed; last error: ", why));
      } else {
        // Spread the given-back letters over a back-off after the cool-off, so that they do
        // not all come back at once.
        Retry(task, why,
              std::min(retry_after + FullJitterDelay(config_.backoff_min, config_.backoff_max,
                                                     task.attempt(), UnitRandom()),
                       deadline));
      }
    }
    Release(1);
  }
}

void Courier::NoteProvider(const v1::Provider& provider) {
  std::lock_guard lock(mu_);
  providers_[provider.provider_id()] = provider;
  if (receipt_providers_.insert(provider.provider_id()).second) {
    StartReceiptLoopLocked(provider.provider_id());
  }
}

void Courier::Deliver(const Task& task, const Target& target, uint64_t generation) {
  const std::string& id = target.provider.provider_id();
  if (metrics_ != nullptr) metrics_->InFlight(1);
  const absl::Time started = absl::Now();
  DeliveryResult result = RunDelivery(task, target);
  const absl::Time now = clock_.Now();
  if (metrics_ != nullptr && (result.stage == DeliveryResult::Stage::kDone ||
                              result.stage == DeliveryResult::Stage::kProvider)) {
    metrics_->DeliveryLatency(id, absl::ToDoubleSeconds(absl::Now() - started));
  }
  {
    std::lock_guard lock(mu_);
    ProviderBreaker& breaker = breakers_.at(id);
    const bool provider_failed =
        result.stage == DeliveryResult::Stage::kProvider &&
        ClassifyProviderError(ToAbsl(result.status.error_code())) == FailureKind::kTransient;
    if (result.stage == DeliveryResult::Stage::kDone ||
        (result.stage == DeliveryResult::Stage::kProvider && !provider_failed)) {
      breaker.OnSuccess();
    } else if (provider_failed && !stopping_) {
      breaker.OnTransientFailure(now, generation);
    } else {
      breaker.OnAbandoned(generation);
    }
  }

  const std::string label = ProviderLabel(id);
  const grpc::StatusCode code = result.status.error_code();
  switch (result.stage) {
    case DeliveryResult::Stage::kDone:
      if (result.replayed) Count(&CourierStats::provider_replays);
      if (metrics_ != nullptr) metrics_->Delivery(id, result.replayed ? "replayed" : "delivered");
      CompleteDelivered(task, id);
      break;
    case DeliveryResult::Stage::kStopped:
      break;  // left to the lease's expiry
    case DeliveryResult::Stage::kEnvelope:
      Count(&CourierStats::permanent_errors);
      if (metrics_ != nullptr) metrics_->Delivery(id, "permanent");
      CompleteUndeliverable(
          task, absl::StrCat("provider ", label, "'s encryption certificate cannot be used: ",
                             result.status.error_message()));
      break;
    case DeliveryResult::Stage::kLedger:
      if (code == grpc::StatusCode::ABORTED || code == grpc::StatusCode::NOT_FOUND ||
          code == grpc::StatusCode::FAILED_PRECONDITION) {
        // Stale lease, or the letter was cancelled (its documents destroyed): not ours.
        Count(&CourierStats::dropped);
        if (metrics_ != nullptr) metrics_->Delivery(id, "dropped");
        service::Log(spdlog::level::debug, "courier drops a task",
                     {{"rpc", "ReadDocuments"},
                      {"task_id", task.task_id()},
                      {"letter_id", task.letter().letter_id()},
                      {"code", service::CodeName(code)}});
      } else {
        if (metrics_ != nullptr) metrics_->Delivery(id, "retried");
        RetryOrFallBack(task,
                        absl::StrCat("reading the documents failed: ", service::CodeName(code)));
      }
      break;
    case DeliveryResult::Stage::kProvider: {
      const std::string message =
          absl::StrCat("provider ", label, " answered ", service::CodeName(code), ": ",
                       result.status.error_message());
      if (ClassifyProviderError(ToAbsl(code)) == FailureKind::kPermanent) {
        Count(&CourierStats::permanent_errors);
        if (metrics_ != nullptr) metrics_->Delivery(id, "permanent");
        CompleteUndeliverable(task, message);
      } else {
        Count(&CourierStats::transient_errors);
        if (metrics_ != nullptr) metrics_->Delivery(id, "retried");
        RetryOrFallBack(task, message);
      }
      break;
    }
  }
  if (metrics_ != nullptr) metrics_->InFlight(-1);
  {
    std::lock_guard lock(mu_);
    --provider_in_flight_[id];
  }
  Release(1);
}

Courier::DeliveryResult Courier::RunDelivery(const Task& task, const Target& target) {
  using Stage = DeliveryResult::Stage;
  DeliveryResult out;
  const std::string& provider_id = target.provider.provider_id();
  absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> channel =
      provider_channel_(target.provider.endpoint());
  if (!channel.ok()) {
    out.stage = Stage::kProvider;
    // Never permanent: a channel that cannot be made is the deployment's fault, and the
    // retry deadline bounds it.
    out.status = grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        absl::StrCat("no channel to the provider's endpoint: ", channel.status().message()));
    return out;
  }
  auto provider = provider::v1::MailboxProviderService::NewStub(*channel);

  grpc::ClientContext read_context;
  SetDeadline(read_context, config_.provider_timeout + config_.rpc_timeout);
  grpc::ClientContext deliver_context;
  SetDeadline(deliver_context, config_.provider_timeout);
  deliver_context.AddMetadata(kProviderIdHeader, provider_id);
  if (!Track(&read_context)) {
    out.stage = Stage::kStopped;
    return out;
  }
  if (!Track(&deliver_context)) {
    Untrack(&read_context);
    out.stage = Stage::kStopped;
    return out;
  }
  internal::v1::ReadDocumentsRequest read_request;
  read_request.set_lease_token(task.lease_token());
  std::unique_ptr<grpc::ClientReader<internal::v1::ReadDocumentsResponse>> reader =
      tasks_->ReadDocuments(&read_context, read_request);
  provider::v1::DeliverResponse response;
  std::unique_ptr<grpc::ClientWriter<provider::v1::DeliverRequest>> writer =
      provider->Deliver(&deliver_context, &response);

  const internal::v1::TaskLetter& letter = task.letter();
  provider::v1::DeliverRequest message;
  provider::v1::DeliverHeader* header = message.mutable_header();
  header->set_letter_id(letter.letter_id());
  header->set_mailbox_address(target.address);
  header->set_sender(letter.sender());
  header->set_title(letter.title());
  header->set_security_level(letter.options().security_level());
  header->set_document_count(letter.document_count());
  *header->mutable_accepted_time() = letter.accepted_time();
  bool provider_open = writer->Write(message);

  // One document's envelope is collected before it is sent: DocumentStart gives its size
  // first. The plaintext is never whole here: each chunk read is encrypted at once.
  std::string envelope;
  std::unique_ptr<EnvelopeWriter> sealer;
  provider::v1::DocumentStart start;
  uint64_t expected = 0;
  uint64_t received = 0;
  uint32_t documents = 0;
  absl::Status local = absl::OkStatus();  // an envelope or stream-shape error
  Stage local_stage = Stage::kLedger;

  auto send_document = [&]() -> bool {
    if (sealer == nullptr) return true;
    if (received != expected) {
      local = absl::InternalError("a document's chunks do not add up to its size");
      return false;
    }
    if (absl::Status s = sealer->Finish(); !s.ok()) {
      local = s;
      local_stage = Stage::kEnvelope;
      return false;
    }
    sealer.reset();
    start.set_envelope_size(envelope.size());
    provider::v1::DeliverRequest doc;
    *doc.mutable_document() = start;
    provider_open = provider_open && writer->Write(doc);
    if (envelope.size() <= kMaxEnvelopeChunk) {
      provider::v1::DeliverRequest chunk;
      chunk.set_chunk(std::move(envelope));  // one chunk: no copy
      provider_open = provider_open && writer->Write(chunk);
    } else {
      for (size_t off = 0; provider_open && off < envelope.size(); off += kMaxEnvelopeChunk) {
        provider::v1::DeliverRequest chunk;
        chunk.set_chunk(envelope.substr(off, kMaxEnvelopeChunk));
        provider_open = writer->Write(chunk);
      }
    }
    envelope.clear();
    envelope.shrink_to_fit();
    return true;
  };

  internal::v1::ReadDocumentsResponse part;
  while (provider_open && local.ok() && reader->Read(&part)) {
    if (part.has_header()) {
      if (!send_document()) break;
      if (part.header().index() != documents) {
        local = absl::InternalError("documents arrived out of order");
        break;
      }
      ++documents;
      expected = part.header().size();
      received = 0;
      start.Clear();
      start.set_index(part.header().index());
      start.set_filename(part.header().filename());
      start.set_media_type(part.header().media_type());
      absl::StatusOr<std::unique_ptr<EnvelopeWriter>> made = envelopes_(
          target.provider.encryption_certificate_pem(), [&envelope](std::string_view bytes) {
            envelope.append(bytes.data(), bytes.size());
            return absl::OkStatus();
          });
      if (!made.ok()) {
        local = made.status();
        local_stage = Stage::kEnvelope;
        break;
      }
      if (metrics_ != nullptr && documents == 1) {
        metrics_->ProviderCertificate(target.provider.provider_id(),
                                      target.provider.encryption_certificate_pem());
      }
      sealer = *std::move(made);
    } else if (part.part_case() == internal::v1::ReadDocumentsResponse::kChunk) {
      if (sealer == nullptr) {
        local = absl::InternalError("a chunk came before any document");
        break;
      }
      received += part.chunk().size();
      if (absl::Status s = sealer->Write(part.chunk()); !s.ok()) {
        local = s;
        local_stage = Stage::kEnvelope;
        break;
      }
    }
  }
  if (provider_open && local.ok()) send_document();
  if (local.ok() && provider_open && documents != letter.document_count()) {
    local = absl::InternalError("the ledger sent another number of documents than the letter has");
  }
  const bool read_complete = local.ok() && provider_open;
  if (!read_complete) read_context.TryCancel();
  grpc::Status read_status = reader->Finish();
  Untrack(&read_context);
  if (read_complete && !read_status.ok()) {
    // The letter is incomplete: make sure the provider never takes it.
    deliver_context.TryCancel();
  } else if (!local.ok()) {
    deliver_context.TryCancel();
  }
  if (read_complete && read_status.ok()) writer->WritesDone();
  grpc::Status deliver_status = writer->Finish();
  Untrack(&deliver_context);

  const bool stopped = stopping();
  if (!local.ok()) {
    out.stage = local_stage;
    out.status =
        grpc::Status(static_cast<grpc::StatusCode>(local.code()), std::string(local.message()));
    if (out.stage == Stage::kLedger)
      out.status = grpc::Status(grpc::StatusCode::INTERNAL, std::string(local.message()));
  } else if (read_complete && !read_status.ok()) {
    out.stage = stopped ? Stage::kStopped : Stage::kLedger;
    out.status = read_status;
  } else if (!deliver_status.ok()) {
    out.stage = stopped && deliver_status.error_code() == grpc::StatusCode::CANCELLED
                    ? Stage::kStopped
                    : Stage::kProvider;
    out.status = deliver_status;
  } else if (!read_complete) {
    // The provider closed the stream early but answered OK: not a delivery of this letter.
    out.stage = Stage::kProvider;
    out.status = grpc::Status(grpc::StatusCode::INTERNAL, "provider answered before the end");
  } else {
    out.stage = Stage::kDone;
    out.replayed = response.replayed();
  }
  return out;
}

struct Courier::PendingCompletion {
  const internal::v1::CompleteTaskRequest* request = nullptr;
  grpc::Status status;
  // Guarded by completions_mu_: its call ended (status set), or it is to send the next call.
  bool done = false;
  bool lead = false;
  std::condition_variable cv;  // done or lead
};

grpc::Status Courier::SendCompletion(const internal::v1::CompleteTaskRequest& request) {
  if (one_completion_per_call_.load(std::memory_order_relaxed)) {
    return SendCompletionAlone(request);
  }
  PendingCompletion mine;
  mine.request = &request;
  std::unique_lock lock(completions_mu_);
  completions_.push_back(&mine);
  if (!completions_sending_) {
    completions_sending_ = true;
    mine.lead = true;
  }
  // Each waiter has a condition of its own: a call that ends wakes the completions it
  // carried and the one that sends next, not every delivery thread.
  mine.cv.wait(lock, [&] { return mine.done || mine.lead; });
  while (!mine.done) {
    // This thread sends what waits: its own completion first in line, or behind others.
    const size_t n = std::min<size_t>(completions_.size(), kMaxCompletionsPerCall);
    std::vector<PendingCompletion*> batch(completions_.begin(), completions_.begin() + n);
    completions_.erase(completions_.begin(), completions_.begin() + n);
    lock.unlock();
    SendCompletions(batch);
    lock.lock();
    for (PendingCompletion* p : batch) {
      p->done = true;
      if (p != &mine) p->cv.notify_one();
    }
    if (!mine.done) continue;  // still queued behind this call: send the next one too
    if (completions_.empty()) {
      completions_sending_ = false;
    } else {
      completions_.front()->lead = true;
      completions_.front()->cv.notify_one();
    }
  }
  return mine.status;
}

void Courier::SendCompletions(const std::vector<PendingCompletion*>& batch) {
  internal::v1::CompleteTasksRequest request;
  for (const PendingCompletion* p : batch) *request.add_completions() = *p->request;
  internal::v1::CompleteTasksResponse response;
  grpc::Status status;
  for (int send = 1; send <= kMaxSends; ++send) {
    response.Clear();
    grpc::ClientContext context;
    SetDeadline(context, config_.rpc_timeout);
    status = tasks_->CompleteTasks(&context, request, &response);
    if (status.ok() || !service::IsRetryableTaskCall(status.error_code())) break;
    if (send < kMaxSends && !Wait(config_.poll_interval * send)) break;
  }
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    // A ledger of an earlier release: one call per completion from now on.
    one_completion_per_call_.store(true, std::memory_order_relaxed);
    for (PendingCompletion* p : batch) p->status = SendCompletionAlone(*p->request);
    return;
  }
  if (status.ok() && response.results_size() != static_cast<int>(batch.size())) {
    status = grpc::Status(grpc::StatusCode::INTERNAL,
                          absl::StrCat("the ledger answered ", response.results_size(),
                                       " results for ", batch.size(), " completions"));
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!status.ok()) {
      batch[i]->status = status;
      continue;
    }
    const google::rpc::Status& result = response.results(static_cast<int>(i)).status();
    batch[i]->status = result.code() == 0
                           ? grpc::Status::OK
                           : grpc::Status(static_cast<grpc::StatusCode>(result.code()),
                                          result.message(), result.SerializeAsString());
  }
}

grpc::Status Courier::SendCompletionAlone(const internal::v1::CompleteTaskRequest& request) {
  grpc::Status status;
  for (int send = 1; send <= kMaxSends; ++send) {
    internal::v1::CompleteTaskResponse response;
    grpc::ClientContext context;
    SetDeadline(context, config_.rpc_timeout);
    status = tasks_->CompleteTask(&context, request, &response);
    if (status.ok() || !service::IsRetryableTaskCall(status.error_code())) return status;
    if (send < kMaxSends && !Wait(config_.poll_interval * send)) break;
  }
  return status;
}

void Courier::CompleteDelivered(const Task& task, const std::string& provider_id) {
  internal::v1::CompleteTaskRequest request;
  request.set_lease_token(task.lease_token());
  internal::v1::Transition* t = request.mutable_transition();
  t->set_expected_status(v1::LETTER_STATUS_ROUTED);
  t->set_status(v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  t->set_reason(v1::STATUS_REASON_PROVIDER_CONFIRMED);
  t->set_channel(ChannelOf(task));
  t->set_provider_id(provider_id);
  t->set_detail(absl::StrCat("delivered to provider ", ProviderLabel(provider_id)));
  const v1::DeliveryOptions& options = task.letter().options();
  if (options.has_print_if_unread_after()) {
    const absl::Duration after = absl::Seconds(options.print_if_unread_after().seconds()) +
                                 absl::Nanoseconds(options.print_if_unread_after().nanos());
    if (after > absl::ZeroDuration()) {
      internal::v1::NextTask* next = request.add_next_tasks();
      next->set_kind(internal::v1::TASK_KIND_CHECK_UNREAD);
      *next->mutable_due_time() = common::ToProto(clock_.Now() + after);
    }
  }
  grpc::Status status = SendCompletion(request);
  const grpc::StatusCode code = status.error_code();
  if (status.ok()) {
    Count(&CourierStats::delivered);
  } else if (code == grpc::StatusCode::ABORTED || code == grpc::StatusCode::FAILED_PRECONDITION ||
             code == grpc::StatusCode::NOT_FOUND) {
    // FAILED_PRECONDITION: the letter left ROUTED while it was delivered (cancelled). The
    // provider has it; the ledger's history says the sender cancelled first.
    Count(&CourierStats::dropped);
    service::Log(
        code == grpc::StatusCode::FAILED_PRECONDITION ? spdlog::level::warn : spdlog::level::debug,
        "courier delivered a letter whose task was no longer its",
        {{"task_id", task.task_id()},
         {"letter_id", task.letter().letter_id()},
         {"code", service::CodeName(code)}});
  } else {
    Count(&CourierStats::completion_errors);
    service::Log(spdlog::level::warn, "courier leaves a delivered task to its lease's expiry",
                 {{"task_id", task.task_id()}, {"code", service::CodeName(code)}});
  }
}

void Courier::CompleteUndeliverable(const Task& task, const std::string& detail_text) {
  const std::string detail = SafeDetail(detail_text);
  internal::v1::CompleteTaskRequest request;
  request.set_lease_token(task.lease_token());
  internal::v1::Transition* t = request.mutable_transition();
  t->set_expected_status(v1::LETTER_STATUS_ROUTED);
  const bool digital_only =
      task.letter().options().channel_policy() == v1::CHANNEL_POLICY_DIGITAL_ONLY;
  if (digital_only) {
    t->set_status(v1::LETTER_STATUS_FAILED);
    t->set_reason(v1::STATUS_REASON_DIGITAL_DELIVERY_FAILED);
    t->set_channel(ChannelOf(task));
    t->set_detail(SafeDetail(absl::StrCat(detail, "; the sender allowed digital delivery only")));
  } else {
    internal::v1::NextTask* next = request.add_next_tasks();
    next->set_kind(internal::v1::TASK_KIND_PRINT);
    next->set_reason(v1::STATUS_REASON_DIGITAL_DELIVERY_FAILED);
    next->set_detail(detail);
  }
  service::Log(spdlog::level::info, "courier cannot deliver a letter digitally",
               {{"task_id", task.task_id()},
                {"letter_id", task.letter().letter_id()},
                {"outcome", digital_only ? "failed" : "print"}});
  grpc::Status status = SendCompletion(request);
  const grpc::StatusCode code = status.error_code();
  // Without a status change, NOT_FOUND on a resend means the first send applied.
  if (status.ok() || (!digital_only && code == grpc::StatusCode::NOT_FOUND)) {
    Count(digital_only ? &CourierStats::failed : &CourierStats::to_print);
  } else if (code == grpc::StatusCode::ABORTED || code == grpc::StatusCode::FAILED_PRECONDITION ||
             code == grpc::StatusCode::NOT_FOUND) {
    Count(&CourierStats::dropped);
  } else {
    Count(&CourierStats::completion_errors);
    service::Log(spdlog::level::warn, "courier leaves an undeliverable task to its lease's expiry",
                 {{"task_id", task.task_id()}, {"code", service::CodeName(code)}});
  }
}

void Courier::Retry(const Task& task, const std::string& why, absl::Time retry_at) {
  internal::v1::FailTaskRequest request;
  request.set_lease_token(task.lease_token());
  *request.mutable_retry_at() = common::ToProto(retry_at);
  request.set_reason(SafeDetail(why));
  grpc::Status status;
  for (int send = 1; send <= kMaxSends; ++send) {
    internal::v1::FailTaskResponse response;
    grpc::ClientContext context;
    SetDeadline(context, config_.rpc_timeout);
    status = tasks_->FailTask(&context, request, &response);
    if (status.ok() || !service::IsRetryableTaskCall(status.error_code())) break;
    if (send < kMaxSends && !Wait(config_.poll_interval * send)) break;
  }
  if (status.ok()) {
    Count(&CourierStats::retried);
  } else if (status.error_code() == grpc::StatusCode::ABORTED ||
             status.error_code() == grpc::StatusCode::NOT_FOUND) {
    Count(&CourierStats::dropped);
  } else {
    Count(&CourierStats::completion_errors);
  }
}

void Courier::RetryOrFallBack(const Task& task, const std::string& why) {
  const absl::Time now = clock_.Now();
  const absl::Time deadline = common::FromProto(task.create_time()) + config_.retry_deadline;
  if (now >= deadline) {
    if (metrics_ != nullptr) metrics_->Delivery("", "fallback");
    CompleteUndeliverable(task, absl::StrCat("retry deadline passed; last error: ", why));
    return;
  }
  Retry(task, why,
        RetryAt(now, deadline, config_.backoff_min, config_.backoff_max, task.attempt(),
                UnitRandom()));
}

void Courier::CheckUnread(const Task& task) {
  internal::v1::CompleteTaskRequest request;
  request.set_lease_token(task.lease_token());
  request.mutable_transition()->set_expected_status(v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  internal::v1::NextTask* next = request.add_next_tasks();
  next->set_kind(internal::v1::TASK_KIND_PRINT);
  next->set_reason(v1::STATUS_REASON_UNREAD_PAST_DEADLINE);
  next->set_detail("not read by the print-if-unread deadline");
  grpc::Status status = SendCompletion(request);
  const grpc::StatusCode code = status.error_code();
  if (status.ok() || code == grpc::StatusCode::NOT_FOUND) {
    Count(&CourierStats::unread_to_print);
    if (metrics_ != nullptr) metrics_->UnreadCheck("to_print");
  } else if (code == grpc::StatusCode::FAILED_PRECONDITION) {
    Count(&CourierStats::unread_read);
    if (metrics_ != nullptr) metrics_->UnreadCheck("read");
  } else if (code == grpc::StatusCode::ABORTED) {
    Count(&CourierStats::dropped);
    if (metrics_ != nullptr) metrics_->UnreadCheck("dropped");
  } else {
    // The lease expires and the check runs again.
    Count(&CourierStats::completion_errors);
    if (metrics_ != nullptr) metrics_->UnreadCheck("retried");
  }
}

absl::StatusOr<v1::Provider> Courier::ProviderById(const std::string& provider_id) {
  {
    std::lock_guard lock(mu_);
    auto it = providers_.find(provider_id);
    if (it != providers_.end()) return it->second;
  }
  internal::v1::LookupRequest request;
  request.add_keys()->set_provider_id(provider_id);
  internal::v1::LookupResponse response;
  grpc::ClientContext context;
  SetDeadline(context, config_.rpc_timeout);
  if (!Track(&context)) return absl::CancelledError("courier stopping");
  grpc::Status status = registry_->Lookup(&context, request, &response);
  Untrack(&context);
  if (!status.ok()) return absl::Status(ToAbsl(status.error_code()), status.error_message());
  if (response.results_size() != 1 || !response.results(0).entry().has_provider() ||
      response.results(0).entry().provider().provider_id() != provider_id) {
    return absl::NotFoundError("the registry has no such provider");
  }
  v1::Provider provider = response.results(0).entry().provider();
  std::lock_guard lock(mu_);
  providers_[provider_id] = provider;
  return provider;
}

absl::StatusOr<int> Courier::PullReceiptsOnce(const std::string& provider_id) {
  absl::StatusOr<v1::Provider> provider = ProviderById(provider_id);
  if (!provider.ok()) return provider.status();
  absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> channel =
      provider_channel_(provider->endpoint());
  if (!channel.ok()) return channel.status();
  auto stub = provider::v1::MailboxProviderService::NewStub(*channel);

  provider::v1::PullReceiptsRequest pull;
  pull.set_max_receipts(kReceiptsPerPull);
  provider::v1::PullReceiptsResponse pulled;
  {
    grpc::ClientContext context;
    SetDeadline(context, config_.provider_timeout);
    context.AddMetadata(kProviderIdHeader, provider_id);
    if (!Track(&context)) return absl::CancelledError("courier stopping");
    grpc::Status status = stub->PullReceipts(&context, pull, &pulled);
    Untrack(&context);
    if (!status.ok()) {
      if (metrics_ != nullptr) metrics_->Receipt(provider_id, "pull_failed");
      return absl::Status(ToAbsl(status.error_code()), status.error_message());
    }
  }

  provider::v1::AcknowledgeReceiptsRequest ack;
  for (const provider::v1::Receipt& receipt : pulled.receipts()) {
    if (receipt.receipt_id().empty()) continue;  // cannot be acknowledged
    if (receipt.kind() != provider::v1::RECEIPT_KIND_READ || receipt.letter_id().empty() ||
        receipt.letter_id().size() > 64) {
      Count(&CourierStats::receipts_refused);
      if (metrics_ != nullptr) metrics_->Receipt(provider_id, "refused");
      service::Log(spdlog::level::warn, "courier refuses a malformed receipt",
                   {{"provider", ProviderLabel(provider_id)},
                    {"kind", provider::v1::ReceiptKind_Name(receipt.kind())}});
      ack.add_receipt_ids(receipt.receipt_id());
      continue;
    }
    internal::v1::RecordTransitionRequest request;
    request.set_letter_id(receipt.letter_id());
    request.set_provider_id(provider_id);
    internal::v1::Transition* t = request.mutable_transition();
    t->set_expected_status(v1::LETTER_STATUS_DELIVERED_DIGITALLY);
    t->set_status(v1::LETTER_STATUS_READ);
    t->set_reason(v1::STATUS_REASON_RECIPIENT_OPENED);
    internal::v1::RecordTransitionResponse response;
    grpc::Status status;
    bool stopping = false;
    // Its own ledger first, then the other shards' until one knows the letter.
    for (size_t ledger = 0; ledger <= other_ledgers_.size(); ++ledger) {
      internal::v1::TaskService::Stub& stub = ledger == 0 ? *tasks_ : *other_ledgers_[ledger - 1];
      grpc::ClientContext context;
      SetDeadline(context, config_.rpc_timeout);
      if (!Track(&context)) {
        stopping = true;
        break;
      }
      status = stub.RecordTransition(&context, request, &response);
      Untrack(&context);
      if (status.error_code() != grpc::StatusCode::NOT_FOUND) break;
    }
    if (stopping) break;
    const grpc::StatusCode code = status.error_code();
    // A provider may report a read before the courier has recorded the delivery (the
    // simulated recipient reads at once): the ledger then answers PERMISSION_DENIED (not yet
    // handed to this provider, as far as it knows) or FAILED_PRECONDITION (still ROUTED). A
    // recent receipt is kept and pulled again, so the read is not lost; an old one is not.
    const bool recent =
        receipt.has_time() && clock_.Now() - common::FromProto(receipt.time()) < kEarlyReceiptGrace;
    if (recent && (code == grpc::StatusCode::PERMISSION_DENIED ||
                   code == grpc::StatusCode::FAILED_PRECONDITION)) {
      Count(&CourierStats::receipts_kept);
      if (metrics_ != nullptr) metrics_->Receipt(provider_id, "early");
      continue;
    }
    if (status.ok()) {
      Count(&CourierStats::receipts_recorded);
      if (metrics_ != nullptr)
        metrics_->Receipt(provider_id, response.replayed() ? "replayed" : "recorded");
      ack.add_receipt_ids(receipt.receipt_id());
    } else if (code == grpc::StatusCode::PERMISSION_DENIED || code == grpc::StatusCode::NOT_FOUND ||
               code == grpc::StatusCode::INVALID_ARGUMENT) {
      Count(&CourierStats::receipts_refused);
      if (metrics_ != nullptr) metrics_->Receipt(provider_id, "refused");
      // The letter id is only logged when it names a letter this provider was handed.
      service::Log(spdlog::level::warn, "courier refuses a receipt",
                   {{"provider", ProviderLabel(provider_id)}, {"code", service::CodeName(code)}});
      ack.add_receipt_ids(receipt.receipt_id());
    } else if (code == grpc::StatusCode::FAILED_PRECONDITION) {
      Count(&CourierStats::receipts_refused);
      if (metrics_ != nullptr) metrics_->Receipt(provider_id, "moved_on");
      ack.add_receipt_ids(receipt.receipt_id());
    } else {
      Count(&CourierStats::receipts_kept);
      if (metrics_ != nullptr) metrics_->Receipt(provider_id, "kept");
    }
  }
  if (ack.receipt_ids_size() > 0) {
    provider::v1::AcknowledgeReceiptsResponse acked;
    grpc::ClientContext context;
    SetDeadline(context, config_.provider_timeout);
    context.AddMetadata(kProviderIdHeader, provider_id);
    if (Track(&context)) {
      grpc::Status status = stub->AcknowledgeReceipts(&context, ack, &acked);
      Untrack(&context);
      // Not acknowledged: offered again and recorded again, which the ledger replays.
      if (!status.ok()) {
        service::Log(spdlog::level::debug, "courier could not acknowledge receipts",
                     {{"provider", ProviderLabel(provider_id)},
                      {"code", service::CodeName(status.error_code())}});
      }
    }
  }
  return pulled.receipts_size();
}

void Courier::ReceiptLoop(std::string provider_id) {
  int failures = 0;
  while (!stopping()) {
    absl::StatusOr<int> pulled = PullReceiptsOnce(provider_id);
    if (!pulled.ok()) {
      if (stopping()) return;
      if (failures == 0) {
        service::Log(spdlog::level::warn, "courier cannot pull receipts",
                     {{"provider", ProviderLabel(provider_id)},
                      {"code", absl::StatusCodeToString(pulled.status().code())}});
      }
      ++failures;
      // Unknown providers and failing ones are asked less often, but never more than ten
      // poll intervals apart: a provider that comes back (or an endpoint that the registry
      // corrects) has its receipts taken soon.
      const absl::Duration cap =
          std::min(10 * config_.receipt_poll_interval,
                   std::max(config_.backoff_max, config_.receipt_poll_interval));
      absl::Duration wait = config_.receipt_poll_interval;
      for (int i = 1; i < failures && wait < cap; ++i) wait *= 2;
      if (!Wait(std::min(wait, cap) * (0.5 + 0.5 * UnitRandom()))) return;
      continue;
    }
    failures = 0;
    // A full pull means more are waiting.
    if (*pulled < static_cast<int>(kReceiptsPerPull) && !Wait(config_.receipt_poll_interval)) {
      return;
    }
  }
}

}  // namespace utpost::courier
