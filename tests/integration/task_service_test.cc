// TaskService over gRPC: the whole App on a temp dir, a component calling over mutual TLS
// with its dev certificate, organisations through utpostctl's client configuration.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "common/field_violations.h"
#include "common/grpc_status.h"
#include "services/common/component_channel.h"
#include "services/ledger/lease_token.h"
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
using testutil::kOslo;

class TaskServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The test takes the router's part: no router may lease the tasks first.
    stack_ = testutil::TestStack::Start({}, {}, testutil::kLedgerOnly);
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

  absl::StatusOr<LeaseTasksResponse> Lease(internal::v1::TaskKind kind, uint32_t max = 10) {
    LeaseTasksRequest request;
    request.set_kind(kind);
    request.set_max_tasks(max);
    request.mutable_lease_for()->set_seconds(30);
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

  std::string Send() {
    auto sent = stack_->Client().Send(testutil::ValidLetter("MARKER-TASKS"));
    EXPECT_TRUE(sent.ok()) << sent.status();
    return sent.ok() ? sent->letter_id() : "";
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

}  // namespace
}  // namespace utpost
