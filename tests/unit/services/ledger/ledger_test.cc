// The ledger's logic without gRPC: a real RocksDB in a temp dir, a real file key store, and
// an injected clock.
#include "services/ledger/ledger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/field_violations.h"
#include "crypto/digest.h"
#include "crypto/file_key_store.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "storage/keys.h"
#include "tests/testutil/test_stack.h"

namespace utpost::ledger {
namespace {

using testutil::ValidLetter;

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::FileKeyStore::EnsureKey(dir_.path() / "keys").ok());
    auto keys = crypto::FileKeyStore::Open(dir_.path() / "keys");
    ASSERT_TRUE(keys.ok());
    keys_ = std::move(*keys);
    auto db = storage::Db::Open({.path = dir_.path() / "ledger"});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    store_ = std::make_unique<storage::LedgerStore>(*db_);
    auto ledger = Ledger::Create({}, *store_, *keys_, clock_);
    ASSERT_TRUE(ledger.ok());
    ledger_ = std::move(*ledger);
  }

  std::string Send() {
    auto r = ledger_->SendLetter(testutil::kOslo, ValidLetter("x"));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->letter_id() : "";
  }

  testutil::TempDir dir_;
  common::FakeClock clock_{absl::FromUnixSeconds(1'790'000'000)};
  std::unique_ptr<crypto::FileKeyStore> keys_;
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<storage::LedgerStore> store_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(LedgerTest, AcceptedTimeAndIdComeFromTheInjectedClock) {
  auto r = ledger_->SendLetter(testutil::kOslo, ValidLetter("x"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted_time().seconds(), 1'790'000'000);
  auto id = common::DecodeLetterId(r->letter_id());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(common::LetterIdTime(*id), absl::FromUnixSeconds(1'790'000'000));
}

// Letter ids are case-insensitive on input; what is decrypted is bound to the id as issued.
TEST_F(LedgerTest, AnIdSpeltInLowerCaseOpensTheLetterAndItsDocuments) {
  const std::string id = Send();
  std::string lower = id;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  ASSERT_NE(lower, id);
  v1::GetLetterRequest get;
  get.set_letter_id(lower);
  auto letter = ledger_->GetLetter(testutil::kOslo, get);
  ASSERT_TRUE(letter.ok()) << letter.status();
  EXPECT_EQ(letter->letter().letter_id(), id);
  auto document = ledger_->ReadDocument(testutil::kOslo, lower, 0);
  ASSERT_TRUE(document.ok()) << document.status();
  EXPECT_TRUE(document->starts_with("%PDF-"));
}

TEST_F(LedgerTest, TimeWindowIsExactBelowAMillisecond) {
  const absl::Time t0 = clock_.Now();
  clock_.Set(t0 + absl::Microseconds(300));
  const std::string early = Send();
  clock_.Set(t0 + absl::Microseconds(600));
  const std::string late = Send();
  v1::ListLettersRequest request;
  request.mutable_accepted_after()->set_seconds(absl::ToUnixSeconds(t0));
  request.mutable_accepted_after()->set_nanos(500'000);
  auto page = ledger_->ListLetters(testutil::kOslo, request);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->letters_size(), 1);
  EXPECT_EQ(page->letters(0).letter_id(), late);

  v1::ListLettersRequest before;
  *before.mutable_accepted_before() = request.accepted_after();
  page = ledger_->ListLetters(testutil::kOslo, before);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->letters_size(), 1);
  EXPECT_EQ(page->letters(0).letter_id(), early);
}

TEST_F(LedgerTest, StatusFilterScansBoundedWorkPerPage) {
  LedgerConfig config;
  config.list_max_scan = 5;
  auto ledger = Ledger::Create(config, *store_, *keys_, clock_);
  ASSERT_TRUE(ledger.ok());
  for (int i = 0; i < 12; ++i) {
    clock_.Advance(absl::Milliseconds(1));
    Send();
  }
  v1::ListLettersRequest request;
  request.add_statuses(v1::LETTER_STATUS_CANCELLED);  // matches nothing
  int pages = 0;
  for (;;) {
    auto page = (*ledger)->ListLetters(testutil::kOslo, request);
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->letters_size(), 0);
    ++pages;
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  EXPECT_EQ(pages, 3) << "12 letters at 5 per page";
}

TEST_F(LedgerTest, TransitionsFollowTheLifeOfALetter) {
  using S = v1::LetterStatus;
  EXPECT_TRUE(IsAllowedTransition(S::LETTER_STATUS_ACCEPTED, S::LETTER_STATUS_ROUTED));
  EXPECT_TRUE(IsAllowedTransition(S::LETTER_STATUS_ROUTED, S::LETTER_STATUS_QUEUED_FOR_PRINT));
  EXPECT_TRUE(
      IsAllowedTransition(S::LETTER_STATUS_DELIVERED_DIGITALLY, S::LETTER_STATUS_QUEUED_FOR_PRINT));
  EXPECT_TRUE(IsAllowedTransition(S::LETTER_STATUS_QUEUED_FOR_PRINT, S::LETTER_STATUS_PRINTED));
  EXPECT_FALSE(IsAllowedTransition(S::LETTER_STATUS_PRINTED, S::LETTER_STATUS_CANCELLED));
  EXPECT_FALSE(IsAllowedTransition(S::LETTER_STATUS_READ, S::LETTER_STATUS_QUEUED_FOR_PRINT));
  EXPECT_FALSE(
      IsAllowedTransition(S::LETTER_STATUS_DELIVERED_DIGITALLY, S::LETTER_STATUS_CANCELLED));
  EXPECT_FALSE(IsAllowedTransition(S::LETTER_STATUS_CANCELLED, S::LETTER_STATUS_ROUTED));

  const std::string id = Send();
  Transition bad{id, S::LETTER_STATUS_PRINTED, v1::STATUS_REASON_PRINT_CONFIRMED, v1::CHANNEL_PRINT,
                 ""};
  EXPECT_EQ(ledger_->ApplyTransition(testutil::kOslo, bad).status().code(),
            absl::StatusCode::kFailedPrecondition);
  Transition no_reason{id, S::LETTER_STATUS_ROUTED, v1::STATUS_REASON_UNSPECIFIED,
                       v1::CHANNEL_PRINT, ""};
  EXPECT_EQ(ledger_->ApplyTransition(testutil::kOslo, no_reason).status().code(),
            absl::StatusCode::kInvalidArgument);
  Transition routed{id, S::LETTER_STATUS_ROUTED, v1::STATUS_REASON_RECIPIENT_RESERVED,
                    v1::CHANNEL_PRINT, "reserved in the contact register"};
  auto letter = ledger_->ApplyTransition(testutil::kOslo, routed);
  ASSERT_TRUE(letter.ok()) << letter.status();
  EXPECT_EQ(letter->channel(), v1::CHANNEL_PRINT);
  // Another organisation cannot drive this letter.
  EXPECT_EQ(ledger_->ApplyTransition(testutil::kBergen, routed).status().code(),
            absl::StatusCode::kNotFound);
  auto got = ledger_->GetLetter(testutil::kOslo, [&] {
    v1::GetLetterRequest r;
    r.set_letter_id(id);
    return r;
  }());
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->events_size(), 2);
  EXPECT_EQ(got->events(1).reason(), v1::STATUS_REASON_RECIPIENT_RESERVED);
  EXPECT_EQ(got->events(1).detail(), "reserved in the contact register");
}

v1::SendLetterRequest WithKey(v1::SendLetterRequest request, std::string_view key) {
  request.set_idempotency_key(std::string(key));
  return request;
}

TEST_F(LedgerTest, ARetryWhoseSizesWereNeverComputedReplays) {
  const v1::SendLetterRequest original = WithKey(ValidLetter("retry"), "retry-1");
  const std::string wire = original.SerializeAsString();

  // First attempt as the server receives it: parsed from bytes, no size ever computed.
  v1::SendLetterRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  auto first = ledger_->SendLetter(testutil::kOslo, parsed);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->replayed());

  // The retry, built in process and modified after its sizes were computed: the cached
  // size of the document is stale, the content the same.
  v1::SendLetterRequest modified = original;
  modified.mutable_documents(0)->set_filename("a-much-longer-name-than-before.pdf");
  modified.ByteSizeLong();
  modified.mutable_documents(0)->set_filename(original.documents(0).filename());
  auto retry = ledger_->SendLetter(testutil::kOslo, modified);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->replayed());
  EXPECT_EQ(retry->letter_id(), first->letter_id());

  // And parsed afresh once more.
  v1::SendLetterRequest again;
  ASSERT_TRUE(again.ParseFromString(wire));
  auto third = ledger_->SendLetter(testutil::kOslo, again);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE(third->replayed());

  // A different request under the same key still conflicts.
  v1::SendLetterRequest other = original;
  other.set_title("Et annet vedtak");
  EXPECT_EQ(ledger_->SendLetter(testutil::kOslo, other).status().code(),
            absl::StatusCode::kAlreadyExists);
}

// The request's deterministic serialization, every size computed, as protobuf writes it.
std::string DeterministicSerialization(const v1::SendLetterRequest& request) {
  std::string serialized;
  request.ByteSizeLong();
  google::protobuf::io::StringOutputStream stream(&serialized);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  request.SerializeWithCachedSizes(&coded);
  coded.Trim();
  return serialized;
}

std::string Sha256Of(std::string_view data) {
  crypto::Sha256 sha;
  sha.Update(data);
  return sha.Finish();
}

// The ledger's fingerprint key, as its database holds it, unwrapped with the test's key store.
absl::StatusOr<crypto::SecretBytes> StoredFingerprintKey(const storage::LedgerStore& store,
                                                         const crypto::KeyStore& keys,
                                                         std::string* kek_id = nullptr) {
  auto record = store.GetFingerprintKey();
  if (!record.ok()) return record.status();
  if (!record->has_value()) return absl::NotFoundError("no fingerprint key");
  if (kek_id != nullptr) *kek_id = (*record)->kek_id();
  return keys.Unwrap(crypto::WrappedKey{(*record)->kek_id(), (*record)->wrapped_key()},
                     "utpost ledger idempotency fingerprint key");
}

// The version-2 fingerprint is GMAC, under the ledger's own key and the record's nonce, of the
// request's deterministic serialization with every size computed: byte for byte what protobuf
// writes to a string, also for documents large enough to be hashed where they lie (aliased)
// rather than through a buffer. No unkeyed hash of the request is stored.
TEST_F(LedgerTest, TheFingerprintIsAKeyedHashOfTheDeterministicSerialization) {
  auto key = StoredFingerprintKey(*store_, *keys_);
  ASSERT_TRUE(key.ok()) << key.status();
  ASSERT_EQ(key->size(), crypto::Gmac::kKeyBytes);
  std::set<std::string> nonces;
  for (const size_t bytes : {size_t{2048}, size_t{200'000}}) {
    v1::SendLetterRequest request =
        WithKey(ValidLetter("fingerprint", bytes), absl::StrCat("fingerprint-", bytes));
    v1::SendLetterRequest parsed;
    ASSERT_TRUE(parsed.ParseFromString(request.SerializeAsString()));
    auto sent = ledger_->SendLetter(testutil::kOslo, parsed);
    ASSERT_TRUE(sent.ok()) << sent.status();
    const std::string serialized = DeterministicSerialization(parsed);
    ASSERT_GT(serialized.size(), bytes);
    auto record = store_->GetIdempotency(testutil::kOslo, absl::StrCat("fingerprint-", bytes));
    ASSERT_TRUE(record.ok()) << record.status();
    ASSERT_TRUE(record->has_value());
    EXPECT_EQ((*record)->fingerprint_version(), 2u);
    ASSERT_EQ((*record)->fingerprint_nonce().size(), crypto::Gmac::kNonceBytes);
    nonces.insert((*record)->fingerprint_nonce());
    crypto::Gmac gmac(*key, (*record)->fingerprint_nonce());
    gmac.Update(serialized);
    EXPECT_EQ((*record)->request_sha256(), gmac.Finish()) << bytes << " bytes";
    EXPECT_NE((*record)->request_sha256(), Sha256Of(serialized));
  }
  EXPECT_EQ(nonces.size(), 2u) << "each record has a nonce of its own";
}

TEST_F(LedgerTest, TheFingerprintKeyOutlivesARestartAndIsRewrappedAfterRotation) {
  const v1::SendLetterRequest request = WithKey(ValidLetter("rotation"), "rotation-1");
  auto first = ledger_->SendLetter(testutil::kOslo, request);
  ASSERT_TRUE(first.ok()) << first.status();
  std::string kek_before;
  auto key_before = StoredFingerprintKey(*store_, *keys_, &kek_before);
  ASSERT_TRUE(key_before.ok()) << key_before.status();

  // A new key-encryption key, and a restart that sees it.
  auto rotated = crypto::FileKeyStore::Rotate(dir_.path() / "keys");
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  ASSERT_NE(*rotated, kek_before);
  auto keys = crypto::FileKeyStore::Open(dir_.path() / "keys");
  ASSERT_TRUE(keys.ok()) << keys.status();
  ledger_.reset();
  keys_ = std::move(*keys);
  auto ledger = Ledger::Create({}, *store_, *keys_, clock_);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  ledger_ = std::move(*ledger);

  std::string kek_after;
  auto key_after = StoredFingerprintKey(*store_, *keys_, &kek_after);
  ASSERT_TRUE(key_after.ok()) << key_after.status();
  EXPECT_EQ(kek_after, *rotated) << "rewrapped under the current key";
  EXPECT_EQ(key_after->view(), key_before->view()) << "the same fingerprint key";

  // A retry from before the restart is still recognised, and a different request still
  // conflicts.
  auto again = ledger_->SendLetter(testutil::kOslo, request);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  EXPECT_EQ(again->letter_id(), first->letter_id());
  v1::SendLetterRequest other = request;
  other.mutable_documents(0)->mutable_content()->back() ^= 1;
  EXPECT_EQ(ledger_->SendLetter(testutil::kOslo, other).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(LedgerTest, AFingerprintKeyWrappedByAMissingKekStopsTheStart) {
  auto record = store_->GetFingerprintKey();
  ASSERT_TRUE(record.ok() && record->has_value());
  storage::FingerprintKeyRecord moved = **record;
  moved.set_kek_id("9999");
  ASSERT_TRUE(store_->PutFingerprintKey(moved).ok());
  auto ledger = Ledger::Create({}, *store_, *keys_, clock_);
  ASSERT_EQ(ledger.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(ledger.status().message()), ::testing::HasSubstr("9999"));
}

TEST_F(LedgerTest, IdempotencyRecordsOfVersionOneStillRecogniseARetry) {
  // A record as the previous release wrote it: SHA-256 of the deterministic serialization.
  const v1::SendLetterRequest request = WithKey(ValidLetter("sha"), "sha-1");
  storage::IdempotencyRecord previous;
  previous.set_request_sha256(Sha256Of(DeterministicSerialization(request)));
  previous.set_fingerprint_version(1);
  previous.set_letter_id("01KAWBDW8G0000000000000001");
  previous.mutable_accepted_time()->set_seconds(1'780'000'000);
  ASSERT_TRUE(db_->raw()
                  .Put(rocksdb::WriteOptions(), db_->cf(storage::Cf::kIdempotency),
                       storage::keys::Idempotency(testutil::kOslo, "sha-1"),
                       previous.SerializeAsString())
                  .ok());
  auto replayed = ledger_->SendLetter(testutil::kOslo, request);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_TRUE(replayed->replayed());
  EXPECT_EQ(replayed->letter_id(), previous.letter_id());
  v1::SendLetterRequest other = request;
  other.set_title("Et annet vedtak");
  EXPECT_EQ(ledger_->SendLetter(testutil::kOslo, other).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(LedgerTest, AVersionTwoRecordWithoutAWholeNonceIsDataLoss) {
  const v1::SendLetterRequest request = WithKey(ValidLetter("nonce"), "nonce-1");
  ASSERT_TRUE(ledger_->SendLetter(testutil::kOslo, request).ok());
  auto record = store_->GetIdempotency(testutil::kOslo, "nonce-1");
  ASSERT_TRUE(record.ok() && record->has_value());
  storage::IdempotencyRecord damaged = **record;
  damaged.set_fingerprint_nonce("short");
  ASSERT_TRUE(db_->raw()
                  .Put(rocksdb::WriteOptions(), db_->cf(storage::Cf::kIdempotency),
                       storage::keys::Idempotency(testutil::kOslo, "nonce-1"),
                       damaged.SerializeAsString())
                  .ok());
  EXPECT_EQ(ledger_->SendLetter(testutil::kOslo, request).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(LedgerTest, IdempotencyRecordsOfVersionZeroStillRecogniseARetry) {
  // A record as written before fingerprints were versioned: SHA-256 of the deterministic
  // serialization of the request as parsed from the wire, its nested lengths all 0.
  const v1::SendLetterRequest request = WithKey(ValidLetter("legacy"), "legacy-1");
  v1::SendLetterRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(request.SerializeAsString()));
  std::string serialized;
  {
    google::protobuf::io::StringOutputStream stream(&serialized);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    parsed.SerializeWithCachedSizes(&coded);
  }
  crypto::Sha256 sha;
  sha.Update(serialized);
  storage::IdempotencyRecord legacy;
  legacy.set_request_sha256(sha.Finish());
  legacy.set_letter_id("01KAWBDW8G0000000000000000");
  legacy.mutable_accepted_time()->set_seconds(1'780'000'000);
  ASSERT_EQ(legacy.fingerprint_version(), 0u);
  ASSERT_TRUE(db_->raw()
                  .Put(rocksdb::WriteOptions(), db_->cf(storage::Cf::kIdempotency),
                       storage::keys::Idempotency(testutil::kOslo, "legacy-1"),
                       legacy.SerializeAsString())
                  .ok());

  auto replayed = ledger_->SendLetter(testutil::kOslo, request);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_TRUE(replayed->replayed());
  EXPECT_EQ(replayed->letter_id(), legacy.letter_id());

  v1::SendLetterRequest other = request;
  other.set_title("Et annet vedtak");
  EXPECT_EQ(ledger_->SendLetter(testutil::kOslo, other).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(LedgerTest, EventDetailsAreStoredSealedAndReadOpen) {
  const std::string id = Send();
  Transition routed{id, v1::LETTER_STATUS_ROUTED, v1::STATUS_REASON_RECIPIENT_RESERVED,
                    v1::CHANNEL_PRINT, "reservert i kontaktregisteret"};
  ASSERT_TRUE(ledger_->ApplyTransition(testutil::kOslo, routed).ok());
  auto stored = store_->GetEvents(*common::DecodeLetterId(id));
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 2u);
  EXPECT_TRUE((*stored)[0].sealed_detail().empty()) << "an empty detail is not sealed";
  EXPECT_EQ((*stored)[1].index(), 1u);
  EXPECT_TRUE((*stored)[1].event().detail().empty());
  EXPECT_EQ((*stored)[1].sealed_detail().find("kontaktregisteret"), std::string::npos);
  auto events = ledger_->ReadEvents(testutil::kOslo, 0, 10);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].detail(), "reservert i kontaktregisteret");

  // A sealed detail moved to another event does not open.
  storage::EventRecord moved = (*stored)[1];
  moved.set_index(0);
  ASSERT_TRUE(db_->raw()
                  .Put(rocksdb::WriteOptions(), db_->cf(storage::Cf::kEvents),
                       storage::keys::Event(*common::DecodeLetterId(id), 0),
                       moved.SerializeAsString())
                  .ok());
  v1::GetLetterRequest get;
  get.set_letter_id(id);
  EXPECT_EQ(ledger_->GetLetter(testutil::kOslo, get).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace utpost::ledger
