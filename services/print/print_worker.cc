#include "services/print/print_worker.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "pdf/cover_page.h"
#include "pdf/printability.h"
#include "services/common/lease_loop.h"
#include "services/common/log.h"

namespace utpost::print {
namespace {

using google::protobuf::util::TimeUtil;
using internal::v1::Task;
using storage::v1::PrintBatchRecord;

constexpr size_t kMaxDetail = 1000;
constexpr size_t kChunkBytes = 256 * 1024;
// ReadDocuments: the most documents and bytes one letter may bring (the ledger's own limits
// are lower: 100 documents, 50 MiB by default).
constexpr int kMaxDocuments = 100;
constexpr uint64_t kMaxLetterBytes = uint64_t{512} << 20;

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

std::string CodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

bool MeansDrop(absl::StatusCode code) {
  return code == absl::StatusCode::kAborted || code == absl::StatusCode::kFailedPrecondition ||
         code == absl::StatusCode::kNotFound || code == absl::StatusCode::kInvalidArgument;
}

std::string Cut(std::string s) {
  if (s.size() > kMaxDetail) s.resize(kMaxDetail);
  return s;
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
}

}  // namespace

PrintWorker::PrintWorker(PrintConfig config, std::shared_ptr<grpc::ChannelInterface> tasks,
                         std::shared_ptr<grpc::ChannelInterface> registry,
                         ProviderChannelFn provider, SpoolStore& store, const BatchSealer& sealer,
                         const common::Clock& clock, std::function<double()> unit_random)
    : config_(std::move(config)),
      tasks_(internal::v1::TaskService::NewStub(tasks)),
      registry_(internal::v1::RegistryLookupService::NewStub(registry)),
      provider_channel_(std::move(provider)),
      store_(store),
      sealer_(sealer),
      clock_(clock),
      unit_random_(std::move(unit_random)),
      prng_(std::random_device{}()) {}

PrintWorker::~PrintWorker() { Stop(); }

absl::Status PrintWorker::Start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return absl::FailedPreconditionError("print worker started before");
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void PrintWorker::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (grpc::ClientContext* context : blocking_calls_) context->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

PrintStats PrintWorker::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void PrintWorker::Count(uint64_t PrintStats::*field, uint64_t n) {
  std::lock_guard lock(mu_);
  stats_.*field += n;
}

SpoolGauges PrintWorker::gauges() {
  SpoolGauges g;
  absl::StatusOr<std::vector<PrintBatchRecord>> batches = store_.Batches();
  if (!batches.ok()) return g;
  for (const PrintBatchRecord& b : *batches) {
    switch (b.state()) {
      case storage::v1::PRINT_BATCH_STATE_OPEN:
        ++g.open;
        break;
      case storage::v1::PRINT_BATCH_STATE_CLOSED:
        ++g.closed;
        break;
      case storage::v1::PRINT_BATCH_STATE_SUBMITTED:
        ++g.submitted;
        break;
      default:
        ++g.finishing;
        break;
    }
    g.backlog += b.letter_count();
  }
  absl::StatusOr<std::vector<PendingLetter>> pending = store_.Pending();
  if (pending.ok()) g.backlog += pending->size();
  return g;
}

void PrintWorker::Loop() {
  service::LeaseLoop{
      .component = "print",
      .worker = config_.name,
      .poll_interval = config_.poll_interval,
      .lease_once = [this] { return RunOnce(); },
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

bool PrintWorker::Wait(absl::Duration d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return stopping_; });
  return !stopping_;
}

double PrintWorker::UnitRandom() {
  if (unit_random_) return std::clamp(unit_random_(), 0.0, 1.0);
  std::lock_guard lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(prng_);
}

absl::Duration PrintWorker::Backoff(int attempt) {
  absl::Duration base = config_.backoff_min;
  for (int i = 0; i < attempt && base < config_.backoff_max; ++i) base *= 2;
  base = std::min(base, config_.backoff_max);
  return base / 2 + (base / 2) * UnitRandom();
}

void PrintWorker::SetDeadline(grpc::ClientContext& context, absl::Duration timeout) const {
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
}

void PrintWorker::AddProviderMetadata(grpc::ClientContext& context) const {
  context.AddMetadata("utpost-provider-id", config_.provider_id);
}

bool PrintWorker::Track(grpc::ClientContext* context) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  blocking_calls_.insert(context);
  return true;
}

void PrintWorker::Untrack(grpc::ClientContext* context) {
  std::lock_guard lock(mu_);
  blocking_calls_.erase(context);
}

std::string PrintWorker::NewBatchId() {
  // Time first, so that ids sort by opening; random after, so that two print processes
  // sharing a provider never collide. [A-Za-z0-9-], 31 characters.
  const std::string time = absl::FormatTime("%Y%m%d-%H%M%S", clock_.Now(), absl::UTCTimeZone());
  uint64_t r;
  {
    std::lock_guard lock(mu_);
    r = prng_();
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(r));
  return absl::StrCat("b", time, "-", hex);
}

provider::v1::PrintProviderService::Stub* PrintWorker::Provider() {
  if (provider_ == nullptr) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> channel = provider_channel_();
    if (!channel.ok()) {
      Count(&PrintStats::errors);
      service::Log(spdlog::level::warn, "print cannot reach its provider",
                   {{"provider_id", config_.provider_id},
                    {"error", std::string(channel.status().message())}});
      return nullptr;
    }
    provider_ = provider::v1::PrintProviderService::NewStub(*std::move(channel));
  }
  return provider_.get();
}

absl::StatusOr<int> PrintWorker::RunOnce() {
  if (absl::Status s = SettlePending(); !s.ok()) Count(&PrintStats::errors);
  absl::StatusOr<int> leased = LeaseAndSpool();
  if (absl::Status s = CloseDueBatches(); !s.ok()) {
    Count(&PrintStats::errors);
    service::Log(spdlog::level::warn, "print cannot close a batch",
                 {{"code", CodeName(s.code())}, {"error", std::string(s.message())}});
  }
  if (absl::Status s = SubmitClosed(); !s.ok()) Count(&PrintStats::errors);
  if (absl::Status s = PollSubmitted(); !s.ok()) Count(&PrintStats::errors);
  if (absl::Status s = FinishBatches(); !s.ok()) Count(&PrintStats::errors);
  return leased;
}

// --- Spooling -----------------------------------------------------------------------------

absl::Status PrintWorker::SettlePending() {
  UTPOST_ASSIGN_OR_RETURN(std::vector<PendingLetter> pending, store_.Pending());
  absl::Status first;
  for (const PendingLetter& p : pending) {
    absl::Status s = Settle(p);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

absl::Status PrintWorker::Settle(const PendingLetter& pending) {
  internal::v1::CompleteTaskResponse response;
  grpc::ClientContext context;
  SetDeadline(context, config_.rpc_timeout);
  if (!Track(&context)) return absl::CancelledError("print stopping");
  absl::Status status = FromGrpc(tasks_->CompleteTask(&context, pending.completion, &response));
  Untrack(&context);
  if (status.ok()) {
    UTPOST_RETURN_IF_ERROR(store_.Commit(pending.batch_id, pending.letter_id));
    Count(&PrintStats::spooled);
    service::Log(spdlog::level::debug, "print spooled a letter",
                 {{"letter_id", pending.letter_id},
                  {"batch_id", pending.batch_id},
                  {"replayed", response.replayed() ? "true" : "false"}});
    return absl::OkStatus();
  }
  if (MeansDrop(status.code())) {
    UTPOST_RETURN_IF_ERROR(store_.Drop(pending.batch_id, pending.letter_id));
    Count(&PrintStats::dropped);
    service::Log(spdlog::level::info, "print drops a spooled letter",
                 {{"letter_id", pending.letter_id}, {"code", CodeName(status.code())}});
    return absl::OkStatus();
  }
  // Unknown outcome: the stored request is sent again on the next pass.
  return status;
}

absl::StatusOr<int> PrintWorker::LeaseAndSpool() {
  internal::v1::LeaseTasksRequest request;
  request.set_kind(internal::v1::TASK_KIND_PRINT);
  request.set_max_tasks(config_.lease_batch);
  *request.mutable_lease_for() =
      TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(config_.lease_for));
  request.set_worker(config_.name);
  internal::v1::LeaseTasksResponse response;
  grpc::ClientContext context;
  SetDeadline(context, config_.rpc_timeout);
  if (!Track(&context)) return absl::CancelledError("print stopping");
  grpc::Status status = tasks_->LeaseTasks(&context, request, &response);
  Untrack(&context);
  if (!status.ok()) {
    Count(&PrintStats::errors);
    return FromGrpc(status);
  }
  Count(&PrintStats::leased, static_cast<uint64_t>(response.tasks_size()));
  for (const Task& task : response.tasks()) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;  // the rest of the leases expire and go to another pass
    }
    if (task.kind() != internal::v1::TASK_KIND_PRINT) {
      service::Log(spdlog::level::err, "print was leased a task of another kind",
                   {{"task_id", task.task_id()}});
      continue;
    }
    SpoolTask(task);
  }
  return response.tasks_size();
}

void PrintWorker::SpoolTask(const Task& task) {
  const internal::v1::TaskLetter& letter = task.letter();
  const v1::LetterStatus status = letter.status();
  if (status != v1::LETTER_STATUS_ROUTED && status != v1::LETTER_STATUS_DELIVERED_DIGITALLY) {
    // Read, printed or failed since the task was queued: nothing to print. Finishing the task
    // without a change checks that the letter is still so.
    internal::v1::CompleteTaskRequest request;
    request.set_lease_token(task.lease_token());
    request.mutable_transition()->set_expected_status(status);
    Complete(task, std::move(request));
    return;
  }
  for (int i = 0; i < letter.printability_size(); ++i) {
    if (!letter.printability(i).printable()) {
      CompleteFailed(task, v1::STATUS_REASON_CONTENT_NOT_DELIVERABLE,
                     absl::StrCat("document ", i + 1, ": ", letter.printability(i).problem()));
      return;
    }
  }
  absl::StatusOr<std::optional<std::string>> spooled = store_.BatchOf(letter.letter_id());
  if (!spooled.ok()) {
    Count(&PrintStats::errors);
    Fail(task, "print spool unavailable");
    return;
  }
  if (spooled->has_value()) {
    // Spooled before (and settled: pending letters are settled before each lease). The task
    // is a second one for the same letter: it is not printed twice.
    service::Log(spdlog::level::warn, "print was given a letter it spooled before",
                 {{"letter_id", letter.letter_id()}, {"batch_id", **spooled}});
    internal::v1::CompleteTaskRequest request;
    request.set_lease_token(task.lease_token());
    request.mutable_transition()->set_expected_status(status);
    Complete(task, std::move(request));
    return;
  }

  absl::StatusOr<std::vector<Document>> documents = ReadDocuments(task.lease_token());
  if (!documents.ok()) {
    const absl::StatusCode code = documents.status().code();
    if (code == absl::StatusCode::kAborted || code == absl::StatusCode::kNotFound ||
        code == absl::StatusCode::kCancelled) {
      Count(&PrintStats::dropped);
      return;  // not this worker's task any more
    }
    if (code == absl::StatusCode::kFailedPrecondition) {
      CompleteFailed(task, v1::STATUS_REASON_CONTENT_NOT_DELIVERABLE,
                     "the documents are no longer available");
      return;
    }
    if (code == absl::StatusCode::kDataLoss) {
      CompleteFailed(task, v1::STATUS_REASON_CONTENT_NOT_DELIVERABLE,
                     Cut(std::string(documents.status().message())));
      return;
    }
    Count(&PrintStats::errors);
    Fail(task, absl::StrCat("reading the documents failed: ", CodeName(code)));
    return;
  }
  if (documents->empty()) {
    CompleteFailed(task, v1::STATUS_REASON_CONTENT_NOT_DELIVERABLE, "the letter has no documents");
    return;
  }

  provider::v1::SpoolLetter spool;
  spool.set_letter_id(letter.letter_id());
  spool.set_colour(letter.options().print_colour());
  spool.set_duplex(letter.options().print_duplex());
  pdf::PrintabilityLimits limits;
  limits.max_pages = config_.max_pages;
  limits.tolerance_mm = config_.page_tolerance_mm;
  for (size_t i = 0; i < documents->size(); ++i) {
    Document& d = (*documents)[i];
    uint32_t pages = 0;
    if (static_cast<int>(i) < letter.printability_size()) {
      pages = letter.printability(static_cast<int>(i)).page_count();
    }
    if (letter.printability_size() == 0 || pages == 0) {
      // A letter accepted before the ledger checked printability: check it here.
      internal::v1::Printability p = pdf::CheckPrintable(d.content, limits);
      if (!p.printable()) {
        CompleteFailed(task, v1::STATUS_REASON_CONTENT_NOT_DELIVERABLE,
                       absl::StrCat("document ", i + 1, ": ", p.problem()));
        return;
      }
      pages = p.page_count();
    }
    provider::v1::SpoolDocument* doc = spool.add_documents();
    doc->set_filename(d.header.filename());
    doc->set_page_count(pages);
    doc->set_content(std::move(d.content));
  }
  documents->clear();

  absl::StatusOr<std::optional<v1::PostalAddress>> address = AddressOf(letter);
  if (!address.ok()) {
    Count(&PrintStats::errors);
    Fail(task, absl::StrCat("registry lookup failed: ", CodeName(address.status().code())));
    return;
  }
  if (!address->has_value()) {
    CompleteFailed(task, v1::STATUS_REASON_NO_CHANNEL, "no postal address for print");
    return;
  }
  pdf::CoverPageInput cover;
  cover.address = **address;
  cover.sender = pdf::SenderLabel(letter.sender());
  cover.letter_id = letter.letter_id();
  cover.home_country = config_.home_country;
  absl::StatusOr<std::string> cover_pdf = pdf::MakeCoverPage(cover);
  if (!cover_pdf.ok()) {
    if (cover_pdf.status().code() == absl::StatusCode::kInvalidArgument) {
      CompleteFailed(task, v1::STATUS_REASON_NO_CHANNEL,
                     "the postal address lacks a name, postal code or city");
    } else {
      Count(&PrintStats::errors);
      Fail(task, "making the cover page failed");
    }
    return;
  }
  *spool.mutable_postal_address() = **std::move(address);
  spool.set_cover_pdf(*std::move(cover_pdf));

  absl::StatusOr<std::string> batch_id = OpenBatchFor(spool.ByteSizeLong());
  if (!batch_id.ok()) {
    Count(&PrintStats::errors);
    Fail(task, "print spool unavailable");
    return;
  }
  internal::v1::CompleteTaskRequest completion;
  completion.set_lease_token(task.lease_token());
  internal::v1::Transition* t = completion.mutable_transition();
  t->set_expected_status(status);
  t->set_status(v1::LETTER_STATUS_QUEUED_FOR_PRINT);
  t->set_reason(task.reason() != v1::STATUS_REASON_UNSPECIFIED ? task.reason() : letter.reason());
  t->set_channel(v1::CHANNEL_PRINT);
  t->set_provider_id(config_.provider_id);
  t->set_detail(absl::StrCat("batch ", *batch_id));
  if (absl::Status s = store_.PutPending(*batch_id, spool, completion, clock_.Now()); !s.ok()) {
    Count(&PrintStats::errors);
    service::Log(spdlog::level::err, "print cannot spool a letter",
                 {{"letter_id", letter.letter_id()}, {"code", CodeName(s.code())}});
    Fail(task, "print spool unavailable");
    return;
  }
  if (absl::Status s = Settle({*batch_id, letter.letter_id(), std::move(completion)}); !s.ok()) {
    Count(&PrintStats::errors);
  }
}

absl::StatusOr<std::vector<PrintWorker::Document>> PrintWorker::ReadDocuments(
    const std::string& lease_token) {
  internal::v1::ReadDocumentsRequest request;
  request.set_lease_token(lease_token);
  grpc::ClientContext context;
  SetDeadline(context, config_.stream_timeout);
  if (!Track(&context)) return absl::CancelledError("print stopping");
  std::unique_ptr<grpc::ClientReader<internal::v1::ReadDocumentsResponse>> reader =
      tasks_->ReadDocuments(&context, request);
  std::vector<Document> out;
  internal::v1::ReadDocumentsResponse message;
  uint64_t total = 0;
  absl::Status broken;
  while (broken.ok() && reader->Read(&message)) {
    if (message.has_header()) {
      if (!out.empty() && out.back().content.size() != out.back().header.size()) {
        broken = absl::InternalError("a document ended short of its size");
      } else if (static_cast<int>(out.size()) >= kMaxDocuments ||
                 message.header().size() > kMaxLetterBytes - total) {
        broken = absl::InternalError("the letter is larger than print takes");
      } else {
        total += message.header().size();
        out.push_back({message.header(), {}});
        out.back().content.reserve(message.header().size());
      }
    } else if (message.part_case() == internal::v1::ReadDocumentsResponse::kChunk) {
      if (out.empty() ||
          message.chunk().size() > out.back().header.size() - out.back().content.size()) {
        broken = absl::InternalError("document content beyond its size");
      } else {
        out.back().content.append(message.chunk());
      }
    }
  }
  if (!broken.ok()) context.TryCancel();
  grpc::Status status = reader->Finish();
  Untrack(&context);
  if (!broken.ok()) return broken;
  if (!status.ok()) return FromGrpc(status);
  if (!out.empty() && out.back().content.size() != out.back().header.size()) {
    return absl::InternalError("a document ended short of its size");
  }
  return out;
}

absl::StatusOr<std::optional<v1::PostalAddress>> PrintWorker::AddressOf(
    const internal::v1::TaskLetter& letter) {
  if (letter.has_postal_address() && !letter.postal_address().name().empty()) {
    return letter.postal_address();
  }
  internal::v1::LookupRequest request;
  v1::RegistryKey* key = request.add_keys();
  if (letter.recipient().has_person()) {
    *key->mutable_person() = letter.recipient().person();
  } else if (letter.recipient().has_organisation()) {
    *key->mutable_organisation() = letter.recipient().organisation();
  } else {
    return std::nullopt;
  }
  internal::v1::LookupResponse response;
  grpc::ClientContext context;
  SetDeadline(context, config_.rpc_timeout);
  if (!Track(&context)) return absl::CancelledError("print stopping");
  grpc::Status status = registry_->Lookup(&context, request, &response);
  Untrack(&context);
  if (!status.ok()) return FromGrpc(status);
  if (response.results_size() != 1) {
    return absl::InternalError("registry answered with the wrong number of results");
  }
  const v1::RegistryEntry& entry = response.results(0).entry();
  const v1::PostalAddress* address = nullptr;
  if (entry.has_person() && entry.person().has_postal_address()) {
    address = &entry.person().postal_address();
  } else if (entry.has_organisation() && entry.organisation().has_postal_address()) {
    address = &entry.organisation().postal_address();
  }
  if (address == nullptr || address->name().empty()) return std::nullopt;
  return *address;
}

absl::StatusOr<std::string> PrintWorker::OpenBatchFor(uint64_t letter_bytes) {
  UTPOST_ASSIGN_OR_RETURN(std::vector<PrintBatchRecord> batches, store_.Batches());
  for (const PrintBatchRecord& b : batches) {
    if (b.state() != storage::v1::PRINT_BATCH_STATE_OPEN) continue;
    const bool full =
        b.letter_count() >= config_.batch_max_letters ||
        (b.letter_count() > 0 && b.letter_bytes() + letter_bytes > config_.batch_max_bytes);
    if (!full) return b.batch_id();
    // Full: it closes now (it has no pending letter: each is settled before the next is
    // spooled, or left pending only when the ledger could not be reached).
    UTPOST_ASSIGN_OR_RETURN(int pending, store_.PendingIn(b.batch_id()));
    if (pending > 0) return absl::UnavailableError("the open batch waits for pending letters");
    UTPOST_RETURN_IF_ERROR(CloseBatch(b));
  }
  const std::string id = NewBatchId();
  UTPOST_RETURN_IF_ERROR(store_.OpenBatch(id, clock_.Now()));
  return id;
}

// --- Batches ------------------------------------------------------------------------------

absl::Status PrintWorker::CloseDueBatches() {
  UTPOST_ASSIGN_OR_RETURN(std::vector<PrintBatchRecord> batches, store_.Batches());
  const absl::Time now = clock_.Now();
  for (const PrintBatchRecord& b : batches) {
    if (b.state() != storage::v1::PRINT_BATCH_STATE_OPEN) continue;
    const bool window_over = now - FromProto(b.open_time()) >= config_.batch_window;
    const bool full = b.letter_count() >= config_.batch_max_letters ||
                      b.letter_bytes() >= config_.batch_max_bytes;
    if (!window_over && !full) continue;
    UTPOST_ASSIGN_OR_RETURN(int pending, store_.PendingIn(b.batch_id()));
    if (pending > 0) continue;  // closes once its pending letters are settled
    if (b.letter_count() == 0) {
      UTPOST_RETURN_IF_ERROR(store_.FinishBatch(b.batch_id()));  // nothing came: forget it
      continue;
    }
    UTPOST_RETURN_IF_ERROR(CloseBatch(b));
  }
  return absl::OkStatus();
}

absl::Status PrintWorker::CloseBatch(PrintBatchRecord record) {
  UTPOST_ASSIGN_OR_RETURN(provider::v1::SpoolBatch content, store_.ReadBatch(record.batch_id()));
  record.clear_letter_ids();
  for (const provider::v1::SpoolLetter& l : content.letters()) record.add_letter_ids(l.letter_id());
  record.set_letter_count(static_cast<uint32_t>(content.letters_size()));
  std::string plain = content.SerializeAsString();
  content.Clear();
  UTPOST_ASSIGN_OR_RETURN(std::string envelope, sealer_.Seal(plain));
  plain.clear();
  UTPOST_RETURN_IF_ERROR(store_.CloseBatch(record, envelope));
  Count(&PrintStats::batches_closed);
  service::Log(spdlog::level::info, "print closed a batch",
               {{"batch_id", record.batch_id()},
                {"letters", absl::StrCat(record.letter_count())},
                {"envelope_bytes", absl::StrCat(envelope.size())}});
  return absl::OkStatus();
}

absl::Status PrintWorker::SubmitClosed() {
  UTPOST_ASSIGN_OR_RETURN(std::vector<PrintBatchRecord> batches, store_.Batches());
  const absl::Time now = clock_.Now();
  absl::Status first;
  for (PrintBatchRecord& b : batches) {
    if (b.state() != storage::v1::PRINT_BATCH_STATE_CLOSED) continue;
    provider::v1::PrintProviderService::Stub* provider = Provider();
    if (provider == nullptr) return absl::UnavailableError("print provider unreachable");
    Retry& retry = submit_retry_[b.batch_id()];
    if (retry.attempts > 0 && now < retry.next) continue;
    UTPOST_ASSIGN_OR_RETURN(std::string envelope, store_.Envelope(b.batch_id()));
    provider::v1::SubmitBatchResponse response;
    grpc::ClientContext context;
    SetDeadline(context, config_.stream_timeout);
    AddProviderMetadata(context);
    if (!Track(&context)) return absl::CancelledError("print stopping");
    std::unique_ptr<grpc::ClientWriter<provider::v1::SubmitBatchRequest>> writer =
        provider->SubmitBatch(&context, &response);
    provider::v1::SubmitBatchRequest message;
    provider::v1::BatchHeader* header = message.mutable_header();
    header->set_batch_id(b.batch_id());
    header->set_letter_count(b.letter_count());
    header->set_envelope_size(envelope.size());
    bool sent = writer->Write(message);
    for (size_t at = 0; sent && at < envelope.size(); at += kChunkBytes) {
      message.Clear();
      message.set_chunk(envelope.substr(at, kChunkBytes));
      sent = writer->Write(message);
    }
    if (sent) writer->WritesDone();
    absl::Status status = FromGrpc(writer->Finish());
    Untrack(&context);
    if (status.ok()) {
      b.set_state(storage::v1::PRINT_BATCH_STATE_SUBMITTED);
      UTPOST_RETURN_IF_ERROR(store_.PutBatch(b));
      submit_retry_.erase(b.batch_id());
      next_poll_[b.batch_id()] = now + config_.status_poll_interval;
      Count(&PrintStats::batches_submitted);
      service::Log(
          spdlog::level::info, "print submitted a batch",
          {{"batch_id", b.batch_id()}, {"replayed", response.replayed() ? "true" : "false"}});
    } else if (status.code() == absl::StatusCode::kInvalidArgument) {
      // The provider refuses the batch for good: its letters fail with the provider's word.
      b.set_state(storage::v1::PRINT_BATCH_STATE_FINISHING);
      b.set_printed(false);
      b.set_detail(
          Cut(absl::StrCat("print provider refused batch ", b.batch_id(), ": ", status.message())));
      UTPOST_RETURN_IF_ERROR(store_.PutBatch(b));
      submit_retry_.erase(b.batch_id());
      Count(&PrintStats::batches_rejected);
      service::Log(spdlog::level::err, "print provider refused a batch",
                   {{"batch_id", b.batch_id()}, {"code", CodeName(status.code())}});
    } else {
      retry.next = now + Backoff(retry.attempts);
      ++retry.attempts;
      if (first.ok()) first = status;
      service::Log(spdlog::level::warn, "print cannot submit a batch",
                   {{"batch_id", b.batch_id()},
                    {"code", CodeName(status.code())},
                    {"attempts", absl::StrCat(retry.attempts)}});
    }
  }
  return first;
}

absl::Status PrintWorker::PollSubmitted() {
  UTPOST_ASSIGN_OR_RETURN(std::vector<PrintBatchRecord> batches, store_.Batches());
  const absl::Time now = clock_.Now();
  absl::Status first;
  for (PrintBatchRecord& b : batches) {
    if (b.state() != storage::v1::PRINT_BATCH_STATE_SUBMITTED) continue;
    provider::v1::PrintProviderService::Stub* provider = Provider();
    if (provider == nullptr) return absl::UnavailableError("print provider unreachable");
    auto due = next_poll_.find(b.batch_id());
    if (due != next_poll_.end() && now < due->second) continue;
    next_poll_[b.batch_id()] = now + config_.status_poll_interval;
    provider::v1::GetBatchRequest request;
    request.set_batch_id(b.batch_id());
    provider::v1::GetBatchResponse response;
    grpc::ClientContext context;
    SetDeadline(context, config_.rpc_timeout);
    AddProviderMetadata(context);
    if (!Track(&context)) return absl::CancelledError("print stopping");
    absl::Status status = FromGrpc(provider->GetBatch(&context, request, &response));
    Untrack(&context);
    if (status.code() == absl::StatusCode::kNotFound) {
      // The provider lost it: submit again (idempotent by batch id).
      b.set_state(storage::v1::PRINT_BATCH_STATE_CLOSED);
      UTPOST_RETURN_IF_ERROR(store_.PutBatch(b));
      service::Log(spdlog::level::warn, "print provider does not know a submitted batch",
                   {{"batch_id", b.batch_id()}});
      continue;
    }
    if (!status.ok()) {
      if (first.ok()) first = status;
      continue;
    }
    if (response.state() == provider::v1::BATCH_STATE_PRINTED) {
      b.set_state(storage::v1::PRINT_BATCH_STATE_FINISHING);
      b.set_printed(true);
      UTPOST_RETURN_IF_ERROR(store_.PutBatch(b));
      next_poll_.erase(b.batch_id());
      Count(&PrintStats::batches_printed);
    } else if (response.state() == provider::v1::BATCH_STATE_REJECTED) {
      b.set_state(storage::v1::PRINT_BATCH_STATE_FINISHING);
      b.set_printed(false);
      b.set_detail(Cut(
          absl::StrCat("print provider rejected batch ", b.batch_id(), ": ", response.detail())));
      UTPOST_RETURN_IF_ERROR(store_.PutBatch(b));
      next_poll_.erase(b.batch_id());
      Count(&PrintStats::batches_rejected);
    }
  }
  return first;
}

absl::Status PrintWorker::FinishBatches() {
  UTPOST_ASSIGN_OR_RETURN(std::vector<PrintBatchRecord> batches, store_.Batches());
  for (const PrintBatchRecord& b : batches) {
    if (b.state() != storage::v1::PRINT_BATCH_STATE_FINISHING) continue;
    for (const std::string& letter_id : b.letter_ids()) {
      internal::v1::RecordTransitionRequest request;
      request.set_letter_id(letter_id);
      request.set_provider_id(config_.provider_id);
      internal::v1::Transition* t = request.mutable_transition();
      t->set_expected_status(v1::LETTER_STATUS_QUEUED_FOR_PRINT);
      t->set_channel(v1::CHANNEL_PRINT);
      if (b.printed()) {
        t->set_status(v1::LETTER_STATUS_PRINTED);
        t->set_reason(v1::STATUS_REASON_PRINT_CONFIRMED);
      } else {
        t->set_status(v1::LETTER_STATUS_FAILED);
        t->set_reason(v1::STATUS_REASON_CONTENT_NOT_DELIVERABLE);
        t->set_detail(b.detail());
      }
      internal::v1::RecordTransitionResponse response;
      grpc::ClientContext context;
      SetDeadline(context, config_.rpc_timeout);
      if (!Track(&context)) return absl::CancelledError("print stopping");
      absl::Status status = FromGrpc(tasks_->RecordTransition(&context, request, &response));
      Untrack(&context);
      if (status.ok()) {
        Count(b.printed() ? &PrintStats::letters_printed : &PrintStats::letters_failed);
      } else if (MeansDrop(status.code()) || status.code() == absl::StatusCode::kPermissionDenied) {
        // The letter is not (or no longer) this batch's to report on; the rest go on.
        service::Log(spdlog::level::warn, "print cannot record a letter's print outcome",
                     {{"letter_id", letter_id},
                      {"batch_id", b.batch_id()},
                      {"code", CodeName(status.code())}});
      } else {
        return status;  // all of the batch again on the next pass (replays are harmless)
      }
    }
    UTPOST_RETURN_IF_ERROR(store_.FinishBatch(b.batch_id()));
    service::Log(spdlog::level::info, "print finished a batch",
                 {{"batch_id", b.batch_id()},
                  {"printed", b.printed() ? "true" : "false"},
                  {"letters", absl::StrCat(b.letter_ids_size())}});
  }
  return absl::OkStatus();
}

// --- Completions --------------------------------------------------------------------------

void PrintWorker::Complete(const Task& task, internal::v1::CompleteTaskRequest request) {
  for (int sends = 0; sends < 3; ++sends) {
    internal::v1::CompleteTaskResponse response;
    grpc::ClientContext context;
    SetDeadline(context, config_.rpc_timeout);
    if (!Track(&context)) return;
    absl::Status status = FromGrpc(tasks_->CompleteTask(&context, request, &response));
    Untrack(&context);
    if (status.ok() || MeansDrop(status.code())) {
      if (!status.ok()) Count(&PrintStats::dropped);
      return;
    }
  }
  // Left to the lease's expiry: the task comes back and is decided again.
  Count(&PrintStats::errors);
  service::Log(spdlog::level::warn, "print gives a task up to its lease's expiry",
               {{"task_id", task.task_id()}});
}

void PrintWorker::CompleteFailed(const Task& task, v1::StatusReason reason,
                                 const std::string& detail) {
  internal::v1::CompleteTaskRequest request;
  request.set_lease_token(task.lease_token());
  internal::v1::Transition* t = request.mutable_transition();
  t->set_expected_status(task.letter().status());
  if (task.letter().status() == v1::LETTER_STATUS_ROUTED) {
    t->set_status(v1::LETTER_STATUS_FAILED);
    t->set_reason(reason);
    t->set_channel(v1::CHANNEL_PRINT);
    t->set_detail(Cut(detail));
  }
  // DELIVERED_DIGITALLY stays as it is: the recipient has the letter in the mailbox.
  Count(&PrintStats::not_printable);
  service::Log(
      spdlog::level::info, "print cannot print a letter",
      {{"letter_id", task.letter().letter_id()}, {"reason", v1::StatusReason_Name(reason)}});
  Complete(task, std::move(request));
}

void PrintWorker::Fail(const Task& task, const std::string& why) {
  internal::v1::FailTaskRequest request;
  request.set_lease_token(task.lease_token());
  *request.mutable_retry_at() = ToProto(clock_.Now() + Backoff(static_cast<int>(task.attempt())));
  request.set_reason(Cut(why));
  internal::v1::FailTaskResponse response;
  grpc::ClientContext context;
  SetDeadline(context, config_.rpc_timeout);
  if (!Track(&context)) return;
  grpc::Status status = tasks_->FailTask(&context, request, &response);
  Untrack(&context);
  Count(status.ok() ? &PrintStats::retried : &PrintStats::errors);
}

}  // namespace utpost::print
