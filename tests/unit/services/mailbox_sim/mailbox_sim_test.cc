// The mailbox simulator's logic with its real store (RocksDB in a temp dir), real CMS
// envelopes (OpenSSL) and the dev provider keys; time from a FakeClock, the delay through an
// injected sleep that advances it.
#include "services/mailbox_sim/mailbox_sim.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "common/clock.h"
#include "common/letter_id.h"
#include "common/proto_time.h"
#include "crypto/cms.h"
#include "crypto/dev_provider_cert.h"
#include "storage/segments.h"
#include "tests/testutil/files.h"

namespace utpost::mailbox_sim {
namespace {

namespace fs = std::filesystem;
using provider::v1::DeliverRequest;
using provider::v1::SubmitBatchRequest;

constexpr char kMarker[] = "SIM-PLAINTEXT-MARKER-7f3a";
constexpr char kDev[] = "dev";
constexpr char kOther[] = "dev-substantial";
constexpr char kPrint[] = "dev-print";

class MailboxSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.path() / "mailbox-sim";
    config_.providers_dir = dir_.path() / "pki" / "providers";
    for (const char* id : {kDev, kOther, kPrint}) {
      absl::StatusOr<std::string> cert =
          crypto::EnsureDevProviderCertificate(config_.providers_dir, id, id);
      ASSERT_TRUE(cert.ok()) << cert.status();
      certs_[id] = *cert;
    }
    config_.behaviour.read_delay = absl::Minutes(10);
    config_.behaviour.print_delay = absl::Minutes(5);
    Open();
  }

  void Open() {
    sim_.reset();
    store_.reset();
    absl::StatusOr<std::unique_ptr<SimStore>> store = SimStore::Open(config_.data_dir);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    sim_ = std::make_unique<MailboxSim>(config_, *store_, clock_, [this](absl::Duration d) {
      slept_.push_back(d);
      clock_.Advance(d);
    });
    ASSERT_TRUE(sim_->LoadProviders().ok());
  }

  std::string NewLetterId() { return ids_.Next(clock_.Now()); }

  std::string Envelope(const std::string& provider, const std::string& content) {
    absl::StatusOr<std::string> der = crypto::CmsEncrypt(certs_[provider], content);
    EXPECT_TRUE(der.ok()) << der.status();
    return der.value_or("");
  }

  // The messages of a Deliver stream: header, then per document its start and chunks.
  std::vector<DeliverRequest> Stream(const std::string& letter_id,
                                     const std::vector<std::string>& envelopes,
                                     const std::string& mailbox = "kari.nordmann@dev",
                                     size_t chunk = 1000) {
    std::vector<DeliverRequest> out;
    DeliverRequest header;
    header.mutable_header()->set_letter_id(letter_id);
    header.mutable_header()->set_mailbox_address(mailbox);
    header.mutable_header()->set_sender("NO958935420");
    header.mutable_header()->set_title("Vedtak");
    header.mutable_header()->set_document_count(static_cast<uint32_t>(envelopes.size()));
    out.push_back(header);
    for (size_t i = 0; i < envelopes.size(); ++i) {
      DeliverRequest start;
      start.mutable_document()->set_index(static_cast<uint32_t>(i));
      start.mutable_document()->set_media_type("application/pdf");
      start.mutable_document()->set_envelope_size(envelopes[i].size());
      out.push_back(start);
      for (size_t at = 0; at < envelopes[i].size(); at += chunk) {
        DeliverRequest c;
        c.set_chunk(envelopes[i].substr(at, chunk));
        out.push_back(c);
      }
    }
    return out;
  }

  absl::StatusOr<provider::v1::DeliverResponse> Deliver(const std::string& provider,
                                                        const std::vector<DeliverRequest>& stream) {
    absl::StatusOr<std::unique_ptr<MailboxSim::Delivery>> delivery = sim_->StartDelivery(provider);
    if (!delivery.ok()) return delivery.status();
    for (const DeliverRequest& r : stream) {
      if (absl::Status s = (*delivery)->Add(r); !s.ok()) return s;
    }
    return (*delivery)->Finish();
  }

  absl::StatusOr<provider::v1::DeliverResponse> DeliverOne(const std::string& provider,
                                                           const std::string& letter_id) {
    return Deliver(provider, Stream(letter_id, {Envelope(provider, "pdf bytes")}));
  }

  sim::v1::ProviderStatus StatusOf(const std::string& provider, bool list = true) {
    sim::v1::GetStatusRequest request;
    request.set_list_mailboxes(list);
    absl::StatusOr<sim::v1::GetStatusResponse> status = sim_->GetStatus(request);
    EXPECT_TRUE(status.ok()) << status.status();
    for (const auto& p : status->providers()) {
      if (p.provider_id() == provider) return p;
    }
    ADD_FAILURE() << "no status for " << provider;
    return {};
  }

  // Keys of the store that start with `prefix` ("c": envelope chunks, "u": uploads).
  // The envelopes stored for letter `id` at `provider`, in order (empty after a failure).
  std::vector<std::string> StoredEnvelopes(const std::string& provider, const std::string& id) {
    absl::StatusOr<std::optional<sim::v1::SimLetter>> letter = store_->GetLetter(provider, id);
    if (!letter.ok() || !letter->has_value()) {
      ADD_FAILURE() << "letter " << id << " not stored";
      return {};
    }
    std::vector<std::string> out((*letter)->documents_size());
    for (uint32_t part = 0; part < out.size(); ++part) {
      const absl::Status read = store_->ReadChunks(
          (*letter)->upload_id(), part, [&](std::string_view bytes) { out[part].append(bytes); });
      if (!read.ok()) {
        ADD_FAILURE() << read;
        return {};
      }
    }
    return out;
  }

  size_t KeysWithPrefix(const std::string& prefix) {
    std::unique_ptr<rocksdb::Iterator> it(store_->raw().NewIterator(rocksdb::ReadOptions()));
    size_t n = 0;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
    return n;
  }

  absl::StatusOr<provider::v1::PullReceiptsResponse> Pull(const std::string& provider) {
    provider::v1::PullReceiptsRequest request;
    request.set_max_receipts(100);
    return sim_->PullReceipts(provider, request);
  }

  absl::Status SetBehaviour(const std::function<void(sim::v1::SetBehaviourRequest&)>& fill) {
    sim::v1::SetBehaviourRequest request;
    fill(request);
    return sim_->SetBehaviour(request).status();
  }

  testutil::TempDir dir_{"mailbox-sim"};
  MailboxSimConfig config_;
  common::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  common::LetterIdGenerator ids_;
  std::map<std::string, std::string> certs_;
  std::vector<absl::Duration> slept_;
  std::unique_ptr<SimStore> store_;
  std::unique_ptr<MailboxSim> sim_;
};

TEST_F(MailboxSimTest, ServesEveryProviderWithAKey) {
  EXPECT_EQ(sim_->ProviderIds(), (std::vector<std::string>{kDev, kPrint, kOther}));
}

TEST_F(MailboxSimTest, DeliveryIsIdempotentAcrossRestart) {
  const std::string id = NewLetterId();
  const std::string envelope = Envelope(kDev, std::string(5000, 'x'));
  absl::StatusOr<provider::v1::DeliverResponse> first = Deliver(kDev, Stream(id, {envelope}));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->replayed());
  EXPECT_FALSE(first->delivery_id().empty());

  Open();  // a restart: the store is closed and opened again
  clock_.Advance(absl::Hours(1));
  absl::StatusOr<provider::v1::DeliverResponse> again = Deliver(kDev, Stream(id, {envelope}));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  EXPECT_EQ(again->delivery_id(), first->delivery_id());
  EXPECT_EQ(common::FromProto(again->delivered_time()), common::FromProto(first->delivered_time()));

  const sim::v1::ProviderStatus status = StatusOf(kDev);
  EXPECT_EQ(status.letters(), 1u);
  EXPECT_EQ(status.duplicates(), 0u);
  EXPECT_EQ(status.replays(), 1u);
  ASSERT_EQ(status.mailboxes_size(), 1);
  EXPECT_EQ(status.mailboxes(0).address(), "kari.nordmann@dev");
  EXPECT_EQ(status.mailboxes(0).letter_ids(0), id);
  // The replay stored nothing: one letter's envelope (one pointer to a segment, however
  // many chunks it came in), no upload left open.
  EXPECT_EQ(KeysWithPrefix("c"), 1u);
  EXPECT_EQ(KeysWithPrefix("u"), 0u);
  // The same letter id at another provider is another letter.
  ASSERT_TRUE(Deliver(kOther, Stream(id, {Envelope(kOther, "y")})).ok());
  EXPECT_EQ(StatusOf(kOther).letters(), 1u);
}

TEST_F(MailboxSimTest, TwoStreamsOfOneLetterAtOnceShowItOnce) {
  // Both streams start before either commits (a courier retrying while its first attempt
  // still runs): the second to finish is answered as a replay.
  const std::string id = NewLetterId();
  const std::vector<DeliverRequest> stream = Stream(id, {Envelope(kDev, "once")});
  absl::StatusOr<std::unique_ptr<MailboxSim::Delivery>> a = sim_->StartDelivery(kDev);
  absl::StatusOr<std::unique_ptr<MailboxSim::Delivery>> b = sim_->StartDelivery(kDev);
  ASSERT_TRUE(a.ok() && b.ok());
  for (const DeliverRequest& r : stream) {
    ASSERT_TRUE((*a)->Add(r).ok());
    ASSERT_TRUE((*b)->Add(r).ok());
  }
  absl::StatusOr<provider::v1::DeliverResponse> first = (*a)->Finish();
  absl::StatusOr<provider::v1::DeliverResponse> second = (*b)->Finish();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE(first->replayed());
  EXPECT_TRUE(second->replayed());
  EXPECT_EQ(second->delivery_id(), first->delivery_id());
  a->reset();
  b->reset();
  const sim::v1::ProviderStatus status = StatusOf(kDev);
  EXPECT_EQ(status.letters(), 1u);
  EXPECT_EQ(status.duplicates(), 0u);
  EXPECT_EQ(KeysWithPrefix("c"), 1u);  // the committed stream's one chunk
  EXPECT_EQ(KeysWithPrefix("u"), 0u);
}

TEST_F(MailboxSimTest, StreamsBeyondTheLimitAreRefusedForNow) {
  std::vector<std::unique_ptr<MailboxSim::Delivery>> open;
  for (int i = 0; i < config_.max_streams; ++i) {
    absl::StatusOr<std::unique_ptr<MailboxSim::Delivery>> d = sim_->StartDelivery(kDev);
    ASSERT_TRUE(d.ok()) << d.status();
    open.push_back(*std::move(d));
  }
  EXPECT_EQ(sim_->StartDelivery(kDev).status().code(), absl::StatusCode::kResourceExhausted);
  open.pop_back();
  EXPECT_TRUE(sim_->StartDelivery(kDev).ok());
}

TEST_F(MailboxSimTest, StoredEnvelopeIsTheOneReceived) {
  const std::string id = NewLetterId();
  const std::string a = Envelope(kDev, "first"), b = Envelope(kDev, std::string(3000, 'b'));
  ASSERT_TRUE(Deliver(kDev, Stream(id, {a, b}, "x@dev", 700)).ok());
  EXPECT_EQ(StoredEnvelopes(kDev, id), (std::vector<std::string>{a, b}));
}

TEST_F(MailboxSimTest, AbandonedStreamLeavesNothingSmallOrLarge) {
  // Small: nothing reaches the store before the commit, so a stream cut off leaves nothing.
  const std::string short_envelope = Envelope(kDev, "short");
  const std::vector<DeliverRequest> small = Stream(NewLetterId(), {short_envelope});
  {
    absl::StatusOr<std::unique_ptr<MailboxSim::Delivery>> d = sim_->StartDelivery(kDev);
    ASSERT_TRUE(d.ok());
    for (const DeliverRequest& r : small) ASSERT_TRUE((*d)->Add(r).ok());
    EXPECT_EQ(KeysWithPrefix("c"), 0u);
    EXPECT_EQ(KeysWithPrefix("u"), 0u);
  }
  EXPECT_EQ(KeysWithPrefix("c"), 0u);
  EXPECT_EQ(StatusOf(kDev).letters(), 0u);

  // Large: two envelopes of 600 KiB pass kHeldBytes, so the upload starts (its marker, the
  // chunks held so far) before the commit, and a stream cut off is discarded.
  const std::string a = Envelope(kDev, std::string(600 << 10, 'a'));
  const std::string b = Envelope(kDev, std::string(600 << 10, 'b'));
  ASSERT_GT(a.size() + b.size(), kHeldBytes);
  const std::string id = NewLetterId();
  const std::vector<DeliverRequest> large = Stream(id, {a, b}, "x@dev", kMaxChunkBytes);
  {
    absl::StatusOr<std::unique_ptr<MailboxSim::Delivery>> d = sim_->StartDelivery(kDev);
    ASSERT_TRUE(d.ok());
    for (const DeliverRequest& r : large) ASSERT_TRUE((*d)->Add(r).ok());
    EXPECT_EQ(KeysWithPrefix("u"), 1u);
    EXPECT_GT(KeysWithPrefix("c"), 0u);
  }
  EXPECT_EQ(KeysWithPrefix("u"), 0u);
  EXPECT_EQ(KeysWithPrefix("c"), 0u);

  // Both delivered whole read back as received: the small one's envelope from a segment
  // (RocksDB holds a pointer to it), the large one's chunks from RocksDB.
  ASSERT_TRUE(Deliver(kDev, small).ok());
  EXPECT_EQ(KeysWithPrefix("c"), 1u);
  {
    std::unique_ptr<rocksdb::Iterator> it(store_->raw().NewIterator(rocksdb::ReadOptions()));
    it->Seek("c");
    ASSERT_TRUE(it->Valid());
    const std::optional<storage::SegmentPointer> pointer =
        storage::DecodeSegmentPointer(std::string_view(it->value().data(), it->value().size()));
    ASSERT_TRUE(pointer.has_value());
    EXPECT_EQ(pointer->length, short_envelope.size());
  }
  ASSERT_TRUE(Deliver(kDev, large).ok());
  EXPECT_EQ(KeysWithPrefix("u"), 0u);
  // a's chunks were all held when b's second chunk passed kHeldBytes, and went as one; so
  // did b's first; b's later chunks went as they came.
  EXPECT_EQ(KeysWithPrefix("c"), 1 + 1 + (b.size() + kMaxChunkBytes - 1) / kMaxChunkBytes);
  EXPECT_EQ(StoredEnvelopes(kDev, id), (std::vector<std::string>{a, b}));
  EXPECT_EQ(StatusOf(kDev).letters(), 2u);
}

TEST_F(MailboxSimTest, DocumentThatDoesNotDecryptIsRefusedAndNothingStays) {
  const std::string id = NewLetterId();
  // Encrypted to another provider's certificate: valid CMS, not for this key.
  absl::StatusOr<provider::v1::DeliverResponse> wrong_key =
      Deliver(kDev, Stream(id, {Envelope(kDev, "ok"), Envelope(kOther, "not for dev")}));
  EXPECT_EQ(wrong_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(wrong_key.status().message().find("document 1 does not decrypt"), std::string::npos)
      << wrong_key.status();
  // Not CMS at all.
  absl::StatusOr<provider::v1::DeliverResponse> garbage =
      Deliver(kDev, Stream(id, {std::string(2000, 'g')}));
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  // A changed byte: GCM's tag refuses it.
  std::string changed = Envelope(kDev, std::string(4000, 'c'));
  changed[changed.size() - 2000] ^= 1;
  EXPECT_EQ(Deliver(kDev, Stream(id, {changed})).status().code(),
            absl::StatusCode::kInvalidArgument);

  const sim::v1::ProviderStatus status = StatusOf(kDev);
  EXPECT_EQ(status.letters(), 0u);
  EXPECT_EQ(status.undecryptable_documents(), 3u);
  EXPECT_EQ(KeysWithPrefix("c"), 0u);
  EXPECT_EQ(KeysWithPrefix("u"), 0u);
  // The letter can still be delivered properly afterwards.
  EXPECT_TRUE(DeliverOne(kDev, id).ok());
}

TEST_F(MailboxSimTest, StreamRulesAreEnforced) {
  const std::string id = NewLetterId();
  const std::string envelope = Envelope(kDev, "abc");
  std::vector<DeliverRequest> stream = Stream(id, {envelope});
  auto expect_invalid = [&](std::vector<DeliverRequest> s, const char* what) {
    EXPECT_EQ(Deliver(kDev, s).status().code(), absl::StatusCode::kInvalidArgument) << what;
  };
  expect_invalid({stream.begin() + 1, stream.end()}, "no header");
  {
    auto s = stream;
    s.insert(s.begin() + 1, stream[0]);
    expect_invalid(s, "two headers");
  }
  {
    auto s = stream;
    s.pop_back();
    expect_invalid(s, "cut off");
  }
  {
    auto s = stream;
    s[1].mutable_document()->set_index(1);
    expect_invalid(s, "wrong index");
  }
  {
    auto s = stream;
    s[1].mutable_document()->set_envelope_size(envelope.size() - 1);
    expect_invalid(s, "more bytes than declared");
  }
  {
    auto s = stream;
    s[0].mutable_header()->set_letter_id("not-a-letter-id");
    expect_invalid(s, "bad letter id");
  }
  {
    auto s = stream;
    s[0].mutable_header()->set_document_count(2);
    expect_invalid(s, "fewer documents than the header says");
  }
  {
    auto s = stream;
    s[1].mutable_document()->set_envelope_size(config_.max_document_bytes + 1);
    absl::StatusOr<provider::v1::DeliverResponse> r = Deliver(kDev, s);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("larger than the provider accepts"), std::string::npos);
  }
  EXPECT_EQ(StatusOf(kDev).letters(), 0u);
  EXPECT_EQ(KeysWithPrefix("c"), 0u);
}

TEST_F(MailboxSimTest, ProviderIdMustBeGivenAndServed) {
  const std::string id = NewLetterId();
  EXPECT_EQ(sim_->StartDelivery("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sim_->StartDelivery("nobody").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sim_->StartDelivery("../../etc").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Pull("nobody").status().code(), absl::StatusCode::kFailedPrecondition);
  // A key made after start is found on first use.
  ASSERT_TRUE(crypto::EnsureDevProviderCertificate(config_.providers_dir, "late", "late").ok());
  EXPECT_TRUE(sim_->StartDelivery("late").ok());
}

TEST_F(MailboxSimTest, RestartsLeaveNoEmptySegmentsAndKeepEveryEnvelope) {
  const std::string id = NewLetterId();
  const std::string envelope = Envelope(kDev, "kept across restarts");
  ASSERT_TRUE(Deliver(kDev, Stream(id, {envelope})).ok());
  for (int i = 0; i < 3; ++i) Open();
  // A clean stop removes the segment a start began if nothing went into it.
  ASSERT_EQ(store_->segments().Segments().size(), 1u);
  // A crash leaves it behind: the next Open seals it, and then removes it.
  const std::filesystem::path left = config_.data_dir / "segments" / storage::SegmentFileName(99);
  { std::ofstream(left).flush(); }
  ASSERT_TRUE(std::filesystem::exists(left));
  Open();
  EXPECT_FALSE(std::filesystem::exists(left));
  EXPECT_EQ(store_->segments().Segments().size(), 1u);
  EXPECT_EQ(StoredEnvelopes(kDev, id), std::vector<std::string>{envelope});
}

TEST_F(MailboxSimTest, UploadCutOffByACrashIsRemovedAtOpen) {
  ASSERT_TRUE(store_->BeginUpload("crashed").ok());
  ASSERT_TRUE(store_->PutChunk("crashed", 0, 0, "envelope bytes").ok());
  Open();
  EXPECT_EQ(KeysWithPrefix("c"), 0u);
  EXPECT_EQ(KeysWithPrefix("u"), 0u);
}

TEST_F(MailboxSimTest, ReceiptsComeAfterTheDelayAndAreRedeliveredUntilAcknowledged) {
  ASSERT_TRUE(SetBehaviour([](auto& r) { r.set_read_share(0.5); }).ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(NewLetterId());
    ASSERT_TRUE(DeliverOne(kDev, ids.back()).ok());
    clock_.Advance(absl::Seconds(1));
  }
  // Not yet read.
  ASSERT_TRUE(Pull(kDev).ok());
  EXPECT_EQ(Pull(kDev)->receipts_size(), 0);
  clock_.Advance(absl::Minutes(10));
  absl::StatusOr<provider::v1::PullReceiptsResponse> pulled = Pull(kDev);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  // Exactly half, evenly spread: the second and the fourth.
  ASSERT_EQ(pulled->receipts_size(), 2);
  EXPECT_EQ(pulled->receipts(0).letter_id(), ids[1]);
  EXPECT_EQ(pulled->receipts(1).letter_id(), ids[3]);
  EXPECT_EQ(pulled->receipts(0).kind(), provider::v1::RECEIPT_KIND_READ);
  EXPECT_LT(common::FromProto(pulled->receipts(0).time()),
            common::FromProto(pulled->receipts(1).time()));
  EXPECT_EQ(StatusOf(kDev).receipts_unacknowledged(), 2u);
  // Other providers' receipts are their own.
  EXPECT_EQ(Pull(kOther)->receipts_size(), 0);

  Open();  // a restart: still offered
  absl::StatusOr<provider::v1::PullReceiptsResponse> again = Pull(kDev);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->receipts_size(), 2);
  provider::v1::AcknowledgeReceiptsRequest ack;
  ack.add_receipt_ids(again->receipts(0).receipt_id());
  ack.add_receipt_ids("unknown-id");
  ack.add_receipt_ids("0000000000000000-" + ids[0]);
  ASSERT_TRUE(sim_->AcknowledgeReceipts(kDev, ack).ok());
  // Acknowledged at another provider id: ignored there.
  provider::v1::AcknowledgeReceiptsRequest elsewhere;
  elsewhere.add_receipt_ids(again->receipts(1).receipt_id());
  ASSERT_TRUE(sim_->AcknowledgeReceipts(kOther, elsewhere).ok());

  absl::StatusOr<provider::v1::PullReceiptsResponse> rest = Pull(kDev);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->receipts_size(), 1);
  EXPECT_EQ(rest->receipts(0).letter_id(), ids[3]);
  provider::v1::AcknowledgeReceiptsRequest last;
  last.add_receipt_ids(rest->receipts(0).receipt_id());
  ASSERT_TRUE(sim_->AcknowledgeReceipts(kDev, last).ok());
  EXPECT_EQ(Pull(kDev)->receipts_size(), 0);
  EXPECT_EQ(StatusOf(kDev).receipts_unacknowledged(), 0u);
}

TEST_F(MailboxSimTest, ReadShareZeroMakesNoReceipts) {
  ASSERT_TRUE(SetBehaviour([](auto& r) { r.set_read_share(0); }).ok());
  ASSERT_TRUE(DeliverOne(kDev, NewLetterId()).ok());
  clock_.Advance(absl::Hours(24 * 31));
  EXPECT_EQ(Pull(kDev)->receipts_size(), 0);
}

TEST_F(MailboxSimTest, FailShareFailsThatShareTransiently) {
  ASSERT_TRUE(SetBehaviour([](auto& r) { r.set_fail_share(0.5); }).ok());
  std::vector<absl::StatusCode> codes;
  for (int i = 0; i < 6; ++i) codes.push_back(DeliverOne(kDev, NewLetterId()).status().code());
  const auto kOk = absl::StatusCode::kOk, kUnavailable = absl::StatusCode::kUnavailable;
  EXPECT_EQ(codes, (std::vector<absl::StatusCode>{kOk, kUnavailable, kOk, kUnavailable, kOk,
                                                  kUnavailable}));
  // A retry of a failed letter goes through on its next turn, and receipts are not affected.
  EXPECT_TRUE(Pull(kDev).ok());
  const sim::v1::ProviderStatus status = StatusOf(kDev);
  EXPECT_EQ(status.letters(), 3u);
  EXPECT_EQ(status.injected_failures(), 3u);
  EXPECT_EQ(status.duplicates(), 0u);
}

TEST_F(MailboxSimTest, RejectRefusesPermanentlyButNeverADeliveredLetter) {
  const std::string delivered = NewLetterId();
  ASSERT_TRUE(DeliverOne(kDev, delivered).ok());
  ASSERT_TRUE(SetBehaviour([](auto& r) { r.set_reject_share(1); }).ok());
  absl::StatusOr<provider::v1::DeliverResponse> closed = DeliverOne(kDev, NewLetterId());
  EXPECT_EQ(closed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(closed.status().message(), "mailbox closed (simulated)");
  ASSERT_TRUE(SetBehaviour([](auto& r) { r.set_reject_kind(sim::v1::REJECT_KIND_INVALID); }).ok());
  EXPECT_EQ(DeliverOne(kDev, NewLetterId()).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<provider::v1::DeliverResponse> replay = DeliverOne(kDev, delivered);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed());
  EXPECT_EQ(StatusOf(kDev).injected_rejections(), 2u);
}

TEST_F(MailboxSimTest, DownRefusesEveryCallUntilUp) {
  ASSERT_TRUE(SetBehaviour([](auto& r) { r.set_down(true); }).ok());
  EXPECT_EQ(DeliverOne(kDev, NewLetterId()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Pull(kDev).status().code(), absl::StatusCode::kUnavailable);
  provider::v1::GetBatchRequest get;
  get.set_batch_id("b1");
  EXPECT_EQ(sim_->GetBatch(kPrint, get).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(sim_->StartBatch(kPrint).status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(SetBehaviour([](auto& r) { r.set_down(false); }).ok());
  EXPECT_TRUE(DeliverOne(kDev, NewLetterId()).ok());
}

TEST_F(MailboxSimTest, BehaviourPerProviderAndReset) {
  ASSERT_TRUE(SetBehaviour([](auto& r) {
                r.set_provider_id(kDev);
                r.set_down(true);
              }).ok());
  EXPECT_EQ(DeliverOne(kDev, NewLetterId()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(DeliverOne(kOther, NewLetterId()).ok());
  EXPECT_FALSE(StatusOf(kDev).default_behaviour());
  ASSERT_TRUE(SetBehaviour([](auto& r) {
                r.set_provider_id(kDev);
                r.set_reset(true);
              }).ok());
  EXPECT_TRUE(DeliverOne(kDev, NewLetterId()).ok());
  EXPECT_EQ(SetBehaviour([](auto& r) { r.set_fail_share(1.5); }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SetBehaviour([](auto& r) { r.mutable_delay()->set_seconds(61); }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SetBehaviour([](auto& r) { r.set_provider_id("nobody"); }).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(MailboxSimTest, SlowWaitsTheDelayBeforeAnswering) {
  ASSERT_TRUE(SetBehaviour([](auto& r) { r.mutable_delay()->set_seconds(2); }).ok());
  const absl::Time before = clock_.Now();
  absl::StatusOr<provider::v1::DeliverResponse> delivered = DeliverOne(kDev, NewLetterId());
  ASSERT_TRUE(delivered.ok());
  ASSERT_TRUE(Pull(kDev).ok());
  EXPECT_EQ(slept_, (std::vector<absl::Duration>{absl::Seconds(2), absl::Seconds(2)}));
  // Delivered after the wait (the clock the delivery time comes from moved with it).
  EXPECT_EQ(common::FromProto(delivered->delivered_time()), before + absl::Seconds(2));
}

TEST_F(MailboxSimTest, DocumentsStayEncryptedOnDisk) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Deliver(kDev, Stream(NewLetterId(), {Envelope(kDev, std::string(kMarker) +
                                                                        std::string(20000, 'p'))}))
                    .ok());
  }
  provider::v1::SpoolBatch spool;
  spool.set_batch_id("batch-plain");
  auto* letter = spool.add_letters();
  letter->set_letter_id(NewLetterId());
  letter->add_documents()->set_content(kMarker);
  SubmitBatchRequest header;
  const std::string envelope = Envelope(kPrint, spool.SerializeAsString());
  header.mutable_header()->set_batch_id("batch-plain");
  header.mutable_header()->set_letter_count(1);
  header.mutable_header()->set_envelope_size(envelope.size());
  SubmitBatchRequest chunk;
  chunk.set_chunk(envelope);
  absl::StatusOr<std::unique_ptr<MailboxSim::BatchUpload>> upload = sim_->StartBatch(kPrint);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Add(header).ok());
  ASSERT_TRUE((*upload)->Add(chunk).ok());
  ASSERT_TRUE((*upload)->Finish().ok());
  upload->reset();  // an upload refers to its simulator: it goes first
  sim_.reset();
  store_.reset();  // closed: everything is in files
  EXPECT_FALSE(testutil::FilesContaining(config_.data_dir, "kari.nordmann@dev").empty())
      << "the scan must see what the store holds";
  EXPECT_TRUE(testutil::FilesContaining(config_.data_dir, kMarker).empty());
}

class PrintBatchTest : public MailboxSimTest {
 protected:
  static provider::v1::SpoolBatch Spool(const std::string& batch_id, int letters) {
    provider::v1::SpoolBatch spool;
    spool.set_batch_id(batch_id);
    for (int i = 0; i < letters; ++i) {
      auto* l = spool.add_letters();
      l->set_letter_id(absl::StrCat("letter-", i));
      l->set_cover_pdf("%PDF cover");
      auto* d = l->add_documents();
      d->set_filename("a.pdf");
      d->set_page_count(1);
      d->set_content("%PDF document");
    }
    return spool;
  }

  absl::StatusOr<provider::v1::SubmitBatchResponse> Submit(const std::string& batch_id,
                                                           uint32_t letter_count,
                                                           const std::string& envelope) {
    absl::StatusOr<std::unique_ptr<MailboxSim::BatchUpload>> upload = sim_->StartBatch(kPrint);
    if (!upload.ok()) return upload.status();
    SubmitBatchRequest header;
    header.mutable_header()->set_batch_id(batch_id);
    header.mutable_header()->set_letter_count(letter_count);
    header.mutable_header()->set_envelope_size(envelope.size());
    if (absl::Status s = (*upload)->Add(header); !s.ok()) return s;
    for (size_t at = 0; at < envelope.size(); at += kMaxChunkBytes) {
      SubmitBatchRequest chunk;
      chunk.set_chunk(envelope.substr(at, kMaxChunkBytes));
      if (absl::Status s = (*upload)->Add(chunk); !s.ok()) return s;
    }
    return (*upload)->Finish();
  }

  absl::StatusOr<provider::v1::GetBatchResponse> Get(const std::string& batch_id) {
    provider::v1::GetBatchRequest request;
    request.set_batch_id(batch_id);
    return sim_->GetBatch(kPrint, request);
  }
};

TEST_F(PrintBatchTest, BatchIsIdempotentAndPrintedAfterTheDelay) {
  const std::string envelope = Envelope(kPrint, Spool("b-1", 3).SerializeAsString());
  absl::StatusOr<provider::v1::SubmitBatchResponse> first = Submit("b-1", 3, envelope);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->replayed());
  EXPECT_EQ(Get("b-1")->state(), provider::v1::BATCH_STATE_RECEIVED);
  Open();
  absl::StatusOr<provider::v1::SubmitBatchResponse> again = Submit("b-1", 3, envelope);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  clock_.Advance(absl::Minutes(5));
  absl::StatusOr<provider::v1::GetBatchResponse> printed = Get("b-1");
  ASSERT_TRUE(printed.ok());
  EXPECT_EQ(printed->state(), provider::v1::BATCH_STATE_PRINTED);
  EXPECT_EQ(common::FromProto(printed->time()), clock_.Now());
  EXPECT_EQ(Get("b-2").status().code(), absl::StatusCode::kNotFound);
  const sim::v1::ProviderStatus status = StatusOf(kPrint);
  EXPECT_EQ(status.batches(), 1u);
  EXPECT_EQ(status.batch_letters(), 3u);
}

TEST_F(PrintBatchTest, BatchThatDoesNotDecryptOrParseIsRefused) {
  EXPECT_EQ(Submit("b-1", 1, Envelope(kDev, Spool("b-1", 1).SerializeAsString())).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Submit("b-1", 1, Envelope(kPrint, "\xff\xff not a spool batch")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Submit("b-1", 2, Envelope(kPrint, Spool("b-1", 1).SerializeAsString())).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Submit("b-1", 1, Envelope(kPrint, Spool("b-9", 1).SerializeAsString())).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Get("b-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(KeysWithPrefix("c"), 0u);
  EXPECT_TRUE(Submit("b-1", 1, Envelope(kPrint, Spool("b-1", 1).SerializeAsString())).ok());
}

}  // namespace
}  // namespace utpost::mailbox_sim
