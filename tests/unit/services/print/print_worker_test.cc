#include "services/print/print_worker.h"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "crypto/dev_provider_cert.h"
#include "crypto/file_key_store.h"
#include "pdf/printability.h"
#include "tests/testutil/files.h"
#include "tests/testutil/pdfs.h"
#include "tests/unit/services/print/print_fakes.h"

namespace utpost::print {
namespace {

using ::testing::HasSubstr;

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);
constexpr char kMarker[] = "PLAINTEXT-MARKER-4711";

v1::PostalAddress Address() {
  v1::PostalAddress a;
  a.set_name("Kari Nordmann");
  a.add_address_lines("Storgata 1");
  a.set_postal_code("0155");
  a.set_city("OSLO");
  a.set_country_code("NO");
  return a;
}

internal::v1::TaskLetter Letter(const std::string& id, bool with_address = true) {
  internal::v1::TaskLetter l;
  l.set_letter_id(id);
  l.set_sender("NO958935420");
  l.set_status(v1::LETTER_STATUS_ROUTED);
  l.set_channel(v1::CHANNEL_PRINT);
  l.mutable_recipient()->mutable_person()->set_norwegian_national_id("01017012345");
  if (with_address) *l.mutable_postal_address() = Address();
  internal::v1::Printability* p = l.add_printability();
  p->set_printable(true);
  p->set_page_count(1);
  return l;
}

std::string A4Pdf() { return testutil::MakePdf({testutil::kA4Page}); }

struct Served {
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
};

Served Serve(std::vector<grpc::Service*> services) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  for (grpc::Service* s : services) builder.RegisterService(s);
  Served out;
  out.server = builder.BuildAndStart();
  out.channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  return out;
}

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class PrintWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testutil::MakeTempDir("print_worker_test");
    absl::StatusOr<std::string> cert =
        crypto::EnsureDevProviderCertificate(dir_ / "providers", "dev-print", "print");
    ASSERT_TRUE(cert.ok()) << cert.status();
    cert_pem_ = *cert;
    provider_ = std::make_unique<FakePrintProvider>(
        ReadAll(crypto::DevProviderDir(dir_ / "providers", "dev-print") / "key.pem"));
    ASSERT_TRUE(crypto::FileKeyStore::EnsureKey(dir_ / "keys").ok());
    absl::StatusOr<std::unique_ptr<crypto::FileKeyStore>> keys =
        crypto::FileKeyStore::Open(dir_ / "keys");
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
    absl::StatusOr<std::unique_ptr<BatchSealer>> sealer = NewCmsBatchSealer(cert_pem_);
    ASSERT_TRUE(sealer.ok()) << sealer.status();
    sealer_ = *std::move(sealer);
    served_ = Serve({&ledger_, &registry_, provider_.get()});
    config_.batch_max_letters = 2;
    config_.batch_window = absl::Minutes(10);
    config_.status_poll_interval = absl::Seconds(30);
    StartWorker();
  }

  void StartWorker() {
    worker_.reset();
    store_.reset();
    absl::StatusOr<std::unique_ptr<SpoolStore>> store = SpoolStore::Open(dir_ / "spool", *keys_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    std::shared_ptr<grpc::Channel> channel = served_.channel;
    worker_ = std::make_unique<PrintWorker>(
        config_, channel, channel,
        [channel]() -> absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> { return channel; },
        *store_, *sealer_, clock_, [] { return 0.5; });
  }

  void Run(int passes = 1) {
    for (int i = 0; i < passes; ++i) ASSERT_TRUE(worker_->RunOnce().ok());
  }

  std::filesystem::path dir_;
  std::string cert_pem_;
  common::FakeClock clock_{kStart};
  FakeLedger ledger_{clock_};
  FakeRegistry registry_;
  std::unique_ptr<FakePrintProvider> provider_;
  std::unique_ptr<crypto::FileKeyStore> keys_;
  std::unique_ptr<BatchSealer> sealer_;
  Served served_;
  PrintConfig config_;
  std::unique_ptr<SpoolStore> store_;
  std::unique_ptr<PrintWorker> worker_;
};

TEST_F(PrintWorkerTest, SpoolsABatchByCountSubmitsItAndRecordsPrinted) {
  ledger_.Add(Letter("L1"), {{"one.pdf", A4Pdf()}}, v1::STATUS_REASON_RECIPIENT_RESERVED);
  internal::v1::TaskLetter second = Letter("L2");
  second.set_status(v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  ledger_.Add(second, {{"two.pdf", A4Pdf()}}, v1::STATUS_REASON_UNREAD_PAST_DEADLINE);
  Run();

  FakeLedger::Entry l1 = ledger_.Get("L1");
  ASSERT_TRUE(l1.applied.has_value());
  EXPECT_EQ(l1.applied->expected_status(), v1::LETTER_STATUS_ROUTED);
  EXPECT_EQ(l1.applied->status(), v1::LETTER_STATUS_QUEUED_FOR_PRINT);
  EXPECT_EQ(l1.applied->reason(), v1::STATUS_REASON_RECIPIENT_RESERVED);
  EXPECT_EQ(l1.applied->channel(), v1::CHANNEL_PRINT);
  EXPECT_EQ(l1.applied->provider_id(), "dev-print");
  FakeLedger::Entry l2 = ledger_.Get("L2");
  ASSERT_TRUE(l2.applied.has_value());
  EXPECT_EQ(l2.applied->expected_status(), v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  EXPECT_EQ(l2.applied->reason(), v1::STATUS_REASON_UNREAD_PAST_DEADLINE);
  EXPECT_EQ(l1.applied->detail(), l2.applied->detail());
  EXPECT_THAT(l1.applied->detail(), HasSubstr("batch b"));

  // Two letters: the batch closed by count and went to the provider in the same pass.
  std::map<std::string, provider::v1::SpoolBatch> batches = provider_->batches();
  ASSERT_EQ(batches.size(), 1u);
  const provider::v1::SpoolBatch& batch = batches.begin()->second;
  EXPECT_EQ(l1.applied->detail(), absl::StrCat("batch ", batch.batch_id()));
  ASSERT_EQ(batch.letters_size(), 2);
  for (const provider::v1::SpoolLetter& letter : batch.letters()) {
    EXPECT_EQ(letter.postal_address().name(), "Kari Nordmann");
    internal::v1::Printability cover = pdf::CheckPrintable(letter.cover_pdf());
    EXPECT_TRUE(cover.printable()) << cover.problem();
    ASSERT_EQ(letter.documents_size(), 1);
    EXPECT_EQ(letter.documents(0).page_count(), 1u);
    EXPECT_TRUE(pdf::CheckPrintable(letter.documents(0).content()).printable());
  }
  EXPECT_THAT(provider_->provider_ids(), ::testing::Each("dev-print"));
  EXPECT_EQ(worker_->gauges().submitted, 1);
  EXPECT_EQ(worker_->gauges().backlog, 2u);

  // Polled after status_poll_interval; printed: both letters become PRINTED.
  provider_->SetState(provider::v1::BATCH_STATE_PRINTED);
  Run();
  EXPECT_EQ(ledger_.Get("L1").status, v1::LETTER_STATUS_QUEUED_FOR_PRINT);  // not polled yet
  clock_.Advance(config_.status_poll_interval);
  Run();
  for (const char* id : {"L1", "L2"}) {
    FakeLedger::Entry e = ledger_.Get(id);
    EXPECT_EQ(e.status, v1::LETTER_STATUS_PRINTED) << id;
    ASSERT_EQ(e.recorded.size(), 1u);
    EXPECT_EQ(e.recorded[0].expected_status(), v1::LETTER_STATUS_QUEUED_FOR_PRINT);
    EXPECT_EQ(e.recorded[0].reason(), v1::STATUS_REASON_PRINT_CONFIRMED);
  }
  EXPECT_EQ(worker_->stats().letters_printed, 2u);
  SpoolGauges g = worker_->gauges();
  EXPECT_EQ(g.open + g.closed + g.submitted + g.finishing, 0);
  EXPECT_EQ(g.backlog, 0u);
}

TEST_F(PrintWorkerTest, BatchClosesByTime) {
  config_.batch_max_letters = 100;
  StartWorker();
  ledger_.Add(Letter("L1"), {{"one.pdf", A4Pdf()}});
  Run();
  EXPECT_TRUE(provider_->batches().empty());
  EXPECT_EQ(worker_->gauges().open, 1);
  clock_.Advance(config_.batch_window - absl::Seconds(1));
  Run();
  EXPECT_TRUE(provider_->batches().empty());
  clock_.Advance(absl::Seconds(1));
  Run();
  ASSERT_EQ(provider_->batches().size(), 1u);
  EXPECT_EQ(provider_->batches().begin()->second.letters_size(), 1);
}

TEST_F(PrintWorkerTest, BatchClosesByBytes) {
  config_.batch_max_letters = 100;
  config_.batch_max_bytes = uint64_t{1} << 20;
  StartWorker();
  std::string pdf = A4Pdf() + "%" + std::string(600 * 1024, 'y') + "\n";
  ledger_.Add(Letter("L1"), {{"one.pdf", pdf}});
  ledger_.Add(Letter("L2"), {{"two.pdf", pdf}});
  Run();
  // The second letter would pass 1 MiB: the first goes alone.
  ASSERT_EQ(provider_->batches().size(), 1u);
  EXPECT_EQ(provider_->batches().begin()->second.letters_size(), 1);
  EXPECT_EQ(worker_->gauges().open, 1);
}

TEST_F(PrintWorkerTest, NotPrintableFailsARoutedLetterAndLeavesADeliveredOne) {
  internal::v1::TaskLetter routed = Letter("L1");
  routed.mutable_printability(0)->set_printable(false);
  routed.mutable_printability(0)->set_problem("page 2 is landscape (297 x 210 mm)");
  ledger_.Add(routed, {{"one.pdf", A4Pdf()}});
  internal::v1::TaskLetter delivered = routed;
  delivered.set_letter_id("L2");
  delivered.set_status(v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  ledger_.Add(delivered, {{"two.pdf", A4Pdf()}});
  Run();
  FakeLedger::Entry l1 = ledger_.Get("L1");
  ASSERT_TRUE(l1.applied.has_value());
  EXPECT_EQ(l1.applied->status(), v1::LETTER_STATUS_FAILED);
  EXPECT_EQ(l1.applied->reason(), v1::STATUS_REASON_CONTENT_NOT_DELIVERABLE);
  EXPECT_EQ(l1.applied->detail(), "document 1: page 2 is landscape (297 x 210 mm)");
  FakeLedger::Entry l2 = ledger_.Get("L2");
  ASSERT_TRUE(l2.applied.has_value());
  EXPECT_EQ(l2.applied->status(), v1::LETTER_STATUS_UNSPECIFIED);
  EXPECT_EQ(l2.applied->expected_status(), v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  EXPECT_EQ(l2.status, v1::LETTER_STATUS_DELIVERED_DIGITALLY);
  EXPECT_EQ(ledger_.reads(), 0);  // nothing read for a letter that cannot print
  EXPECT_EQ(worker_->gauges().backlog, 0u);
}

TEST_F(PrintWorkerTest, ChecksPrintabilityItselfWhenTheLedgerDidNot) {
  internal::v1::TaskLetter old = Letter("L1");
  old.clear_printability();
  ledger_.Add(old, {{"one.pdf", testutil::MakePdf({{842, 595}})}});
  Run();
  FakeLedger::Entry l1 = ledger_.Get("L1");
  ASSERT_TRUE(l1.applied.has_value());
  EXPECT_EQ(l1.applied->status(), v1::LETTER_STATUS_FAILED);
  EXPECT_EQ(l1.applied->detail(),
            "document 1: page 1 is landscape (297 x 210 mm); print needs A4 portrait");
}

TEST_F(PrintWorkerTest, AddressFromTheRegistryWhenTheLetterHasNone) {
  registry_.SetAddress(Address());
  config_.batch_max_letters = 1;
  StartWorker();
  ledger_.Add(Letter("L1", /*with_address=*/false), {{"one.pdf", A4Pdf()}});
  Run();
  EXPECT_EQ(registry_.calls(), 1);
  ASSERT_EQ(provider_->batches().size(), 1u);
  EXPECT_EQ(provider_->batches().begin()->second.letters(0).postal_address().city(), "OSLO");
}

// Exactly once: the completion's reply is lost (the ledger applied it, then the process
// "died"); after a restart the pending entry is settled with the stored lease token, and the
// letter goes out in one batch, once.
TEST_F(PrintWorkerTest, PendingEntryIsCompletedAfterARestart) {
  config_.batch_max_letters = 1;
  StartWorker();
  ledger_.FailCompletions(grpc::StatusCode::UNAVAILABLE, 1, /*apply=*/true);
  ledger_.Add(Letter("L1"), {{"one.pdf", A4Pdf()}});
  Run();
  EXPECT_TRUE(provider_->batches().empty());  // a batch never closes over a pending letter
  absl::StatusOr<std::vector<PendingLetter>> pending = store_->Pending();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);

  StartWorker();  // a new worker on the same spool
  Run();
  std::vector<internal::v1::CompleteTaskRequest> sent = ledger_.completions();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].SerializeAsString(), sent[1].SerializeAsString());
  ASSERT_EQ(provider_->batches().size(), 1u);
  EXPECT_EQ(provider_->batches().begin()->second.letters_size(), 1);
  EXPECT_TRUE(store_->Pending()->empty());
  EXPECT_EQ(ledger_.Get("L1").status, v1::LETTER_STATUS_QUEUED_FOR_PRINT);
}

TEST_F(PrintWorkerTest, StaleLeaseDropsThePendingEntry) {
  ledger_.FailCompletions(grpc::StatusCode::UNAVAILABLE, 1);
  ledger_.Add(Letter("L1"), {{"one.pdf", A4Pdf()}});
  Run();
  ASSERT_EQ(store_->Pending()->size(), 1u);
  ledger_.InvalidateLeases();  // the lease expired and the task was leased elsewhere
  StartWorker();
  Run();
  EXPECT_TRUE(store_->Pending()->empty());
  EXPECT_EQ(worker_->stats().dropped, 1u);
  EXPECT_FALSE(store_->BatchOf("L1")->has_value());  // free to be spooled by its next lease
  EXPECT_EQ(ledger_.Get("L1").status, v1::LETTER_STATUS_ROUTED);

  // Its next lease spools it again, once.
  clock_.Advance(config_.lease_for);
  Run();
  EXPECT_EQ(ledger_.Get("L1").status, v1::LETTER_STATUS_QUEUED_FOR_PRINT);
  EXPECT_TRUE(store_->BatchOf("L1")->has_value());
  EXPECT_TRUE(store_->Pending()->empty());
}

TEST_F(PrintWorkerTest, RejectedBatchFailsItsLetters) {
  ledger_.Add(Letter("L1"), {{"one.pdf", A4Pdf()}});
  ledger_.Add(Letter("L2"), {{"two.pdf", A4Pdf()}});
  Run();
  provider_->SetState(provider::v1::BATCH_STATE_REJECTED);
  clock_.Advance(config_.status_poll_interval);
  Run();
  for (const char* id : {"L1", "L2"}) {
    FakeLedger::Entry e = ledger_.Get(id);
    EXPECT_EQ(e.status, v1::LETTER_STATUS_FAILED) << id;
    ASSERT_EQ(e.recorded.size(), 1u);
    EXPECT_THAT(e.recorded[0].detail(), HasSubstr("paper jam"));
  }
}

TEST_F(PrintWorkerTest, SpoolDirectoryHoldsNoPlaintext) {
  config_.batch_max_letters = 100;
  StartWorker();
  internal::v1::TaskLetter letter = Letter("L1");
  letter.mutable_postal_address()->set_name(absl::StrCat("Kari ", kMarker));
  ledger_.Add(letter, {{absl::StrCat(kMarker, ".pdf"), A4Pdf() + "%" + kMarker + "\n"}});
  Run();
  ASSERT_EQ(worker_->gauges().backlog, 1u);
  clock_.Advance(config_.batch_window);
  Run();  // closed: the envelope is stored too
  ASSERT_EQ(provider_->batches().size(), 1u);
  worker_.reset();
  store_.reset();  // closes RocksDB: WAL, SST and blob files all on disk
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_ / "spool")) {
    if (!entry.is_regular_file()) continue;
    ++files;
    EXPECT_EQ(ReadAll(entry.path()).find(kMarker), std::string::npos) << entry.path();
    EXPECT_EQ(ReadAll(entry.path()).find("Storgata"), std::string::npos) << entry.path();
  }
  EXPECT_GT(files, 3);
}

}  // namespace
}  // namespace utpost::print
