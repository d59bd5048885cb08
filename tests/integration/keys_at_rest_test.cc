// Keys and personal data at rest, through the real App: key check values that stop a start
// with a missing or different key-encryption key, a key directory apart from the data,
// private directories, and crypto-shredding of cancelled documents.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "crypto/file_key_store.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Initialises (without serving) an App on `data_dir` as TestStack does; returns its status.
absl::Status InitApp(const fs::path& data_dir,
                     const std::function<void(app::Config&)>& tweak = {}) {
  app::Config config;
  config.data_dir = data_dir;
  config.listen = "127.0.0.1:0";
  if (tweak) tweak(config);
  if (absl::Status s = app::Finalize(config); !s.ok()) return s;
  app::App app(config);
  return app.Init("all");
}

// Starts a stack on `dir`, sends one letter and stops; returns its id.
std::string SendOneAndStop(const fs::path& dir) {
  auto stack = TestStack::Start(dir);
  if (stack == nullptr) return "";
  auto sent = stack->Client().Send(ValidLetter("MARKER-KEYS"));
  EXPECT_TRUE(sent.ok()) << sent.status();
  return sent.ok() ? sent->letter_id() : "";
}

TEST(KeyCheckTest, AMissingKeyDirectoryIsRefusedNotReplaced) {
  TempDir dir;
  ASSERT_FALSE(SendOneAndStop(dir.path()).empty());
  const fs::path keys = dir.path() / "keys";
  fs::remove_all(keys);

  absl::Status status = InitApp(dir.path());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("0001"));
  EXPECT_THAT(std::string(status.message()), HasSubstr(keys.string()));
  EXPECT_FALSE(fs::exists(keys / "kek-0001.key")) << "no new key in place of the missing one";

  // The same for a key volume that is mounted but empty.
  fs::create_directories(keys);
  status = InitApp(dir.path());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("0001"));
  EXPECT_FALSE(fs::exists(keys / "kek-0001.key"));
}

TEST(KeyCheckTest, ADifferentKeyUnderTheSameIdIsRefused) {
  TempDir dir;
  const std::string id = SendOneAndStop(dir.path());
  ASSERT_FALSE(id.empty());
  const fs::path keys = dir.path() / "keys";
  const std::string original = ReadAll(keys / "kek-0001.key");
  fs::remove(keys / "kek-0001.key");
  ASSERT_TRUE(crypto::FileKeyStore::CreateFirstKey(keys).ok());

  absl::Status status = InitApp(dir.path());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("0001"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("check value differs"));

  // With the original key restored, the old letter reads again.
  fs::remove(keys / "kek-0001.key");
  {
    std::ofstream out(keys / "kek-0001.key", std::ios::binary);
    out << original;
  }
  fs::permissions(keys / "kek-0001.key", fs::perms::owner_read | fs::perms::owner_write);
  auto stack = TestStack::Start(dir.path());
  ASSERT_NE(stack, nullptr);
  auto got = stack->Client().Get(id);
  EXPECT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(stack->ledger().ledger->ReadDocument(kOslo, id, 0).ok());
}

TEST(KeyCheckTest, ARotatedKeyIsRecordedAndThenRequired) {
  TempDir dir;
  ASSERT_FALSE(SendOneAndStop(dir.path()).empty());
  const fs::path keys = dir.path() / "keys";
  auto rotated = crypto::FileKeyStore::Rotate(keys);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  ASSERT_FALSE(SendOneAndStop(dir.path()).empty()) << "a new key is recorded at start";
  fs::remove(keys / "kek-0002.key");
  absl::Status status = InitApp(dir.path());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("0002"));
}

TEST(KeyCheckTest, AFreshDatabaseWithoutTheDevPkiNeedsAnExplicitFirstKey) {
  TempDir dir;
  auto no_dev_pki = [](app::Config& c) {
    c.dev_pki = false;
    c.insecure = true;  // no certificates without the dev PKI
  };
  absl::Status status = InitApp(dir.path(), no_dev_pki);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("--create-kek"));
  EXPECT_FALSE(fs::exists(dir.path() / "keys" / "kek-0001.key"));
  ASSERT_TRUE(crypto::FileKeyStore::CreateFirstKey(dir.path() / "keys").ok());
  status = InitApp(dir.path(), no_dev_pki);
  EXPECT_TRUE(status.ok()) << status;
}

TEST(KeyDirTest, KeysCanLiveApartFromTheData) {
  TempDir data;
  TempDir secrets;
  const fs::path key_dir = secrets.path() / "utpost-keys";
  {
    auto stack = TestStack::Start(data.path(), [&](app::Config& c) { c.key_dir = key_dir; });
    ASSERT_NE(stack, nullptr);
    EXPECT_TRUE(stack->Client().Send(ValidLetter("MARKER-APART")).ok());
  }
  EXPECT_TRUE(fs::exists(key_dir / "kek-0001.key"));
  EXPECT_FALSE(fs::exists(data.path() / "keys"));
  // A relative key_dir is resolved against data_dir, like every other path.
  app::Config config;
  config.data_dir = data.path();
  config.key_dir = "other-keys";
  ASSERT_TRUE(app::Finalize(config).ok());
  EXPECT_EQ(config.ledger.key_dir, data.path() / "other-keys");
}

TEST(DataDirectoryTest, IsMadeForItsOwnerOnly) {
  TempDir root;
  // A new one, below a parent that does not exist yet.
  const fs::path fresh = root.path() / "new" / "data";
  {
    auto stack = TestStack::Start(fresh);
    ASSERT_NE(stack, nullptr);
  }
  EXPECT_EQ(ModeOf(fresh), 0700u);
  EXPECT_EQ(ModeOf(fresh / "ledger"), 0700u);
  EXPECT_EQ(ModeOf(fresh / "keys"), 0700u);

  // An existing one that others could read is tightened.
  const fs::path open = root.path() / "open";
  fs::create_directories(open / "ledger");
  fs::permissions(open, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(open / "ledger",
                  fs::perms::owner_all | fs::perms::others_read | fs::perms::others_exec);
  ASSERT_EQ(ModeOf(open), 0755u);
  {
    auto stack = TestStack::Start(open);
    ASSERT_NE(stack, nullptr);
  }
  EXPECT_EQ(ModeOf(open), 0700u);
  EXPECT_EQ(ModeOf(open / "ledger"), 0700u);
}

TEST(CryptoShreddingTest, AfterACancelNoFileHoldsTheWrappedDataKeys) {
  // Without print, which would take the letters out of reach of a cancel within moments.
  auto stack = TestStack::Start({}, {}, "ledger,registry,router");
  ASSERT_NE(stack, nullptr);
  auto client = stack->Client();
  // One letter whose keys reach an SST file as well as the WAL, one whose keys are only in
  // the WAL (and the memtable).
  auto flushed = client.Send(ValidLetter("MARKER-SHRED-FLUSHED"));
  ASSERT_TRUE(flushed.ok()) << flushed.status();
  ASSERT_TRUE(stack->ledger().db->FlushAll().ok());
  auto fresh = client.Send(ValidLetter("MARKER-SHRED-WAL"));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  auto kept = client.Send(ValidLetter("MARKER-SHRED-KEPT"));
  ASSERT_TRUE(kept.ok()) << kept.status();

  std::vector<std::string> wrapped_keys;
  for (const std::string& id : {flushed->letter_id(), fresh->letter_id()}) {
    auto document = stack->ledger().store->GetDocument(*common::DecodeLetterId(id), 0);
    ASSERT_TRUE(document.ok()) << document.status();
    wrapped_keys.push_back(document->wrapped_key());
    // The scan finds the key before the cancel.
    EXPECT_THAT(FilesContaining(stack->data_dir(), document->wrapped_key()), Not(IsEmpty()));
  }

  for (const std::string& id : {flushed->letter_id(), fresh->letter_id()}) {
    auto cancelled = client.Cancel(id);
    ASSERT_TRUE(cancelled.ok()) << cancelled.status();
    EXPECT_EQ(stack->ledger().ledger->ReadDocument(kOslo, id, 0).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(stack->ledger().store->GetDocument(*common::DecodeLetterId(id), 0).status().code(),
              absl::StatusCode::kNotFound);
  }
  // At once, without waiting for compaction: no file anywhere in the data directory.
  for (const std::string& wrapped : wrapped_keys) {
    EXPECT_THAT(FilesContaining(stack->data_dir(), wrapped), IsEmpty());
  }
  auto pending = stack->ledger().store->PendingShreds();
  ASSERT_TRUE(pending.ok());
  EXPECT_THAT(*pending, IsEmpty());
  // A letter that was not cancelled still reads.
  auto content = stack->ledger().ledger->ReadDocument(kOslo, kept->letter_id(), 0);
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(*content, ValidLetter("MARKER-SHRED-KEPT").documents(0).content());
  stack->Stop();
  for (const std::string& wrapped : wrapped_keys) {
    EXPECT_THAT(FilesContaining(stack->data_dir(), wrapped), IsEmpty());
  }
}

}  // namespace
}  // namespace utpost::testutil
