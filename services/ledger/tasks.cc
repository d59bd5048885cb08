// The ledger's side of TaskService: leasing, completing and failing tasks (ledger.h).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "google/protobuf/util/time_util.h"
#include "services/ledger/ledger.h"
#include "services/ledger/task_validation.h"

namespace utpost::ledger {
namespace {

using common::FromProto;
using common::ToProto;

// Due times are kept in whole milliseconds (the queue's keys hold milliseconds), so that what
// a worker is told is exactly what is stored.
absl::Time WholeMillis(absl::Time t) { return absl::FromUnixMillis(absl::ToUnixMillis(t)); }

absl::Status StaleLease(const std::string& task_id) {
  return absl::AbortedError(absl::StrCat("the lease of task ", task_id,
                                         " is not current (it expired and the task was leased "
                                         "again, or it was given back); drop the task"));
}

}  // namespace

storage::TaskRecord Ledger::NewTask(storage::v1::TaskKind kind, const storage::LetterRecord& letter,
                                    absl::Time now, absl::Time due) {
  storage::TaskRecord task;
  task.set_task_id(task_ids_.Next(now));
  task.set_kind(kind);
  task.set_letter_id(letter.letter_id());
  task.set_sender(letter.sender());
  *task.mutable_create_time() = ToProto(now);
  *task.mutable_due_time() = ToProto(WholeMillis(std::max(due, now)));
  return task;
}

absl::Status Ledger::RemovePendingTasksLocked(storage::LetterRecord& record,
                                              std::string_view except,
                                              std::deque<common::KeyedMutex::Lock>& locks,
                                              std::vector<storage::TaskChange>& changes) {
  for (const std::string& task_id : record.pending_task_ids()) {
    if (task_id == except) continue;
    absl::StatusOr<common::LetterIdBytes> id = common::DecodeLetterId(task_id);
    if (!id.ok()) return absl::DataLossError(absl::StrCat("malformed pending task id ", task_id));
    locks.emplace_back(task_locks_, common::IdBytesKey(*id));
    UTPOST_ASSIGN_OR_RETURN(std::optional<storage::TaskRecord> task, store_.GetTask(*id));
    // Written and removed together with the letter record, so it is there.
    if (!task) {
      return absl::DataLossError(absl::StrCat("letter ", record.letter_id(), " names pending task ",
                                              task_id, ", which does not exist"));
    }
    changes.push_back({std::move(*task), std::nullopt});
  }
  auto* pending = record.mutable_pending_task_ids();
  pending->erase(std::remove_if(pending->begin(), pending->end(),
                                [&](const std::string& id) { return id != except; }),
                 pending->end());
  return absl::OkStatus();
}

absl::StatusOr<internal::v1::TaskLetter> Ledger::ViewForTask(
    const storage::LetterRecord& record) const {
  UTPOST_ASSIGN_OR_RETURN(storage::v1::LetterContent content, OpenContent(record));
  internal::v1::TaskLetter letter;
  letter.set_letter_id(record.letter_id());
  letter.set_sender(record.sender());
  letter.set_status(record.status());
  *letter.mutable_recipient() = std::move(*content.mutable_recipient());
  if (content.has_postal_address()) {
    *letter.mutable_postal_address() = std::move(*content.mutable_postal_address());
  }
  if (record.has_options()) *letter.mutable_options() = record.options();
  letter.set_channel(record.channel());
  letter.set_document_count(record.document_count());
  *letter.mutable_accepted_time() = record.accepted_time();
  letter.set_title(std::move(*content.mutable_title()));
  const bool print_checked =
      !content.documents().empty() &&
      std::all_of(content.documents().begin(), content.documents().end(),
                  [](const storage::v1::DocumentMeta& d) { return d.print_checked(); });
  if (print_checked) {
    for (const storage::v1::DocumentMeta& d : content.documents()) {
      internal::v1::Printability* p = letter.add_printability();
      p->set_printable(d.printable());
      p->set_problem(d.print_problem());
      p->set_page_count(d.page_count());
    }
  }
  if (!record.provider_ids().empty()) letter.set_provider_id(*record.provider_ids().rbegin());
  v1::StatusReason reason = record.reason();
  if (reason == v1::STATUS_REASON_UNSPECIFIED && record.event_count() > 0) {
    // A record written before the newest reason was kept in it: read off the newest event.
    absl::StatusOr<common::LetterIdBytes> id = common::DecodeLetterId(record.letter_id());
    if (!id.ok()) return absl::DataLossError("letter record with a malformed id");
    UTPOST_ASSIGN_OR_RETURN(std::optional<storage::EventRecord> newest,
                            store_.GetEvent(*id, record.event_count() - 1));
    if (newest) reason = newest->event().reason();
  }
  letter.set_reason(reason);
  return letter;
}

absl::StatusOr<internal::v1::LeaseTasksResponse> Ledger::LeaseTasks(
    const internal::v1::LeaseTasksRequest& request) {
  UTPOST_RETURN_IF_ERROR(ValidateLeaseTasks(request));
  return LeaseValidated(request);
}

absl::StatusOr<internal::v1::LeaseTasksResponse> Ledger::LeaseValidated(
    const internal::v1::LeaseTasksRequest& request) {
  const absl::Time now = clock_.Now();
  const absl::Time expire = WholeMillis(now + absl::Seconds(request.lease_for().seconds()) +
                                        absl::Nanoseconds(request.lease_for().nanos()));
  const google::protobuf::Timestamp expire_proto = ToProto(expire);

  UTPOST_ASSIGN_OR_RETURN(
      std::unique_ptr<storage::LeaseScan> scan,
      store_.ScanDue(static_cast<uint8_t>(request.kind()), now, request.max_tasks()));
  struct Leased {
    storage::TaskRecord task;
    storage::LetterRecord letter;
  };
  std::vector<Leased> leased;
  std::vector<storage::TaskChange> changes;
  std::deque<common::KeyedMutex::Lock> locks;
  for (const storage::DueEntry& entry : scan->due()) {
    // A task being completed, given back or cancelled right now is not due: skipped.
    locks.emplace_back(task_locks_, common::IdBytesKey(entry.task_id), std::try_to_lock);
    if (!locks.back().owns_lock()) {
      locks.pop_back();
      continue;
    }
    UTPOST_ASSIGN_OR_RETURN(std::optional<storage::TaskRecord> task, store_.GetTask(entry.task_id));
    // Finished or moved since the scan saw it.
    if (!task || storage::DueUnixMs(*task) != entry.due_unix_ms) continue;
    absl::StatusOr<common::LetterIdBytes> letter_id = common::DecodeLetterId(task->letter_id());
    if (!letter_id.ok()) return absl::DataLossError("task with a malformed letter id");
    UTPOST_ASSIGN_OR_RETURN(std::optional<storage::LetterRecord> letter,
                            store_.GetLetter(*letter_id));
    if (!letter) {
      // Cannot happen: a letter and its tasks are written together, and a letter record is
      // never deleted. Such a task could never be done; it is removed rather than leased
      // again and again.
      changes.push_back({std::move(*task), std::nullopt});
      continue;
    }
    storage::TaskRecord after = *task;
    after.set_attempt(task->attempt() + 1);
    *after.mutable_due_time() = expire_proto;
    *after.mutable_lease_expire_time() = expire_proto;
    after.set_worker(request.worker());
    changes.push_back({std::move(*task), after});
    leased.push_back({std::move(after), std::move(*letter)});
  }
  UTPOST_RETURN_IF_ERROR(store_.CommitLease(std::move(scan), changes));
  locks.clear();

  internal::v1::LeaseTasksResponse response;
  for (const Leased& l : leased) {
    internal::v1::Task* task = response.add_tasks();
    task->set_task_id(l.task.task_id());
    task->set_kind(static_cast<internal::v1::TaskKind>(l.task.kind()));
    task->set_attempt(l.task.attempt() - 1);
    *task->mutable_create_time() = l.task.create_time();
    LeaseToken token;
    token.task_id = *common::DecodeLetterId(l.task.task_id());
    token.letter_id = *common::DecodeLetterId(l.task.letter_id());
    token.attempt = l.task.attempt();
    task->set_lease_token(EncodeLeaseToken(token));
    *task->mutable_lease_expire_time() = expire_proto;
    task->set_reason(l.task.reason());
    task->set_detail(l.task.detail());
    UTPOST_ASSIGN_OR_RETURN(*task->mutable_letter(), ViewForTask(l.letter));
  }
  return response;
}

absl::StatusOr<internal::v1::CompleteTaskResponse> Ledger::CompleteTask(
    const internal::v1::CompleteTaskRequest& request) {
  const absl::Time now = clock_.Now();
  UTPOST_ASSIGN_OR_RETURN(const LeaseToken token, ValidateCompleteTask(request, now));
  PreparedCompletion completion;
  completion.locks.emplace_back(letter_locks_, common::IdBytesKey(token.letter_id));
  completion.locks.emplace_back(task_locks_, common::IdBytesKey(token.task_id));
  UTPOST_RETURN_IF_ERROR(PrepareCompletionLocked(token, request, now, completion));
  if (completion.answer) return *std::move(completion.answer);
  UTPOST_RETURN_IF_ERROR(CommitPreparedLocked({&*completion.prepared}));
  return AnswerCommitted(completion);
}

absl::StatusOr<std::vector<absl::StatusOr<internal::v1::CompleteTaskResponse>>>
Ledger::CompleteTasks(const internal::v1::CompleteTasksRequest& request) {
  const int n = request.completions_size();
  if (n == 0 || n > kMaxCompletions) {
    return common::FieldError(
        absl::StatusCode::kInvalidArgument, "completions",
        absl::StrCat("must have 1 to ", kMaxCompletions, " completions (has ", n, ")"));
  }
  const absl::Time now = clock_.Now();
  std::vector<absl::StatusOr<internal::v1::CompleteTaskResponse>> results(
      n, absl::InternalError("completion not answered"));
  // Held until the write is over; a deque, since locks do not move.
  std::deque<PreparedCompletion> completions(n);
  std::vector<int> later;      // their letter was locked: applied one by one afterwards
  std::vector<int> to_commit;  // prepared, in one write
  for (int i = 0; i < n; ++i) {
    const internal::v1::CompleteTaskRequest& item = request.completions(i);
    absl::StatusOr<LeaseToken> token = ValidateCompleteTask(item, now);
    if (!token.ok()) {
      results[i] = token.status();
      continue;
    }
    PreparedCompletion& c = completions[i];
    // The letter's lock is only tried: a thread that holds one letter's lock never waits for
    // another's (see letter_locks_). Its task's lock may be waited for: every thread that
    // holds a task lock either holds that task's letter lock (not here, then) or waits for
    // no other lock.
    c.locks.emplace_back(letter_locks_, common::IdBytesKey(token->letter_id), std::try_to_lock);
    if (!c.locks.back().owns_lock()) {
      c.locks.clear();
      later.push_back(i);
      continue;
    }
    c.locks.emplace_back(task_locks_, common::IdBytesKey(token->task_id));
    if (absl::Status s = PrepareCompletionLocked(*token, item, now, c); !s.ok()) {
      results[i] = s;
    } else if (c.answer) {
      results[i] = *std::move(c.answer);
    } else {
      to_commit.push_back(i);
      continue;
    }
    c.locks.clear();
  }
  if (!to_commit.empty()) {
    std::vector<PreparedUpdate*> prepared;
    prepared.reserve(to_commit.size());
    for (int i : to_commit) prepared.push_back(&*completions[i].prepared);
    const absl::Status committed = CommitPreparedLocked(prepared);
    for (int i : to_commit) {
      results[i] = committed.ok() ? AnswerCommitted(completions[i]) : committed;
    }
  }
  completions.clear();  // every lock let go
  for (int i : later) results[i] = CompleteTask(request.completions(i));
  return results;
}

absl::StatusOr<internal::v1::CompleteTaskResponse> Ledger::AnswerCommitted(
    const PreparedCompletion& completion) const {
  UTPOST_RETURN_IF_ERROR(completion.after_commit);
  internal::v1::CompleteTaskResponse response;
  UTPOST_ASSIGN_OR_RETURN(*response.mutable_letter(),
                          ViewForTask(completion.prepared->update.record));
  return response;
}

absl::Status Ledger::PrepareCompletionLocked(const LeaseToken& token,
                                             const internal::v1::CompleteTaskRequest& request,
                                             absl::Time now, PreparedCompletion& out) {
  const internal::v1::Transition& t = request.transition();
  const std::string task_id = common::EncodeLetterId(token.task_id);
  UTPOST_ASSIGN_OR_RETURN(std::optional<storage::LetterRecord> record,
                          store_.GetLetter(token.letter_id));
  if (!record) return absl::NotFoundError(absl::StrCat("task ", task_id, " not found"));
  UTPOST_ASSIGN_OR_RETURN(std::optional<storage::TaskRecord> task, store_.GetTask(token.task_id));
  if (!task) {
    UTPOST_ASSIGN_OR_RETURN(out.answer, AnswerFinishedTask(token, *record, t));
    return absl::OkStatus();
  }
  if (task->letter_id() != record->letter_id()) {
    return absl::NotFoundError(absl::StrCat("task ", task_id, " not found"));
  }
  if (task->attempt() != token.attempt || !task->has_lease_expire_time()) {
    return StaleLease(task_id);
  }
  const common::LetterIdBytes& id = token.letter_id;

  if (record->status() != t.expected_status()) {
    // Moved on without this task (e.g. a status applied outside the queue): the task is
    // finished, and nothing else changes.
    PreparedUpdate& prepared = out.prepared.emplace();
    prepared.now = now;
    storage::LetterUpdate& update = prepared.update;
    update.id = id;
    update.tasks.push_back({*task, std::nullopt});
    const v1::LetterStatus status = record->status();
    auto* pending = record->mutable_pending_task_ids();
    pending->erase(std::remove(pending->begin(), pending->end(), task_id), pending->end());
    update.record = std::move(*record);
    out.after_commit = absl::FailedPreconditionError(absl::StrCat(
        "letter ", update.record.letter_id(), " is ", v1::LetterStatus_Name(status), ", not ",
        v1::LetterStatus_Name(t.expected_status()), "; task ", task_id, " is finished"));
    return absl::OkStatus();
  }

  std::vector<storage::TaskChange> changes;
  changes.push_back({*task, std::nullopt});
  std::deque<common::KeyedMutex::Lock>& other_task_locks = out.locks;
  if (IsTerminal(t.status())) {
    UTPOST_RETURN_IF_ERROR(RemovePendingTasksLocked(*record, task_id, other_task_locks, changes));
  }
  auto* pending = record->mutable_pending_task_ids();
  pending->erase(std::remove(pending->begin(), pending->end(), task_id), pending->end());
  for (const internal::v1::NextTask& next : request.next_tasks()) {
    const absl::Time due = next.has_due_time() ? FromProto(next.due_time()) : now;
    storage::TaskRecord queued =
        NewTask(static_cast<storage::v1::TaskKind>(next.kind()), *record, now, due);
    queued.set_reason(next.reason());
    if (next.reason() == v1::STATUS_REASON_UNSPECIFIED &&
        next.kind() == internal::v1::TASK_KIND_PRINT) {
      queued.set_reason(t.reason());
    }
    queued.set_detail(next.detail());
    record->add_pending_task_ids(queued.task_id());
    changes.push_back({std::nullopt, std::move(queued)});
  }
  if (t.status() == v1::LETTER_STATUS_UNSPECIFIED) {
    // The letter keeps its status: no event, only the tasks.
    PreparedUpdate& prepared = out.prepared.emplace();
    prepared.now = now;
    prepared.update.id = id;
    prepared.update.tasks = std::move(changes);
    prepared.update.record = std::move(*record);
    return absl::OkStatus();
  }
  Transition transition;
  transition.letter_id = record->letter_id();
  transition.status = t.status();
  transition.reason = t.reason();
  transition.channel = t.channel();
  transition.detail = t.detail();
  transition.provider_id = t.provider_id();
  UTPOST_ASSIGN_OR_RETURN(out.prepared, PrepareTransitionLocked(id, std::move(*record), transition,
                                                                /*purge_documents=*/false, task_id,
                                                                std::move(changes)));
  return absl::OkStatus();
}

absl::StatusOr<internal::v1::CompleteTaskResponse> Ledger::AnswerFinishedTask(
    const LeaseToken& token, const storage::LetterRecord& record,
    const internal::v1::Transition& transition) const {
  const std::string task_id = common::EncodeLetterId(token.task_id);
  UTPOST_ASSIGN_OR_RETURN(std::vector<storage::EventRecord> events,
                          store_.GetEvents(token.letter_id));
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    if (it->task_id() != task_id) continue;
    const v1::LetterEvent& event = it->event();
    if (transition.status() == v1::LETTER_STATUS_UNSPECIFIED ||
        event.status() != transition.status() || event.reason() != transition.reason() ||
        event.channel() != transition.channel()) {
      return absl::AbortedError(absl::StrCat(
          "task ", task_id, " was completed as ", v1::LetterStatus_Name(event.status()), " (",
          v1::StatusReason_Name(event.reason()), ") already; drop the task"));
    }
    internal::v1::CompleteTaskResponse response;
    UTPOST_ASSIGN_OR_RETURN(*response.mutable_letter(), ViewForTask(record));
    response.set_replayed(true);
    return response;
  }
  if (transition.status() == v1::LETTER_STATUS_UNSPECIFIED) {
    return absl::NotFoundError(absl::StrCat(
        "task ", task_id, " is finished (a completion without a status change is not replayed)"));
  }
  // Removed without an event of its own: its letter was cancelled (or moved on otherwise).
  if (record.status() != transition.expected_status()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "letter ", record.letter_id(), " is ", v1::LetterStatus_Name(record.status()), ", not ",
        v1::LetterStatus_Name(transition.expected_status()), "; task ", task_id, " is finished"));
  }
  return absl::NotFoundError(absl::StrCat("task ", task_id, " not found"));
}

absl::StatusOr<internal::v1::FailTaskResponse> Ledger::FailTask(
    const internal::v1::FailTaskRequest& request) {
  const absl::Time now = clock_.Now();
  UTPOST_ASSIGN_OR_RETURN(const LeaseToken token, ValidateFailTask(request, now));
  const std::string task_id = common::EncodeLetterId(token.task_id);
  common::KeyedMutex::Lock task_lock(task_locks_, common::IdBytesKey(token.task_id));
  UTPOST_ASSIGN_OR_RETURN(std::optional<storage::TaskRecord> task, store_.GetTask(token.task_id));
  if (!task) {
    return absl::AbortedError(absl::StrCat(
        "task ", task_id, " is finished (completed, or its letter cancelled); drop it"));
  }
  if (task->letter_id() != common::EncodeLetterId(token.letter_id) ||
      task->attempt() != token.attempt || !task->has_lease_expire_time()) {
    return StaleLease(task_id);
  }
  const absl::Time due = WholeMillis(std::max(FromProto(request.retry_at()), now));
  storage::TaskRecord after = *task;
  after.clear_lease_expire_time();
  *after.mutable_due_time() = ToProto(due);
  after.set_last_failure(request.reason());
  UTPOST_RETURN_IF_ERROR(store_.CommitTaskChanges({{std::move(*task), after}}));
  internal::v1::FailTaskResponse response;
  response.set_attempt(after.attempt());
  *response.mutable_due_time() = after.due_time();
  return response;
}

absl::StatusOr<std::pair<storage::TaskRecord, storage::LetterRecord>> Ledger::CheckLease(
    const LeaseToken& token) const {
  const std::string task_id = common::EncodeLetterId(token.task_id);
  UTPOST_ASSIGN_OR_RETURN(std::optional<storage::LetterRecord> record,
                          store_.GetLetter(token.letter_id));
  if (!record) return absl::NotFoundError(absl::StrCat("task ", task_id, " not found"));
  UTPOST_ASSIGN_OR_RETURN(std::optional<storage::TaskRecord> task, store_.GetTask(token.task_id));
  if (!task) {
    return absl::AbortedError(absl::StrCat(
        "task ", task_id, " is finished (completed, or its letter cancelled); drop it"));
  }
  if (task->letter_id() != record->letter_id()) {
    return absl::NotFoundError(absl::StrCat("task ", task_id, " not found"));
  }
  if (task->attempt() != token.attempt || !task->has_lease_expire_time()) {
    return StaleLease(task_id);
  }
  if (record->documents_purged()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the documents of letter ", record->letter_id(),
        " were destroyed (cancelled, or past their retention); they can never be read again"));
  }
  return std::make_pair(std::move(*task), std::move(*record));
}

absl::StatusOr<Ledger::TaskDocuments> Ledger::OpenTaskDocuments(
    const internal::v1::ReadDocumentsRequest& request) const {
  UTPOST_ASSIGN_OR_RETURN(const LeaseToken token, ValidateReadDocuments(request));
  UTPOST_ASSIGN_OR_RETURN(auto leased, CheckLease(token));
  UTPOST_ASSIGN_OR_RETURN(storage::v1::LetterContent content, OpenContent(leased.second));
  if (static_cast<uint32_t>(content.documents_size()) != leased.second.document_count()) {
    return absl::DataLossError(absl::StrCat("letter ", leased.second.letter_id(), " records ",
                                            leased.second.document_count(), " documents and has ",
                                            content.documents_size()));
  }
  TaskDocuments documents;
  documents.token = token;
  documents.letter_id = leased.second.letter_id();
  documents.documents.assign(std::make_move_iterator(content.mutable_documents()->begin()),
                             std::make_move_iterator(content.mutable_documents()->end()));
  return documents;
}

absl::StatusOr<std::string> Ledger::ReadTaskDocument(const LeaseToken& token,
                                                     uint32_t position) const {
  UTPOST_ASSIGN_OR_RETURN(auto leased, CheckLease(token));
  const storage::LetterRecord& record = leased.second;
  if (position >= record.document_count()) {
    return absl::InvalidArgumentError(
        absl::StrCat("letter ", record.letter_id(), " has no document ", position));
  }
  absl::StatusOr<crypto::EncryptedDocument> sealed = store_.GetDocument(token.letter_id, position);
  if (absl::IsNotFound(sealed.status())) {
    // Destroyed since the check above (retention), or lost.
    UTPOST_ASSIGN_OR_RETURN(std::optional<storage::LetterRecord> now,
                            store_.GetLetter(token.letter_id));
    if (now && now->documents_purged()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the documents of letter ", record.letter_id(), " were destroyed"));
    }
    return absl::DataLossError(
        absl::StrCat("document ", position, " of letter ", record.letter_id(), " is missing"));
  }
  UTPOST_RETURN_IF_ERROR(sealed.status());
  absl::StatusOr<std::string> plain =
      envelope_.Open(*sealed, crypto::DocumentAad(record.letter_id(), position));
  if (absl::IsDataLoss(plain.status())) {
    return absl::DataLossError(
        absl::StrCat("document ", position, " of letter ", record.letter_id(),
                     " fails its integrity check: ", plain.status().message()));
  }
  return plain;
}

absl::StatusOr<internal::v1::RecordTransitionResponse> Ledger::RecordTransition(
    const internal::v1::RecordTransitionRequest& request) {
  UTPOST_ASSIGN_OR_RETURN(const common::LetterIdBytes id, ValidateRecordTransition(request));
  const internal::v1::Transition& t = request.transition();
  common::KeyedMutex::Lock lock(letter_locks_, common::IdBytesKey(id));
  UTPOST_ASSIGN_OR_RETURN(std::optional<storage::LetterRecord> record, store_.GetLetter(id));
  if (!record) {
    return absl::NotFoundError(absl::StrCat("letter ", request.letter_id(), " not found"));
  }
  const auto& providers = record->provider_ids();
  if (std::find(providers.begin(), providers.end(), request.provider_id()) == providers.end()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "letter ", request.letter_id(), " was not handed to provider ", request.provider_id()));
  }
  internal::v1::RecordTransitionResponse response;
  if (record->event_count() > 0 && record->status() == t.status()) {
    UTPOST_ASSIGN_OR_RETURN(std::optional<storage::EventRecord> newest,
                            store_.GetEvent(id, record->event_count() - 1));
    if (newest && newest->event().status() == t.status() &&
        newest->event().reason() == t.reason() && newest->event().channel() == t.channel()) {
      UTPOST_ASSIGN_OR_RETURN(*response.mutable_letter(), ViewForTask(*record));
      response.set_replayed(true);
      return response;
    }
  }
  if (record->status() != t.expected_status()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "letter ", request.letter_id(), " is ", v1::LetterStatus_Name(record->status()), ", not ",
        v1::LetterStatus_Name(t.expected_status())));
  }
  std::deque<common::KeyedMutex::Lock> task_locks;
  std::vector<storage::TaskChange> changes;
  if (IsTerminal(t.status())) {
    UTPOST_RETURN_IF_ERROR(RemovePendingTasksLocked(*record, "", task_locks, changes));
  }
  Transition transition;
  transition.letter_id = record->letter_id();
  transition.status = t.status();
  transition.reason = t.reason();
  transition.channel = t.channel();
  transition.detail = t.detail();
  UTPOST_ASSIGN_OR_RETURN(
      storage::LetterRecord updated,
      CommitTransitionLocked(id, std::move(*record), transition,
                             /*purge_documents=*/false, "", std::move(changes)));
  UTPOST_ASSIGN_OR_RETURN(*response.mutable_letter(), ViewForTask(updated));
  return response;
}

absl::Status Ledger::ScheduleRetentionLocked(storage::LetterRecord& record, absl::Time now,
                                             std::deque<common::KeyedMutex::Lock>& locks,
                                             std::vector<storage::TaskChange>& changes) {
  const v1::LetterStatus status = record.status();
  const bool final_outcome =
      IsTerminal(status) || (status == v1::LETTER_STATUS_DELIVERED_DIGITALLY &&
                             !record.options().has_print_if_unread_after());
  // The task queued for an earlier outcome goes (a terminal status may have removed it with
  // the letter's other tasks already).
  auto* pending = record.mutable_pending_task_ids();
  const std::string old_id = record.retention_task_id();
  record.clear_retention_task_id();
  if (!old_id.empty() && std::find(pending->begin(), pending->end(), old_id) != pending->end()) {
    absl::StatusOr<common::LetterIdBytes> task_id = common::DecodeLetterId(old_id);
    if (!task_id.ok()) return absl::DataLossError(absl::StrCat("malformed task id ", old_id));
    locks.emplace_back(task_locks_, common::IdBytesKey(*task_id));
    UTPOST_ASSIGN_OR_RETURN(std::optional<storage::TaskRecord> task, store_.GetTask(*task_id));
    if (task) changes.push_back({std::move(*task), std::nullopt});
    pending->erase(std::remove(pending->begin(), pending->end(), old_id), pending->end());
  }
  const absl::Duration period = config_.retention.PeriodFor(record.sender());
  if (!final_outcome || record.documents_purged() || period <= absl::ZeroDuration()) {
    return absl::OkStatus();
  }
  storage::TaskRecord task = NewTask(storage::v1::TASK_KIND_RETENTION, record, now, now + period);
  record.set_retention_task_id(task.task_id());
  record.add_pending_task_ids(task.task_id());
  changes.push_back({std::nullopt, std::move(task)});
  return absl::OkStatus();
}

absl::StatusOr<int> Ledger::RunRetention(uint32_t max_tasks) {
  internal::v1::LeaseTasksRequest request;
  request.set_kind(internal::v1::TASK_KIND_RETENTION);
  request.set_max_tasks(std::clamp<uint32_t>(max_tasks, 1, kMaxLeaseTasks));
  request.mutable_lease_for()->set_seconds(600);
  request.set_worker("ledger-retention");
  UTPOST_ASSIGN_OR_RETURN(internal::v1::LeaseTasksResponse leased, LeaseValidated(request));
  absl::Status first_error;
  int done = 0;
  for (const internal::v1::Task& task : leased.tasks()) {
    absl::Status status = DestroyDocuments(task);
    if (status.ok()) {
      ++done;
    } else if (first_error.ok()) {
      first_error = status;
    }
  }
  UTPOST_RETURN_IF_ERROR(first_error);
  return done;
}

absl::Status Ledger::DestroyDocuments(const internal::v1::Task& leased) {
  UTPOST_ASSIGN_OR_RETURN(const LeaseToken token, DecodeLeaseToken(leased.lease_token()));
  const std::string task_id = common::EncodeLetterId(token.task_id);
  common::KeyedMutex::Lock letter_lock(letter_locks_, common::IdBytesKey(token.letter_id));
  common::KeyedMutex::Lock task_lock(task_locks_, common::IdBytesKey(token.task_id));
  UTPOST_ASSIGN_OR_RETURN(std::optional<storage::LetterRecord> record,
                          store_.GetLetter(token.letter_id));
  UTPOST_ASSIGN_OR_RETURN(std::optional<storage::TaskRecord> task, store_.GetTask(token.task_id));
  // Replaced or removed since it was leased (a later outcome): nothing to do.
  if (!task || task->attempt() != token.attempt) return absl::OkStatus();
  storage::LetterUpdate update;
  update.id = token.letter_id;
  update.tasks.push_back({std::move(*task), std::nullopt});
  if (!record) {
    // Cannot happen: a letter record is never deleted. The task could never be done.
    return store_.CommitTaskChanges(update.tasks);
  }
  auto* pending = record->mutable_pending_task_ids();
  pending->erase(std::remove(pending->begin(), pending->end(), task_id), pending->end());
  if (record->retention_task_id() == task_id) record->clear_retention_task_id();
  update.purge_documents = !record->documents_purged();
  update.document_count = record->document_count();
  if (update.purge_documents) {
    record->set_documents_purged(true);
    *record->mutable_documents_destroyed_time() = ToProto(clock_.Now());
  }
  update.record = std::move(*record);
  UTPOST_RETURN_IF_ERROR(store_.CommitLetterUpdate(update));
  if (update.purge_documents) UTPOST_RETURN_IF_ERROR(Shred(update.id, update.record.letter_id()));
  return absl::OkStatus();
}
}  // namespace utpost::ledger
