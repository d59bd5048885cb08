// The registry's store on a real RocksDB in a temp dir with a real file key store: what is
// written reads back, writes are synced, the index key survives reopening and rotation, and
// nothing identifying is in clear in any file of the directory.
#include "storage/registry_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "crypto/file_key_store.h"
#include "tests/testutil/files.h"

namespace utpost::storage {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const absl::Time kNow = absl::FromUnixSeconds(1'750'000'000);

v1::RegistryEntry Person(const std::string& id, const std::string& name,
                         const std::string& street) {
  ::utpost::v1::RegistryEntry e;
  e.mutable_person()->mutable_id()->set_norwegian_national_id(id);
  e.mutable_person()->mutable_mailbox()->set_provider_id("dev");
  e.mutable_person()->mutable_mailbox()->set_address(name + "@mailbox");
  auto* a = e.mutable_person()->mutable_postal_address();
  a->set_name(name);
  a->add_address_lines(street);
  a->set_postal_code("0155");
  a->set_city("Oslo");
  a->set_country_code("NO");
  return e;
}

v1::RegistryKey PersonKey(const std::string& id) {
  ::utpost::v1::RegistryKey k;
  k.mutable_person()->set_norwegian_national_id(id);
  return k;
}

class RegistryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::FileKeyStore::EnsureKey(key_dir()).ok());
    OpenKeys();
    Open();
  }

  fs::path key_dir() const { return dir_.path() / "keys"; }
  fs::path db_dir() const { return dir_.path() / "registry"; }

  void OpenKeys() {
    auto keys = crypto::FileKeyStore::Open(key_dir());
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = std::move(*keys);
  }

  void Open() {
    store_.reset();
    auto store = RegistryStore::Open({.path = db_dir()}, *keys_, kNow);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  testutil::TempDir dir_;
  std::unique_ptr<crypto::FileKeyStore> keys_;
  std::unique_ptr<RegistryStore> store_;
};

TEST_F(RegistryStoreTest, WhatIsPutReadsBackAndDeleteRemovesIt) {
  const ::utpost::v1::RegistryEntry kari = Person("15076500565", "Kari", "Storgata 1");
  auto replaced = store_->Put(std::vector<::utpost::v1::RegistryEntry>{kari});
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_THAT(*replaced, ::testing::ElementsAre(false));

  auto got = store_->Get(
      std::vector<::utpost::v1::RegistryKey>{PersonKey("02028234530"), PersonKey("15076500565")});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_FALSE((*got)[0].has_value());
  ASSERT_TRUE((*got)[1].has_value());
  EXPECT_EQ((*got)[1]->SerializeAsString(), kari.SerializeAsString());

  auto found = store_->Delete(PersonKey("15076500565"));
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(*found);
  found = store_->Delete(PersonKey("15076500565"));
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(*found);
  auto empty = store_->Empty();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(*empty);
}

TEST_F(RegistryStoreTest, ReplacedCountsStoredEntriesAndEarlierOnesInTheSameBatch) {
  ASSERT_TRUE(
      store_->Put(std::vector<::utpost::v1::RegistryEntry>{Person("15076500565", "A", "S 1")})
          .ok());
  auto replaced = store_->Put(std::vector<::utpost::v1::RegistryEntry>{
      Person("15076500565", "B", "S 2"), Person("17059121030", "C", "S 3"),
      Person("17059121030", "D", "S 4")});
  ASSERT_TRUE(replaced.ok());
  EXPECT_THAT(*replaced, ::testing::ElementsAre(true, false, true));
  auto got = store_->Get(std::vector<::utpost::v1::RegistryKey>{PersonKey("17059121030")});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)[0]->person().postal_address().name(), "D") << "the later row wins";
}

TEST_F(RegistryStoreTest, EveryWriteSyncsTheLog) {
  const uint64_t before = store_->Ticker(rocksdb::WAL_FILE_SYNCED);
  ASSERT_TRUE(
      store_->Put(std::vector<::utpost::v1::RegistryEntry>{Person("15076500565", "A", "S")}).ok());
  EXPECT_EQ(store_->Ticker(rocksdb::WAL_FILE_SYNCED), before + 1);
  ASSERT_TRUE(store_->Delete(PersonKey("15076500565")).ok());
  EXPECT_EQ(store_->Ticker(rocksdb::WAL_FILE_SYNCED), before + 2);
}

TEST_F(RegistryStoreTest, TheDirectoryIsPrivate) { EXPECT_EQ(testutil::ModeOf(db_dir()), 0700u); }

TEST_F(RegistryStoreTest, TheIndexKeySurvivesReopeningAndIsRewrappedAfterRotation) {
  ASSERT_TRUE(
      store_->Put(std::vector<::utpost::v1::RegistryEntry>{Person("15076500565", "A", "S")}).ok());
  EXPECT_EQ(store_->index_kek_id(), "0001");
  Open();
  auto got = store_->Get(std::vector<::utpost::v1::RegistryKey>{PersonKey("15076500565")});
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE((*got)[0].has_value());

  store_.reset();
  ASSERT_TRUE(crypto::FileKeyStore::Rotate(key_dir()).ok());
  OpenKeys();
  Open();
  EXPECT_EQ(store_->index_kek_id(), "0002");
  got = store_->Get(std::vector<::utpost::v1::RegistryKey>{PersonKey("15076500565")});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE((*got)[0].has_value()) << "the same index key, rewrapped";
}

TEST_F(RegistryStoreTest, ADifferentKeyUnderTheSameIdIsRefused) {
  store_.reset();
  fs::remove(key_dir() / "kek-0001.key");
  ASSERT_TRUE(crypto::FileKeyStore::CreateFirstKey(key_dir()).ok());
  OpenKeys();
  auto store = RegistryStore::Open({.path = db_dir()}, *keys_, kNow);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("0001"));
}

TEST_F(RegistryStoreTest, NoIdentifierNameOrAddressIsInClearOnDisk) {
  // Distinctive values, so a hit cannot be a coincidence.
  const std::vector<::utpost::v1::RegistryEntry> entries = {
      Person("15076500565", "Zyxwvuta Plaintextsen", "Qwertyveien 4242"),
      Person("02028234530", "Mnbvcxz Klartekst", "Asdfghgata 9191")};
  ASSERT_TRUE(store_->Put(entries).ok());
  ::utpost::v1::RegistryEntry org;
  org.mutable_organisation()->mutable_id()->set_danish_cvr("29189846");
  org.mutable_organisation()->mutable_inbox()->set_provider_id("dev");
  org.mutable_organisation()->mutable_inbox()->set_address("hemmelig-indbakke@example");
  ASSERT_TRUE(store_->Put(std::vector<::utpost::v1::RegistryEntry>{org}).ok());

  const std::vector<std::string> needles = {
      "15076500565",  "02028234530",       "29189846",          "Zyxwvuta",
      "Plaintextsen", "Qwertyveien",       "Mnbvcxz",           "Asdfghgata",
      "Klartekst",    "hemmelig-indbakke", "person/NO/1507650", "Zyxwvuta@mailbox"};
  auto scan = [&](const char* when) {
    for (const std::string& needle : needles) {
      EXPECT_THAT(testutil::FilesContaining(db_dir(), needle), IsEmpty()) << needle << " " << when;
    }
  };
  store_.reset();  // closed: every file as it stays on disk (write-ahead log included)
  scan("in the write-ahead log");
  // The scan reads the files: the column families' names are in clear in RocksDB's own.
  EXPECT_THAT(testutil::FilesContaining(db_dir(), "organisations"), ::testing::Not(IsEmpty()));
  Open();
  ASSERT_TRUE(store_->FlushAndCompact().ok());
  store_.reset();
  scan("after a flush and compaction");
  // The scan can find things: the needles are in the sealed values' plaintext.
  Open();
  auto got = store_->Get(std::vector<::utpost::v1::RegistryKey>{PersonKey("15076500565")});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)[0]->person().postal_address().name(), "Zyxwvuta Plaintextsen");
}

}  // namespace
}  // namespace utpost::storage
