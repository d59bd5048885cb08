// TaskService over gRPC: the whole App on a temp dir, a component calling over mutual TLS
// with its dev certificate, organisations through utpostctl's client configuration.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/field_violations.h"
#include "common/grpc_status.h"
#include "services/common/component_channel.h"
#include "services/ledger/lease_token.h"
#include "tests/testutil/memory.h"
#include "tests/testutil/test_stack.h"
#include "utpost/internal/v1/tasks.grpc.pb.h"
#include "utpost/v1/letters.grpc.pb.h"

namespace utpost {
namespace {

using internal::v1::CompleteTaskRequest;
using internal::v1::CompleteTaskResponse;
using internal::v1::FailTaskRequest;
using internal::v1::FailTaskResponse;
using internal::v1::LeaseTasksRequest;
using internal::v1::LeaseTasksResponse;
using internal::v1::ReadDocumentsRequest;
using internal::v1::ReadDocumentsResponse;
using internal::v1::RecordTransitionRequest;
using internal::v1::RecordTransitionResponse;
using testutil::kOslo;

class TaskServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartStack(); }

  // The test takes the router's part: no router may lease the tasks first.
  void StartStack(const std::function<void(app::Config&)>& tweak = {}) {
    tasks_.reset();
    stack_.reset();
    stack_ = testutil::TestStack::Start({}, tweak, testutil::kLedgerOnly);
    ASSERT_NE(stack_, nullptr);
    tasks_ = internal::v1::TaskService::NewStub(ComponentChannel(ledger::kLedgerComponent));
  }

  // A channel that speaks for `component` with the certificate the dev PKI issued it.
  std::shared_ptr<grpc::Channel> ComponentChannel(const std::string& component) {
    const app::Config& config = stack_->app().config;
    const std::filesystem::path dir = config.InData(config.components.certs_dir) / component;
    service::RemoteComponentOptions options;
    options.address = stack_->app().address();
    options.component = component;
    options.ca_pem = *app::ReadFile(dir / "ca.pem");
    options.cert_pem = *app::ReadFile(dir / "client.pem");
    options.key_pem = *app::ReadFile(dir / "client.key");
    return service::RemoteComponentChannel(options);
  }

  static void Deadline(grpc::ClientContext& context) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    context.set_wait_for_ready(true);
  }

  absl::StatusOr<LeaseTasksResponse> Lease(internal::v1::TaskKind kind, uint32_t max = 10,
                                           int lease_seconds = 30) {
    LeaseTasksRequest request;
    request.set_kind(kind);
    request.set_max_tasks(max);
    request.mutable_lease_for()->set_seconds(lease_seconds);
    request.set_worker("task-service-test");
    grpc::ClientContext context;
    Deadline(context);
    LeaseTasksResponse response;
    grpc::Status status = tasks_->LeaseTasks(&context, request, &response);
    if (!status.ok()) return common::FromGrpcStatus(status);
    return response;
  }

  absl::StatusOr<CompleteTaskResponse> Complete(const CompleteTaskRequest& request) {
    grpc::ClientContext context;
    Deadline(context);
    CompleteTaskResponse response;
    grpc::Status status = tasks_->CompleteTask(&context, request, &response);
    if (!status.ok()) return common::FromGrpcStatus(status);
    return response;
  }

  absl::StatusOr<internal::v1::CompleteTasksResponse> CompleteAll(
      const internal::v1::CompleteTasksRequest& request) {
    grpc::ClientContext context;
    Deadline(context);
    internal::v1::CompleteTasksResponse response;
    grpc::Status status = tasks_->CompleteTasks(&context, request, &response);
    if (!status.ok()) return common::FromGrpcStatus(status);
    return response;
  }

  static CompleteTaskRequest Routed(const std::string& token) {
    CompleteTaskRequest request;
    request.set_lease_token(token);
    auto* t = request.mutable_transition();
    t->set_expected_status(v1::LETTER_STATUS_ACCEPTED);
    t->set_status(v1::LETTER_STATUS_ROUTED);
    t->set_reason(v1::STATUS_REASON_RECIPIENT_RESERVED);
    t->set_channel(v1::CHANNEL_PRINT);
    t->set_detail("reserved against digital mail");
    request.add_next_tasks()->set_kind(internal::v1::TASK_KIND_PRINT);
    return request;
  }

  std::string Send(const v1::SendLetterRequest& request = testutil::ValidLetter("MARKER-TASKS")) {
    auto sent = stack_->Client().Send(request);
    EXPECT_TRUE(sent.ok()) << sent.status();
    return sent.ok() ? sent->letter_id() : "";
  }

  // Routes the only accepted letter to print and leases its PRINT task.
  internal::v1::Task LeasePrintTask() {
    auto route = Lease(internal::v1::TASK_KIND_ROUTE, 1);
    EXPECT_TRUE(route.ok() && route->tasks_size() == 1);
    if (!route.ok() || route->tasks_size() != 1) return {};
    EXPECT_TRUE(Complete(Routed(route->tasks(0).lease_token())).ok());
    auto print = Lease(internal::v1::TASK_KIND_PRINT, 1);
    EXPECT_TRUE(print.ok() && print->tasks_size() == 1);
    if (!print.ok() || print->tasks_size() != 1) return {};
    return print->tasks(0);
  }

  absl::StatusOr<RecordTransitionResponse> Record(const RecordTransitionRequest& request) {
    grpc::ClientContext context;
    Deadline(context);
    RecordTransitionResponse response;
    grpc::Status status = tasks_->RecordTransition(&context, request, &response);
    if (!status.ok()) return common::FromGrpcStatus(status);
    return response;
  }

  static RecordTransitionRequest ReadReceipt(const std::string& letter_id,
                                             const std::string& provider_id) {
    RecordTransitionRequest request;
    request.set_letter_id(letter_id);
    request.set_provider_id(provider_id);
    auto* t = request.mutable_transition();
    t->set_expected_status(v1::LETTER_STATUS_DELIVERED_DIGITALLY);
    t->set_status(v1::LETTER_STATUS_READ);
    t->set_reason(v1::STATUS_REASON_RECIPIENT_OPENED);
    t->set_channel(v1::CHANNEL_DIGITAL_MAILBOX);
    return request;
  }

  struct ReadDocument {
    internal::v1::DocumentHeader header;
    std::string content;
    int chunks = 0;
  };
  struct ReadResult {
    absl::Status status;
    std::vector<ReadDocument> documents;
    size_t largest_chunk = 0;
  };

  // Reads a ReadDocuments stream to its end.
  ReadResult ReadAll(const std::string& token, internal::v1::TaskService::Stub* stub = nullptr) {
    grpc::ClientContext context;
    Deadline(context);
    ReadDocumentsRequest request;
    request.set_lease_token(token);
    auto reader = (stub ? stub : tasks_.get())->ReadDocuments(&context, request);
    ReadResult result;
    ReadDocumentsResponse message;
    while (reader->Read(&message)) {
      if (message.has_header()) {
        result.documents.push_back({message.header(), "", 0});
      } else if (!result.documents.empty()) {
        result.documents.back().content += message.chunk();
        ++result.documents.back().chunks;
        result.largest_chunk = std::max(result.largest_chunk, message.chunk().size());
      } else {
        ADD_FAILURE() << "a chunk before any header";
      }
    }
    result.status = common::FromGrpcStatus(reader->Finish());
    return result;
  }

  std::unique_ptr<testutil::TestStack> stack_;
  std::unique_ptr<internal::v1::TaskService::Stub> tasks_;
};

TEST_F(TaskServiceTest, AComponentLeasesAndCompletesAndTheSenderSeesTheRouting) {
  const std::string id = Send();
  auto leased = Lease(internal::v1::TASK_KIND_ROUTE);
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_EQ(leased->tasks_size(), 1);
  const internal::v1::Task& task = leased->tasks(0);
  EXPECT_EQ(task.letter().letter_id(), id);
  EXPECT_EQ(task.letter().recipient().person().norwegian_national_id(), testutil::kCitizen);

  auto done = Complete(Routed(task.lease_token()));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->letter().status(), v1::LETTER_STATUS_ROUTED);
  // A retry after a lost reply.
  auto again = Complete(Routed(task.lease_token()));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());

  auto got = stack_->Client().Get(id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->letter().status(), v1::LETTER_STATUS_ROUTED);
  EXPECT_EQ(got->letter().channel(), v1::CHANNEL_PRINT);
  ASSERT_EQ(got->events_size(), 2);
  EXPECT_EQ(got->events(1).reason(), v1::STATUS_REASON_RECIPIENT_RESERVED);
  EXPECT_EQ(got->events(1).detail(), "reserved against digital mail");

  auto print = Lease(internal::v1::TASK_KIND_PRINT);
  ASSERT_TRUE(print.ok()) << print.status();
  ASSERT_EQ(print->tasks_size(), 1);
  FailTaskRequest fail;
  fail.set_lease_token(print->tasks(0).lease_token());
  fail.mutable_retry_at()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Minutes(10)));
  fail.set_reason("print provider unreachable");
  grpc::ClientContext context;
  Deadline(context);
  FailTaskResponse failed;
  ASSERT_TRUE(tasks_->FailTask(&context, fail, &failed).ok());
  EXPECT_EQ(failed.attempt(), 1u);
}

TEST_F(TaskServiceTest, AnOrganisationIsRefusedOnTaskService) {
  Send();
  client::ConnectionOptions options = stack_->Connection(kOslo);
  auto channel = client::Connect(options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  auto stub = internal::v1::TaskService::NewStub(*channel);
  LeaseTasksRequest request;
  request.set_kind(internal::v1::TASK_KIND_ROUTE);
  request.set_max_tasks(10);
  request.mutable_lease_for()->set_seconds(30);
  grpc::ClientContext context;
  Deadline(context);
  LeaseTasksResponse response;
  grpc::Status status = stub->LeaseTasks(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  // Nothing was leased.
  auto queued = stack_->ledger().store->QueuedTasks(storage::v1::TASK_KIND_ROUTE, 10);
  ASSERT_TRUE(queued.ok());
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ((*queued)[0].attempt(), 0u);
}

TEST_F(TaskServiceTest, AComponentIsRefusedOnLetterService) {
  auto letters = v1::LetterService::NewStub(ComponentChannel(ledger::kLedgerComponent));
  grpc::ClientContext context;
  Deadline(context);
  v1::SendLetterResponse response;
  grpc::Status status =
      letters->SendLetter(&context, testutil::ValidLetter("MARKER-COMPONENT"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
}

TEST_F(TaskServiceTest, BadRequestsNameTheirFieldsAndStaleLeasesAreAborted) {
  Send();
  LeaseTasksRequest bad;
  bad.set_kind(internal::v1::TASK_KIND_ROUTE);
  bad.set_max_tasks(5000);
  grpc::ClientContext context;
  Deadline(context);
  LeaseTasksResponse response;
  const absl::Status status = common::FromGrpcStatus(tasks_->LeaseTasks(&context, bad, &response));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  auto details = common::GetBadRequest(status);
  ASSERT_TRUE(details.has_value()) << status;
  std::vector<std::string> fields;
  for (const auto& v : details->field_violations()) fields.push_back(v.field());
  EXPECT_EQ(fields, (std::vector<std::string>{"max_tasks", "lease_for"}));

  auto leased = Lease(internal::v1::TASK_KIND_ROUTE);
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->tasks_size(), 1);
  // More next tasks than allowed are refused on the wire, before any is parsed.
  CompleteTaskRequest many = Routed(leased->tasks(0).lease_token());
  for (int i = 0; i < 10; ++i) many.add_next_tasks()->set_kind(internal::v1::TASK_KIND_PRINT);
  auto refused = Complete(many);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  auto many_details = common::GetBadRequest(refused.status());
  ASSERT_TRUE(many_details.has_value()) << refused.status();
  EXPECT_EQ(many_details->field_violations(0).field(), "next_tasks");

  // A token whose attempt is not the task's newest: ABORTED, and the task is as it was.
  auto token = ledger::DecodeLeaseToken(leased->tasks(0).lease_token());
  ASSERT_TRUE(token.ok());
  token->attempt += 1;
  auto aborted = Complete(Routed(ledger::EncodeLeaseToken(*token)));
  EXPECT_EQ(aborted.status().code(), absl::StatusCode::kAborted) << aborted.status();
  auto unchanged = stack_->ledger().store->QueuedTasks(storage::v1::TASK_KIND_ROUTE, 10);
  ASSERT_TRUE(unchanged.ok());
  ASSERT_EQ(unchanged->size(), 1u);
  EXPECT_EQ((*unchanged)[0].attempt(), 1u);
  EXPECT_TRUE(Complete(Routed(leased->tasks(0).lease_token())).ok());
}

TEST_F(TaskServiceTest, CompleteTasksAnswersEachCompletionAsCompleteTaskWould) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(Send());
  auto leased = Lease(internal::v1::TASK_KIND_ROUTE);
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_EQ(leased->tasks_size(), 3);
  std::map<std::string, std::string> token_of;  // letter id -> lease token
  for (const auto& task : leased->tasks()) token_of[task.letter().letter_id()] = task.lease_token();

  internal::v1::CompleteTasksRequest request;
  *request.add_completions() = Routed(token_of[ids[0]]);
  *request.add_completions() = Routed(token_of[ids[1]]);
  *request.add_completions() = Routed(token_of[ids[0]]);  // the same completion again
  CompleteTaskRequest bad = Routed("not-a-token");
  *request.add_completions() = bad;
  CompleteTaskRequest wrong_status = Routed(token_of[ids[2]]);
  wrong_status.mutable_transition()->set_expected_status(v1::LETTER_STATUS_ROUTED);
  wrong_status.mutable_transition()->set_status(v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  *request.add_completions() = wrong_status;

  auto answered = CompleteAll(request);
  ASSERT_TRUE(answered.ok()) << answered.status();
  const internal::v1::CompleteTasksResponse& response = *answered;
  ASSERT_EQ(response.results_size(), 5);
  for (int i : {0, 1}) {
    EXPECT_EQ(response.results(i).status().code(), 0) << response.results(i).status().message();
    EXPECT_EQ(response.results(i).response().letter().status(), v1::LETTER_STATUS_ROUTED);
    EXPECT_FALSE(response.results(i).response().replayed());
  }
  EXPECT_EQ(response.results(0).response().letter().letter_id(), ids[0]);
  EXPECT_EQ(response.results(1).response().letter().letter_id(), ids[1]);
  // The repeat is applied after the first, as a retry would be: a replay.
  EXPECT_EQ(response.results(2).status().code(), 0);
  EXPECT_TRUE(response.results(2).response().replayed());
  // A malformed completion gets CompleteTask's error, with the field named in its details.
  const google::rpc::Status& refused = response.results(3).status();
  EXPECT_EQ(refused.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_FALSE(response.results(3).has_response());
  const absl::Status refused_status = common::FromGrpcStatus(grpc::Status(
      grpc::StatusCode::INVALID_ARGUMENT, refused.message(), refused.SerializeAsString()));
  auto details = common::GetBadRequest(refused_status);
  ASSERT_TRUE(details.has_value()) << refused_status;
  EXPECT_EQ(details->field_violations(0).field(), "lease_token");
  // A letter not in the expected status: FAILED_PRECONDITION, and its task is finished.
  EXPECT_EQ(response.results(4).status().code(),
            static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));

  for (int i : {0, 1}) {
    auto got = stack_->Client().Get(ids[i]);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->letter().status(), v1::LETTER_STATUS_ROUTED);
    EXPECT_EQ(got->events_size(), 2);  // accepted, routed: the repeat added nothing
  }
  auto third = stack_->Client().Get(ids[2]);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->letter().status(), v1::LETTER_STATUS_ACCEPTED);
  auto routes = stack_->ledger().store->QueuedTasks(storage::v1::TASK_KIND_ROUTE, 10);
  ASSERT_TRUE(routes.ok());
  EXPECT_TRUE(routes->empty());
  auto prints = stack_->ledger().store->QueuedTasks(storage::v1::TASK_KIND_PRINT, 10);
  ASSERT_TRUE(prints.ok());
  EXPECT_EQ(prints->size(), 2u);
}

TEST_F(TaskServiceTest, CompleteTasksRefusesAnEmptyOrOversizedCallAsAWhole) {
  internal::v1::CompleteTasksRequest empty;
  // Too many completions are refused on the wire, before any is parsed.
  internal::v1::CompleteTasksRequest many;
  for (int i = 0; i < 300; ++i) *many.add_completions() = Routed("x");
  for (const auto* request : {&empty, &many}) {
    const absl::Status status = CompleteAll(*request).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    auto details = common::GetBadRequest(status);
    ASSERT_TRUE(details.has_value()) << status;
    EXPECT_EQ(details->field_violations(0).field(), "completions");
  }
}

TEST_F(TaskServiceTest, ReadDocumentsStreamsEachDocumentInChunksThatReassembleByteExact) {
  v1::SendLetterRequest letter = testutil::ValidLetter("MARKER-BIG", 3 << 20);
  auto* second = letter.add_documents();
  second->set_filename("vedlegg.pdf");
  second->set_media_type("application/pdf");
  second->set_content(testutil::MakePdf("MARKER-SMALL", 1000));
  Send(letter);
  const internal::v1::Task task = LeasePrintTask();

  ReadResult read = ReadAll(task.lease_token());
  ASSERT_TRUE(read.status.ok()) << read.status;
  ASSERT_EQ(read.documents.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const ReadDocument& d = read.documents[i];
    EXPECT_EQ(d.header.index(), static_cast<uint32_t>(i));
    EXPECT_EQ(d.header.filename(), letter.documents(i).filename());
    EXPECT_EQ(d.header.media_type(), "application/pdf");
    EXPECT_EQ(d.header.size(), letter.documents(i).content().size());
    EXPECT_TRUE(d.content == letter.documents(i).content()) << "document " << i << " differs";
  }
  EXPECT_LE(read.largest_chunk, ledger::TaskServiceImpl::kMaxChunkBytes);
  const size_t chunk = ledger::TaskServiceImpl::kMaxChunkBytes;
  EXPECT_EQ(static_cast<size_t>(read.documents[0].chunks),
            (letter.documents(0).content().size() + chunk - 1) / chunk);  // full chunks but one
  EXPECT_EQ(read.documents[1].chunks, 1);
  // The server lets the read go in its OnDone, which may run just after the client has the
  // stream's status.
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (stack_->ledger().task_service->open_document_reads() != 0 && absl::Now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(stack_->ledger().task_service->open_document_reads(), 0);
}

TEST_F(TaskServiceTest, AStaleLeaseCannotReadDocumentsNorCanAnOrganisation) {
  Send();
  auto first = Lease(internal::v1::TASK_KIND_ROUTE, 1, /*lease_seconds=*/1);
  ASSERT_TRUE(first.ok() && first->tasks_size() == 1);
  const std::string stale = first->tasks(0).lease_token();
  // The lease ends and another worker leases the task.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto second = Lease(internal::v1::TASK_KIND_ROUTE, 1);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->tasks_size(), 1);

  ReadResult read = ReadAll(stale);
  EXPECT_EQ(read.status.code(), absl::StatusCode::kAborted) << read.status;
  EXPECT_TRUE(read.documents.empty());

  // An organisation may not read documents, even with a current lease.
  auto channel = client::Connect(stack_->Connection(kOslo));
  ASSERT_TRUE(channel.ok());
  auto org_stub = internal::v1::TaskService::NewStub(*channel);
  read = ReadAll(second->tasks(0).lease_token(), org_stub.get());
  EXPECT_EQ(read.status.code(), absl::StatusCode::kPermissionDenied) << read.status;
  EXPECT_TRUE(read.documents.empty());

  read = ReadAll(second->tasks(0).lease_token());
  ASSERT_TRUE(read.status.ok()) << read.status;
  ASSERT_EQ(read.documents.size(), 1u);

  // Once the task is finished, its lease reads nothing.
  ASSERT_TRUE(Complete(Routed(second->tasks(0).lease_token())).ok());
  read = ReadAll(second->tasks(0).lease_token());
  EXPECT_EQ(read.status.code(), absl::StatusCode::kAborted) << read.status;
  EXPECT_TRUE(read.documents.empty());
  read = ReadAll("not-a-token");
  EXPECT_EQ(read.status.code(), absl::StatusCode::kInvalidArgument) << read.status;
}

TEST_F(TaskServiceTest, OpenDocumentReadsAreCountedAgainstTheirLimit) {
  StartStack([](app::Config& config) { config.ledger.max_document_reads = 1; });
  Send(testutil::ValidLetter("MARKER-LIMIT", 4 << 20));
  const internal::v1::Task task = LeasePrintTask();

  // One stream, read no further than its first message: it stays open.
  grpc::ClientContext context;
  Deadline(context);
  ReadDocumentsRequest request;
  request.set_lease_token(task.lease_token());
  auto reader = tasks_->ReadDocuments(&context, request);
  ReadDocumentsResponse message;
  ASSERT_TRUE(reader->Read(&message));
  ASSERT_TRUE(message.has_header());

  ReadResult refused = ReadAll(task.lease_token());
  EXPECT_EQ(refused.status.code(), absl::StatusCode::kResourceExhausted) << refused.status;

  context.TryCancel();
  while (reader->Read(&message)) {
  }
  reader->Finish().IgnoreError();
  // The place is given back when the stream ends.
  for (int i = 0; i < 200 && stack_->ledger().task_service->open_document_reads() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ReadResult read = ReadAll(task.lease_token());
  EXPECT_TRUE(read.status.ok()) << read.status;
}

TEST_F(TaskServiceTest, SlowReadersHoldOneDocumentEachNotTheirWholeLetter) {
  if (!testutil::kRssIsMeaningful) GTEST_SKIP() << "resident size means nothing under ASan";
  // A 40 MiB letter of ten 4 MiB documents.
  v1::SendLetterRequest letter;
  letter.mutable_recipient()->mutable_person()->set_norwegian_national_id(testutil::kCitizen);
  letter.set_title("Vedtak");
  for (int i = 0; i < 10; ++i) {
    auto* document = letter.add_documents();
    document->set_filename(absl::StrCat("del-", i, ".pdf"));
    document->set_media_type("application/pdf");
    document->set_content(testutil::MakePdf(absl::StrCat("MARKER-", i), 4 << 20));
  }
  Send(letter);
  letter.Clear();
  const internal::v1::Task task = LeasePrintTask();

  constexpr int kReaders = 4;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<ReadDocumentsResponse>>> readers;
  const int64_t growth = testutil::PeakRssGrowth([&] {
    for (int i = 0; i < kReaders; ++i) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      Deadline(*contexts.back());
      ReadDocumentsRequest request;
      request.set_lease_token(task.lease_token());
      readers.push_back(tasks_->ReadDocuments(contexts.back().get(), request));
      ReadDocumentsResponse message;
      ASSERT_TRUE(readers.back()->Read(&message));
      ASSERT_TRUE(message.has_header());
    }
    // The readers stall; the server writes what flow control lets it, then waits.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  });
  // Buffering each reader's letter would take 4 x 40 MiB = 160 MiB and more; one document
  // each is 4 x 4 MiB plus what the transport holds (34 MiB alone, 118 MiB once with the
  // ledger's flush of the letter running beside it on a loaded machine).
  EXPECT_LT(growth, 144 << 20) << "peak growth " << (growth >> 20) << " MiB";
  RecordProperty("peak_rss_growth_mib", static_cast<int>(growth >> 20));
  for (int i = 0; i < kReaders; ++i) {
    contexts[i]->TryCancel();
    ReadDocumentsResponse message;
    while (readers[i]->Read(&message)) {
    }
    readers[i]->Finish().IgnoreError();
  }
}

TEST_F(TaskServiceTest, OnlyTheProviderALetterWasHandedToRecordsItsReceipts) {
  const std::string id = Send();
  auto route = Lease(internal::v1::TASK_KIND_ROUTE, 1);
  ASSERT_TRUE(route.ok() && route->tasks_size() == 1);
  CompleteTaskRequest routed = Routed(route->tasks(0).lease_token());
  routed.mutable_transition()->set_channel(v1::CHANNEL_DIGITAL_MAILBOX);
  routed.mutable_transition()->set_reason(v1::STATUS_REASON_HAS_DIGITAL_MAILBOX);
  routed.mutable_next_tasks(0)->set_kind(internal::v1::TASK_KIND_DELIVER_DIGITAL);
  ASSERT_TRUE(Complete(routed).ok());
  auto deliver = Lease(internal::v1::TASK_KIND_DELIVER_DIGITAL, 1);
  ASSERT_TRUE(deliver.ok() && deliver->tasks_size() == 1);

  // Before delivery no provider has the letter.
  EXPECT_EQ(Record(ReadReceipt(id, "dev")).status().code(), absl::StatusCode::kPermissionDenied);

  CompleteTaskRequest delivered;
  delivered.set_lease_token(deliver->tasks(0).lease_token());
  auto* t = delivered.mutable_transition();
  t->set_expected_status(v1::LETTER_STATUS_ROUTED);
  t->set_status(v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  t->set_reason(v1::STATUS_REASON_PROVIDER_CONFIRMED);
  t->set_channel(v1::CHANNEL_DIGITAL_MAILBOX);
  t->set_provider_id("dev");
  auto* check = delivered.add_next_tasks();
  check->set_kind(internal::v1::TASK_KIND_CHECK_UNREAD);
  check->mutable_due_time()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(40)));
  auto done = Complete(delivered);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->letter().provider_id(), "dev");

  // Another provider's receipt: refused, and nothing changes.
  auto denied = Record(ReadReceipt(id, "dev-substantial"));
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << denied.status();
  auto got = stack_->Client().Get(id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->letter().status(), v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  EXPECT_EQ(got->events_size(), 3);
  ASSERT_EQ(stack_->ledger().store->QueuedTasks(storage::v1::TASK_KIND_CHECK_UNREAD, 10)->size(),
            1u);

  // Its own: READ, the pending check removed in the same write; a repeat is a replay.
  auto read = Record(ReadReceipt(id, "dev"));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_FALSE(read->replayed());
  EXPECT_EQ(read->letter().status(), v1::LETTER_STATUS_READ);
  EXPECT_EQ(read->letter().reason(), v1::STATUS_REASON_RECIPIENT_OPENED);
  EXPECT_TRUE(
      stack_->ledger().store->QueuedTasks(storage::v1::TASK_KIND_CHECK_UNREAD, 10)->empty());
  auto again = Record(ReadReceipt(id, "dev"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  got = stack_->Client().Get(id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->events_size(), 4);
  EXPECT_EQ(got->events(3).status(), v1::LETTER_STATUS_READ);

  // A report the letter's status does not allow.
  RecordTransitionRequest late = ReadReceipt(id, "dev");
  late.mutable_transition()->set_status(v1::LETTER_STATUS_QUEUED_FOR_PRINT);
  late.mutable_transition()->set_reason(v1::STATUS_REASON_UNREAD_PAST_DEADLINE);
  EXPECT_EQ(Record(late).status().code(), absl::StatusCode::kFailedPrecondition);
  // Malformed: every field named.
  RecordTransitionRequest bad;
  bad.set_letter_id("nope");
  auto refused = Record(bad);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  auto details = common::GetBadRequest(refused.status());
  ASSERT_TRUE(details.has_value());
  std::vector<std::string> fields;
  for (const auto& v : details->field_violations()) fields.push_back(v.field());
  EXPECT_EQ(fields, (std::vector<std::string>{"letter_id", "transition", "provider_id"}));
}

TEST_F(TaskServiceTest, TheLedgersRetentionWorkerDestroysDocumentsPastTheirPeriod) {
  StartStack([](app::Config& config) {
    config.ledger.retention.period = absl::Seconds(1);
    config.ledger.retention.poll_interval = absl::Milliseconds(50);
  });
  const std::string id = Send();
  const internal::v1::Task print = LeasePrintTask();
  CompleteTaskRequest queued;
  queued.set_lease_token(print.lease_token());
  auto* t = queued.mutable_transition();
  t->set_expected_status(v1::LETTER_STATUS_ROUTED);
  t->set_status(v1::LETTER_STATUS_QUEUED_FOR_PRINT);
  t->set_reason(print.reason());
  t->set_channel(v1::CHANNEL_PRINT);
  t->set_provider_id("dev-print");
  ASSERT_TRUE(Complete(queued).ok());
  RecordTransitionRequest printed;
  printed.set_letter_id(id);
  printed.set_provider_id("dev-print");
  t = printed.mutable_transition();
  t->set_expected_status(v1::LETTER_STATUS_QUEUED_FOR_PRINT);
  t->set_status(v1::LETTER_STATUS_PRINTED);
  t->set_reason(v1::STATUS_REASON_PRINT_CONFIRMED);
  t->set_channel(v1::CHANNEL_PRINT);
  ASSERT_TRUE(Record(printed).ok());

  // The worker runs on its own; wait for it (bounded), then look.
  absl::StatusOr<v1::GetLetterResponse> got;
  for (int i = 0; i < 300; ++i) {
    got = stack_->Client().Get(id);
    ASSERT_TRUE(got.ok()) << got.status();
    if (got->letter().has_documents_destroyed_time()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(got->letter().has_documents_destroyed_time());
  EXPECT_EQ(got->letter().status(), v1::LETTER_STATUS_PRINTED);
  EXPECT_EQ(got->events_size(), 4);
  EXPECT_EQ(got->letter().documents_size(), 0);
}

}  // namespace
}  // namespace utpost
