// The registry's logic without gRPC: a real RocksDB in a temp dir, a real file key store,
// an injected clock, and real provider certificates.
#include "services/registry/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "common/field_violations.h"
#include "crypto/dev_provider_cert.h"
#include "crypto/file_key_store.h"
#include "google/protobuf/util/time_util.h"
#include "services/registry/dev_seed.h"
#include "tests/testutil/files.h"

namespace utpost::registry {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kStart = absl::FromUnixSeconds(1'750'000'000);

std::vector<std::string> Fields(const absl::Status& status) {
  std::vector<std::string> fields;
  if (auto bad = common::GetBadRequest(status)) {
    for (const auto& v : bad->field_violations()) fields.push_back(v.field());
  }
  return fields;
}

v1::RegistryEntry Person(const std::string& id, const std::string& provider = "") {
  v1::RegistryEntry e;
  e.mutable_person()->mutable_id()->set_norwegian_national_id(id);
  if (!provider.empty()) {
    e.mutable_person()->mutable_mailbox()->set_provider_id(provider);
    e.mutable_person()->mutable_mailbox()->set_address(id + "@" + provider);
  }
  return e;
}

v1::RegistryKey PersonKey(const std::string& id) {
  v1::RegistryKey k;
  k.mutable_person()->set_norwegian_national_id(id);
  return k;
}

// Valid Norwegian national ids: synthetic numbers (month + 80 is not used here) are made
// from day/month/year and an individual number, with both check digits computed.
std::string NationalId(int n) {
  // Birth date 01.01.1950 + n days (within a few years), individual number 100..499.
  const absl::CivilDay day = absl::CivilDay(1950, 1, 1) + (n % 3000);
  const int individual = 100 + (n / 3000) % 400;
  for (int ind = individual;; ++ind) {
    std::string s =
        absl::StrFormat("%02d%02d%02d%03d", day.day(), day.month(), day.year() % 100, ind % 500);
    int d[11];
    for (int i = 0; i < 9; ++i) d[i] = s[i] - '0';
    const int w1[9] = {3, 7, 6, 1, 8, 9, 4, 5, 2};
    const int w2[10] = {5, 4, 3, 2, 7, 6, 5, 4, 3, 2};
    int sum = 0;
    for (int i = 0; i < 9; ++i) sum += d[i] * w1[i];
    int k1 = 11 - sum % 11;
    if (k1 == 11) k1 = 0;
    if (k1 == 10) continue;
    d[9] = k1;
    sum = 0;
    for (int i = 0; i < 10; ++i) sum += d[i] * w2[i];
    int k2 = 11 - sum % 11;
    if (k2 == 11) k2 = 0;
    if (k2 == 10) continue;
    return absl::StrCat(s, k1, k2);
  }
}

class RegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cert_dir_ = new testutil::TempDir("registry-certs");
    auto pem = crypto::EnsureDevProviderCertificate(cert_dir_->path(), "dev", "Test provider");
    ASSERT_TRUE(pem.ok()) << pem.status();
    cert_pem_ = new std::string(*pem);
  }
  static void TearDownTestSuite() {
    delete cert_dir_;
    delete cert_pem_;
  }

  void SetUp() override {
    ASSERT_TRUE(crypto::FileKeyStore::EnsureKey(dir_.path() / "keys").ok());
    auto keys = crypto::FileKeyStore::Open(dir_.path() / "keys");
    ASSERT_TRUE(keys.ok());
    keys_ = std::move(*keys);
    Reopen();
  }

  void Reopen() {
    registry_.reset();
    store_.reset();
    auto store = storage::RegistryStore::Open({.path = dir_.path() / "registry"}, *keys_, kStart);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto registry = Registry::Create(*store_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
  }

  static v1::RegistryEntry Provider(const std::string& id, v1::SecurityLevel level) {
    v1::RegistryEntry e;
    e.mutable_provider()->set_provider_id(id);
    e.mutable_provider()->set_name("Provider " + id);
    e.mutable_provider()->set_endpoint("https://" + id + ".example");
    e.mutable_provider()->set_encryption_certificate_pem(*cert_pem_);
    e.mutable_provider()->set_max_security_level(level);
    return e;
  }

  absl::StatusOr<v1::UpsertResponse> Upsert(const v1::RegistryEntry& entry) {
    v1::UpsertRequest request;
    *request.mutable_entry() = entry;
    return registry_->Upsert(request);
  }

  absl::StatusOr<std::vector<v1::LookupResult>> Lookup(const std::vector<v1::RegistryKey>& keys) {
    google::protobuf::RepeatedPtrField<v1::RegistryKey> field(keys.begin(), keys.end());
    return registry_->Lookup(field);
  }

  static testutil::TempDir* cert_dir_;
  static std::string* cert_pem_;
  testutil::TempDir dir_;
  common::FakeClock clock_{kStart};
  std::unique_ptr<crypto::FileKeyStore> keys_;
  std::unique_ptr<storage::RegistryStore> store_;
  std::unique_ptr<Registry> registry_;
};

testutil::TempDir* RegistryTest::cert_dir_ = nullptr;
std::string* RegistryTest::cert_pem_ = nullptr;

TEST_F(RegistryTest, UpsertStampsTheTimeAndLookupResolvesTheProvider) {
  ASSERT_TRUE(Upsert(Provider("dev", v1::SECURITY_LEVEL_HIGH)).ok());
  clock_.Advance(absl::Seconds(5));
  auto up = Upsert(Person("15076500565", "dev"));
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_FALSE(up->replaced());
  EXPECT_EQ(up->entry().person().update_time().seconds(), absl::ToUnixSeconds(kStart) + 5);
  up = Upsert(Person("15076500565", "dev"));
  ASSERT_TRUE(up.ok());
  EXPECT_TRUE(up->replaced());

  auto results = Lookup({PersonKey("15076500565"), PersonKey("17059121030")});
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 2u);
  EXPECT_EQ((*results)[0].entry().person().mailbox().address(), "15076500565@dev");
  EXPECT_EQ((*results)[0].provider().provider_id(), "dev");
  EXPECT_EQ((*results)[0].provider().max_security_level(), v1::SECURITY_LEVEL_HIGH);
  EXPECT_FALSE((*results)[1].has_entry()) << "no entry for an unknown person";
}

TEST_F(RegistryTest, AMailboxAtAnUnknownProviderIsAFailedPrecondition) {
  auto up = Upsert(Person("15076500565", "nowhere"));
  EXPECT_EQ(up.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Fields(up.status()), ElementsAre("entry.person.mailbox.provider_id"));
  auto results = Lookup({PersonKey("15076500565")});
  ASSERT_TRUE(results.ok());
  EXPECT_FALSE((*results)[0].has_entry()) << "nothing was stored";
}

TEST_F(RegistryTest, EveryWrongFieldOfAnEntryIsNamed) {
  v1::RegistryEntry e = Person("15076500566");  // wrong check digit
  auto* a = e.mutable_person()->mutable_postal_address();
  a->set_name("");
  a->add_address_lines("Storgata 1");
  a->set_postal_code("12");
  a->set_city("Oslo");
  a->set_country_code("NO");
  auto up = Upsert(e);
  EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Fields(up.status()), ElementsAre("entry.person.id.norwegian_national_id",
                                               "entry.person.postal_address.name",
                                               "entry.person.postal_address.postal_code"));

  v1::RegistryEntry provider = Provider("Bad_Id", v1::SECURITY_LEVEL_HIGH);
  provider.mutable_provider()->set_endpoint("not an endpoint");
  up = Upsert(provider);
  EXPECT_THAT(Fields(up.status()),
              ElementsAre("entry.provider.provider_id", "entry.provider.endpoint"));

  // A utpost component's name is an endpoint; a name that could not be one is not.
  provider = Provider("dev", v1::SECURITY_LEVEL_HIGH);
  provider.mutable_provider()->set_endpoint("mailbox-sim");
  EXPECT_TRUE(Upsert(provider).ok());
  provider.mutable_provider()->set_endpoint("Mailbox-sim");
  EXPECT_THAT(Fields(Upsert(provider).status()), ElementsAre("entry.provider.endpoint"));

  provider = Provider("dev", v1::SECURITY_LEVEL_HIGH);
  provider.mutable_provider()->set_encryption_certificate_pem(
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  up = Upsert(provider);
  EXPECT_THAT(Fields(up.status()), ElementsAre("entry.provider.encryption_certificate_pem"));
}

TEST_F(RegistryTest, DeleteSaysWhetherThereWasAnEntry) {
  ASSERT_TRUE(Upsert(Person("15076500565")).ok());
  v1::DeleteRequest request;
  *request.mutable_key() = PersonKey("15076500565");
  auto deleted = registry_->Delete(request);
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(deleted->found());
  deleted = registry_->Delete(request);
  ASSERT_TRUE(deleted.ok());
  EXPECT_FALSE(deleted->found());
  request.mutable_key()->mutable_person()->set_norwegian_national_id("1");
  EXPECT_THAT(Fields(registry_->Delete(request).status()),
              ElementsAre("key.person.norwegian_national_id"));
}

TEST_F(RegistryTest, LookupAnswersAThousandKeysInOrderAndRefusesMore) {
  ASSERT_TRUE(Upsert(Provider("dev", v1::SECURITY_LEVEL_HIGH)).ok());
  v1::ImportRequest import;
  std::vector<v1::RegistryKey> keys;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NationalId(i);
    keys.push_back(PersonKey(id));
    if (i % 2 == 0) {  // every other one is in the registry
      v1::ImportRow* row = import.add_rows();
      row->set_line(i + 1);
      *row->mutable_entry() = Person(id, "dev");
    }
  }
  v1::ImportResponse progress;
  ASSERT_TRUE(registry_->ImportBatch(import, progress).ok());
  ASSERT_EQ(progress.error_count(), 0u) << progress.DebugString();
  ASSERT_EQ(progress.imported(), 500u);

  auto results = Lookup(keys);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    const v1::LookupResult& r = (*results)[i];
    ASSERT_EQ(r.has_entry(), i % 2 == 0) << i;
    if (r.has_entry()) {
      EXPECT_EQ(r.entry().person().id().norwegian_national_id(), NationalId(i));
      EXPECT_EQ(r.provider().provider_id(), "dev");
    }
  }

  keys.push_back(PersonKey(NationalId(1000)));
  EXPECT_THAT(Fields(Lookup(keys).status()), ElementsAre("keys"));
  EXPECT_THAT(Fields(Lookup({}).status()), ElementsAre("keys"));
  EXPECT_THAT(Fields(Lookup({PersonKey("15076500565"), PersonKey("123")}).status()),
              ElementsAre("keys[1].person.norwegian_national_id"));
}

TEST_F(RegistryTest, ImportWritesGoodRowsReportsBadOnesAndTheLastDuplicateWins) {
  v1::ImportRequest request;
  auto add = [&request](uint64_t line, v1::RegistryEntry e) {
    v1::ImportRow* row = request.add_rows();
    row->set_line(line);
    *row->mutable_entry() = std::move(e);
  };
  add(2, Person("15076500565", "dev"));  // unknown provider: it comes later
  add(3, Provider("dev", v1::SECURITY_LEVEL_HIGH));
  add(4, Person("17059121030", "dev"));  // good: the provider is now known
  add(5, Person("15076500566"));         // check digit
  add(6, Person("02028234530"));         // good
  v1::RegistryEntry reserved = Person("02028234530");
  reserved.mutable_person()->set_reserved(true);
  add(7, reserved);             // duplicate of line 6: wins
  add(8, v1::RegistryEntry());  // nothing set
  v1::ImportResponse progress;
  ASSERT_TRUE(registry_->ImportBatch(request, progress).ok());
  EXPECT_EQ(progress.imported(), 4u);
  EXPECT_EQ(progress.replaced(), 1u);
  EXPECT_EQ(progress.error_count(), 3u);
  ASSERT_EQ(progress.errors_size(), 3);
  EXPECT_EQ(progress.errors(0).line(), 2u);
  EXPECT_EQ(progress.errors(0).field(), "person.mailbox.provider_id");
  EXPECT_THAT(progress.errors(0).description(), HasSubstr("'dev'"));
  EXPECT_EQ(progress.errors(1).line(), 5u);
  EXPECT_EQ(progress.errors(1).field(), "person.id.norwegian_national_id");
  EXPECT_EQ(progress.errors(2).line(), 8u);
  EXPECT_EQ(progress.errors(2).field(), "entry");

  auto results =
      Lookup({PersonKey("15076500565"), PersonKey("17059121030"), PersonKey("02028234530")});
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_FALSE((*results)[0].has_entry()) << "a bad row is not written";
  EXPECT_TRUE((*results)[1].has_entry());
  EXPECT_TRUE((*results)[2].entry().person().reserved()) << "the last of two rows wins";

  // Imported again (an import cut short is simply run again): the rows written before
  // replace themselves, and line 2 goes in now that its provider is known.
  v1::ImportResponse again;
  ASSERT_TRUE(registry_->ImportBatch(request, again).ok());
  EXPECT_EQ(again.imported(), 5u);
  EXPECT_EQ(again.replaced(), 4u);
  EXPECT_EQ(again.error_count(), 2u);
}

TEST_F(RegistryTest, AnImportMessageOfMoreThanAThousandRowsIsRefusedWhole) {
  v1::ImportRequest request;
  for (int i = 0; i < 1001; ++i) {
    v1::ImportRow* row = request.add_rows();
    row->set_line(i + 1);
    *row->mutable_entry() = Person(NationalId(i));
  }
  v1::ImportResponse progress;
  absl::Status status = registry_->ImportBatch(request, progress);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Fields(status), ElementsAre("rows"));
  auto empty = registry_->Empty();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(*empty);
}

TEST_F(RegistryTest, ProvidersSurviveAReopen) {
  ASSERT_TRUE(Upsert(Provider("dev", v1::SECURITY_LEVEL_SUBSTANTIAL)).ok());
  ASSERT_TRUE(Upsert(Person("15076500565", "dev")).ok());
  Reopen();
  ASSERT_TRUE(Upsert(Person("17059121030", "dev")).ok()) << "the provider is still known";
  auto results = Lookup({PersonKey("15076500565")});
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].provider().max_security_level(), v1::SECURITY_LEVEL_SUBSTANTIAL);
}

TEST_F(RegistryTest, TheDevSeedCoversEveryCase) {
  const fs::path providers = dir_.path() / "pki" / "providers";
  DevSeedSource seed(providers);
  auto imported = registry_->ImportFrom(seed);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->error_count(), 0u) << imported->DebugString();
  EXPECT_EQ(imported->imported(), 15u);  // 3 providers, 12 recipients
  EXPECT_EQ(testutil::ModeOf(providers / "dev" / "key.pem"), 0600u);
  EXPECT_EQ(testutil::ModeOf(providers / "dev-print" / "key.pem"), 0600u);
  EXPECT_THAT(testutil::ReadAll(providers / "dev" / "key.pem"), HasSubstr("PRIVATE KEY"));

  using namespace dev_seed;  // NOLINT
  auto person = [](const char* id, bool norwegian) {
    v1::RegistryKey k;
    if (norwegian) {
      k.mutable_person()->set_norwegian_national_id(id);
    } else {
      k.mutable_person()->set_danish_cpr(id);
    }
    return k;
  };
  auto org = [](const char* id, bool norwegian) {
    v1::RegistryKey k;
    if (norwegian) {
      k.mutable_organisation()->set_norwegian_org_number(id);
    } else {
      k.mutable_organisation()->set_danish_cvr(id);
    }
    return k;
  };
  for (bool no : {true, false}) {
    auto r = Lookup({person(no ? kPersonWithMailbox : kCprWithMailbox, no),
                     person(no ? kPersonReserved : kCprExempt, no),
                     person(no ? kPersonWithoutMailbox : kCprWithoutMailbox, no),
                     person(no ? kPersonSubstantialOnly : kCprSubstantialOnly, no),
                     org(no ? kOrgWithInbox : kCvrWithInbox, no),
                     org(no ? kOrgWithoutInbox : kCvrWithoutInbox, no)});
    ASSERT_TRUE(r.ok()) << r.status();
    const auto& with_mailbox = (*r)[0];
    EXPECT_EQ(with_mailbox.provider().provider_id(), kProviderDev);
    // The mailbox simulator serves every dev provider, reached as a component.
    EXPECT_EQ(with_mailbox.provider().endpoint(), "mailbox-sim");
    EXPECT_FALSE(with_mailbox.entry().person().reserved());
    EXPECT_TRUE((*r)[1].entry().person().reserved());
    EXPECT_TRUE((*r)[1].entry().person().has_postal_address());
    EXPECT_FALSE((*r)[2].entry().person().has_mailbox());
    EXPECT_TRUE((*r)[2].entry().person().has_postal_address());
    EXPECT_EQ((*r)[3].provider().max_security_level(), v1::SECURITY_LEVEL_SUBSTANTIAL);
    EXPECT_TRUE((*r)[4].entry().organisation().has_inbox());
    EXPECT_EQ((*r)[4].provider().provider_id(), kProviderDev);
    EXPECT_FALSE((*r)[5].entry().organisation().has_inbox());
    EXPECT_TRUE((*r)[5].entry().organisation().has_postal_address());
  }

  // Seeding again keeps the providers' keys and replaces every entry.
  const std::string key_before = testutil::ReadAll(providers / "dev" / "key.pem");
  imported = registry_->ImportFrom(seed);
  ASSERT_TRUE(imported.ok());
  EXPECT_EQ(imported->replaced(), 15u);
  EXPECT_EQ(testutil::ReadAll(providers / "dev" / "key.pem"), key_before);
}

}  // namespace
}  // namespace utpost::registry
