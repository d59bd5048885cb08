// The mailbox simulator over gRPC: utpost --target=mailbox-sim on a temp dir (the real App,
// dev PKI, mutual TLS), called as a component with its dev certificate (the provider
// services) and as an organisation (the control service), across restarts.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "common/grpc_status.h"
#include "common/letter_id.h"
#include "crypto/cms.h"
#include "services/common/component_channel.h"
#include "services/mailbox_sim/mailbox_sim_module.h"
#include "tests/testutil/test_stack.h"
#include "utpost/provider/v1/provider.grpc.pb.h"
#include "utpost/sim/v1/mailbox_sim.grpc.pb.h"

namespace utpost {
namespace {

namespace fs = std::filesystem;
using provider::v1::DeliverRequest;
using provider::v1::DeliverResponse;

constexpr char kMarker[] = "SIM-GRPC-PLAINTEXT-MARKER-19c4";

class MailboxSimServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start() {
    stack_.reset();
    stack_ = testutil::TestStack::Start(
        data_dir_.path(),
        [](app::Config& c) {
          c.mailbox_sim.behaviour.read_delay = absl::ZeroDuration();
          c.mailbox_sim.behaviour.read_share = 1;
        },
        mailbox_sim::kMailboxSimComponent);
    ASSERT_NE(stack_, nullptr);
    const app::Config& config = stack_->app().config;
    auto component = ComponentChannel("router");
    mailbox_ = provider::v1::MailboxProviderService::NewStub(component);
    print_ = provider::v1::PrintProviderService::NewStub(component);
    absl::StatusOr<std::shared_ptr<grpc::Channel>> org =
        client::Connect(stack_->Connection(testutil::kOslo));
    ASSERT_TRUE(org.ok()) << org.status();
    control_ = sim::v1::MailboxSimControlService::NewStub(*org);
    org_mailbox_ = provider::v1::MailboxProviderService::NewStub(*org);
    dev_cert_ = *app::ReadFile(config.mailbox_sim.providers_dir / "dev" / "cert.pem");
  }

  // A channel that speaks for `component` with the certificate the dev PKI issued it.
  std::shared_ptr<grpc::Channel> ComponentChannel(const std::string& component) {
    const app::Config& config = stack_->app().config;
    const fs::path dir = config.InData(config.components.certs_dir) / component;
    service::RemoteComponentOptions options;
    options.address = stack_->app().address();
    options.component = component;
    options.ca_pem = *app::ReadFile(dir / "ca.pem");
    options.cert_pem = *app::ReadFile(dir / "client.pem");
    options.key_pem = *app::ReadFile(dir / "client.key");
    return service::RemoteComponentChannel(options);
  }

  static void Prepare(grpc::ClientContext& context, const std::string& provider) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    context.set_wait_for_ready(true);
    if (!provider.empty()) context.AddMetadata("utpost-provider-id", provider);
  }

  absl::StatusOr<DeliverResponse> Deliver(
      const std::string& provider, const std::string& letter_id, const std::string& envelope,
      provider::v1::MailboxProviderService::Stub* stub = nullptr) {
    grpc::ClientContext context;
    Prepare(context, provider);
    DeliverResponse response;
    auto writer = (stub != nullptr ? stub : mailbox_.get())->Deliver(&context, &response);
    DeliverRequest header;
    header.mutable_header()->set_letter_id(letter_id);
    header.mutable_header()->set_mailbox_address("kari.nordmann@dev");
    header.mutable_header()->set_sender("NO958935420");
    header.mutable_header()->set_document_count(1);
    DeliverRequest start;
    start.mutable_document()->set_index(0);
    start.mutable_document()->set_envelope_size(envelope.size());
    bool writing = writer->Write(header) && writer->Write(start);
    for (size_t at = 0; writing && at < envelope.size(); at += 64 << 10) {
      DeliverRequest chunk;
      chunk.set_chunk(envelope.substr(at, 64 << 10));
      writing = writer->Write(chunk);
    }
    // A refused stream ends early; Finish says why.
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    if (!status.ok()) return common::FromGrpcStatus(status);
    return response;
  }

  std::string Envelope(const std::string& content) {
    absl::StatusOr<std::string> der = crypto::CmsEncrypt(dev_cert_, content);
    EXPECT_TRUE(der.ok()) << der.status();
    return der.value_or("");
  }

  absl::StatusOr<provider::v1::PullReceiptsResponse> Pull(const std::string& provider) {
    grpc::ClientContext context;
    Prepare(context, provider);
    provider::v1::PullReceiptsRequest request;
    request.set_max_receipts(10);
    provider::v1::PullReceiptsResponse response;
    grpc::Status status = mailbox_->PullReceipts(&context, request, &response);
    if (!status.ok()) return common::FromGrpcStatus(status);
    return response;
  }

  absl::StatusOr<sim::v1::SetBehaviourResponse> Set(const sim::v1::SetBehaviourRequest& request) {
    grpc::ClientContext context;
    Prepare(context, "");
    sim::v1::SetBehaviourResponse response;
    grpc::Status status = control_->SetBehaviour(&context, request, &response);
    if (!status.ok()) return common::FromGrpcStatus(status);
    return response;
  }

  sim::v1::ProviderStatus Status(const std::string& provider) {
    grpc::ClientContext context;
    Prepare(context, "");
    sim::v1::GetStatusRequest request;
    request.set_list_mailboxes(true);
    sim::v1::GetStatusResponse response;
    grpc::Status status = control_->GetStatus(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    for (const auto& p : response.providers()) {
      if (p.provider_id() == provider) return p;
    }
    ADD_FAILURE() << "no status for " << provider;
    return {};
  }

  testutil::TempDir data_dir_{"mailbox-sim-grpc"};
  std::unique_ptr<testutil::TestStack> stack_;
  std::unique_ptr<provider::v1::MailboxProviderService::Stub> mailbox_;
  std::unique_ptr<provider::v1::MailboxProviderService::Stub> org_mailbox_;
  std::unique_ptr<provider::v1::PrintProviderService::Stub> print_;
  std::unique_ptr<sim::v1::MailboxSimControlService::Stub> control_;
  std::string dev_cert_;
  common::LetterIdGenerator ids_;
};

TEST_F(MailboxSimServiceTest, DeliveryIsIdempotentAcrossRestartAndReceiptsLastUntilAcked) {
  const std::string id = ids_.Next(absl::Now());
  const std::string envelope = Envelope(std::string(kMarker) + std::string(300 << 10, 'd'));
  absl::StatusOr<DeliverResponse> first = Deliver("dev", id, envelope);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->replayed());
  absl::StatusOr<DeliverResponse> again = Deliver("dev", id, envelope);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());

  absl::StatusOr<provider::v1::PullReceiptsResponse> receipts = Pull("dev");
  ASSERT_TRUE(receipts.ok()) << receipts.status();
  ASSERT_EQ(receipts->receipts_size(), 1);
  EXPECT_EQ(receipts->receipts(0).letter_id(), id);

  Start();  // a restart on the same data directory
  absl::StatusOr<DeliverResponse> after_restart = Deliver("dev", id, envelope);
  ASSERT_TRUE(after_restart.ok()) << after_restart.status();
  EXPECT_TRUE(after_restart->replayed());
  EXPECT_EQ(after_restart->delivery_id(), first->delivery_id());
  absl::StatusOr<provider::v1::PullReceiptsResponse> still = Pull("dev");
  ASSERT_TRUE(still.ok());
  ASSERT_EQ(still->receipts_size(), 1);
  {
    grpc::ClientContext context;
    Prepare(context, "dev");
    provider::v1::AcknowledgeReceiptsRequest ack;
    ack.add_receipt_ids(still->receipts(0).receipt_id());
    provider::v1::AcknowledgeReceiptsResponse response;
    ASSERT_TRUE(mailbox_->AcknowledgeReceipts(&context, ack, &response).ok());
  }
  EXPECT_EQ(Pull("dev")->receipts_size(), 0);

  const sim::v1::ProviderStatus status = Status("dev");
  EXPECT_EQ(status.letters(), 1u);
  EXPECT_EQ(status.duplicates(), 0u);
  ASSERT_EQ(status.mailboxes_size(), 1);
  EXPECT_EQ(status.mailboxes(0).letters(), 1u);

  stack_->Stop();
  const fs::path sim_dir = data_dir_.path() / "mailbox-sim";
  EXPECT_FALSE(testutil::FilesContaining(sim_dir, id).empty()) << "the scan must see the store";
  EXPECT_TRUE(testutil::FilesContaining(sim_dir, kMarker).empty());
}

TEST_F(MailboxSimServiceTest, UndecryptableDocumentIsRefused) {
  absl::StatusOr<DeliverResponse> r = Deliver("dev", ids_.Next(absl::Now()), "not a CMS envelope");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  // Encrypted to dev, delivered to dev-substantial.
  r = Deliver("dev-substantial", ids_.Next(absl::Now()), Envelope("for dev only"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_EQ(Status("dev").letters() + Status("dev-substantial").letters(), 0u);
}

TEST_F(MailboxSimServiceTest, ProviderIdAndCallerAreChecked) {
  const std::string envelope = Envelope("x");
  EXPECT_EQ(Deliver("", ids_.Next(absl::Now()), envelope).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Deliver("nobody", ids_.Next(absl::Now()), envelope).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Pull("").status().code(), absl::StatusCode::kInvalidArgument);
  // An organisation may steer the simulator, never act as utpost towards it.
  EXPECT_EQ(Deliver("dev", ids_.Next(absl::Now()), envelope, org_mailbox_.get()).status().code(),
            absl::StatusCode::kPermissionDenied);
  grpc::ClientContext context;
  Prepare(context, "");
  sim::v1::GetStatusResponse response;
  auto component_control = sim::v1::MailboxSimControlService::NewStub(ComponentChannel("router"));
  EXPECT_EQ(component_control->GetStatus(&context, {}, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(MailboxSimServiceTest, ControlServiceSteersFailuresAndDowntime) {
  sim::v1::SetBehaviourRequest fail;
  fail.set_fail_share(0.5);
  ASSERT_TRUE(Set(fail).ok());
  const std::string envelope = Envelope("x");
  std::vector<absl::StatusCode> codes;
  for (int i = 0; i < 4; ++i) {
    codes.push_back(Deliver("dev", ids_.Next(absl::Now()), envelope).status().code());
  }
  EXPECT_EQ(codes,
            (std::vector<absl::StatusCode>{absl::StatusCode::kOk, absl::StatusCode::kUnavailable,
                                           absl::StatusCode::kOk, absl::StatusCode::kUnavailable}));

  sim::v1::SetBehaviourRequest down;
  down.set_provider_id("dev");
  down.set_down(true);
  absl::StatusOr<sim::v1::SetBehaviourResponse> set = Set(down);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->behaviour().down());
  EXPECT_EQ(Pull("dev").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Pull("dev-substantial").ok());

  sim::v1::SetBehaviourRequest reject;
  reject.set_provider_id("dev");
  reject.set_down(false);
  reject.set_fail_share(0);
  reject.set_reject_share(1);
  ASSERT_TRUE(Set(reject).ok());
  absl::StatusOr<DeliverResponse> closed = Deliver("dev", ids_.Next(absl::Now()), envelope);
  EXPECT_EQ(closed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(closed.status().message(), "mailbox closed (simulated)");

  const sim::v1::ProviderStatus status = Status("dev");
  EXPECT_EQ(status.letters(), 2u);
  EXPECT_EQ(status.duplicates(), 0u);
  EXPECT_EQ(status.injected_failures(), 3u);  // two failed deliveries, one pull while down
  EXPECT_EQ(status.injected_rejections(), 1u);

  sim::v1::SetBehaviourRequest bad;
  bad.set_fail_share(2);
  EXPECT_EQ(Set(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MailboxSimServiceTest, PrintBatchOverGrpc) {
  const std::string print_cert =
      *app::ReadFile(stack_->app().config.mailbox_sim.providers_dir / "dev-print" / "cert.pem");
  provider::v1::SpoolBatch spool;
  spool.set_batch_id("batch-1");
  auto* letter = spool.add_letters();
  letter->set_letter_id(ids_.Next(absl::Now()));
  letter->add_documents()->set_content("%PDF");
  absl::StatusOr<std::string> envelope = crypto::CmsEncrypt(print_cert, spool.SerializeAsString());
  ASSERT_TRUE(envelope.ok());
  for (bool replay : {false, true}) {
    grpc::ClientContext context;
    Prepare(context, "dev-print");
    provider::v1::SubmitBatchResponse response;
    auto writer = print_->SubmitBatch(&context, &response);
    provider::v1::SubmitBatchRequest header, chunk;
    header.mutable_header()->set_batch_id("batch-1");
    header.mutable_header()->set_letter_count(1);
    header.mutable_header()->set_envelope_size(envelope->size());
    chunk.set_chunk(*envelope);
    ASSERT_TRUE(writer->Write(header) && writer->Write(chunk));
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.replayed(), replay);
  }
  grpc::ClientContext context;
  Prepare(context, "dev-print");
  provider::v1::GetBatchRequest get;
  get.set_batch_id("batch-1");
  provider::v1::GetBatchResponse got;
  ASSERT_TRUE(print_->GetBatch(&context, get, &got).ok());
  // print_delay is 10 s by default: not yet printed.
  EXPECT_EQ(got.state(), provider::v1::BATCH_STATE_RECEIVED);
  EXPECT_EQ(Status("dev-print").batches(), 1u);
}

}  // namespace
}  // namespace utpost
