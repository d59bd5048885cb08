#include "crypto/file_key_store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/envelope.h"
#include "crypto/secret.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"

namespace utpost::crypto {
namespace {

namespace fs = std::filesystem;
using testutil::MakeTempDir;
using testutil::ModeOf;
using testutil::ReadAll;

// Writes a key file as an operator might; `mode` is applied exactly, whatever the umask.
void WriteKeyFile(const fs::path& path, const std::string& bytes, mode_t mode = 0600) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ASSERT_EQ(::fchmod(fd, mode), 0);
  ASSERT_EQ(::close(fd), 0);
}

std::vector<std::string> FileNames(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class FileKeyStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = MakeTempDir();
    dir_ = root_ / "keys";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<FileKeyStore> OpenOrDie() {
    absl::StatusOr<std::unique_ptr<FileKeyStore>> store = FileKeyStore::Open(dir_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  fs::path root_;
  fs::path dir_;
};

TEST_F(FileKeyStoreTest, EnsureKeyCreatesOneKeyWithPrivateModes) {
  absl::StatusOr<std::string> id = FileKeyStore::EnsureKey(dir_);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "0001");
  EXPECT_EQ(ModeOf(dir_), 0700u);
  const fs::path key = dir_ / "kek-0001.key";
  EXPECT_EQ(ModeOf(key), 0600u);
  EXPECT_EQ(fs::file_size(key), 32u);
  EXPECT_EQ(FileNames(dir_), std::vector<std::string>{"kek-0001.key"});
}

TEST_F(FileKeyStoreTest, EnsureKeyIsIdempotent) {
  ASSERT_TRUE(FileKeyStore::EnsureKey(dir_).ok());
  const std::string first = ReadAll(dir_ / "kek-0001.key");
  absl::StatusOr<std::string> again = FileKeyStore::EnsureKey(dir_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, "0001");
  EXPECT_EQ(ReadAll(dir_ / "kek-0001.key"), first);
  EXPECT_EQ(FileNames(dir_), std::vector<std::string>{"kek-0001.key"});

  ASSERT_TRUE(FileKeyStore::Rotate(dir_).ok());
  absl::StatusOr<std::string> after_rotation = FileKeyStore::EnsureKey(dir_);
  ASSERT_TRUE(after_rotation.ok()) << after_rotation.status();
  EXPECT_EQ(*after_rotation, "0002");
}

TEST_F(FileKeyStoreTest, WrapUnwrapRoundTrip) {
  ASSERT_TRUE(FileKeyStore::EnsureKey(dir_).ok());
  std::unique_ptr<FileKeyStore> store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CurrentKeyId(), "0001");
  const SecretBytes data_key = SecretBytes::Random(32);
  absl::StatusOr<WrappedKey> wrapped = store->Wrap(data_key, "aad");
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  EXPECT_EQ(wrapped->kek_id, "0001");
  EXPECT_EQ(wrapped->wrapped.size(), 12u + 32u + 16u);
  EXPECT_EQ(wrapped->wrapped.find(data_key.view()), std::string::npos);

  absl::StatusOr<SecretBytes> unwrapped = store->Unwrap(*wrapped, "aad");
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_EQ(unwrapped->view(), data_key.view());

  EXPECT_EQ(store->Unwrap(*wrapped, "other aad").status().code(), absl::StatusCode::kDataLoss);
  WrappedKey tampered = *wrapped;
  tampered.wrapped[13] = static_cast<char>(tampered.wrapped[13] ^ 0x40);
  EXPECT_EQ(store->Unwrap(tampered, "aad").status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(FileKeyStoreTest, UnknownKekIdIsNotFound) {
  ASSERT_TRUE(FileKeyStore::EnsureKey(dir_).ok());
  std::unique_ptr<FileKeyStore> store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<WrappedKey> wrapped = store->Wrap(SecretBytes::Random(32), "aad");
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  wrapped->kek_id = "0002";
  EXPECT_EQ(store->Unwrap(*wrapped, "aad").status().code(), absl::StatusCode::kNotFound);
  wrapped->kek_id = "";
  EXPECT_EQ(store->Unwrap(*wrapped, "aad").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FileKeyStoreTest, RotationAddsTheNextKeyAndOldKeysStillUnwrap) {
  ASSERT_TRUE(FileKeyStore::EnsureKey(dir_).ok());
  std::unique_ptr<FileKeyStore> before = OpenOrDie();
  ASSERT_NE(before, nullptr);
  absl::StatusOr<WrappedKey> old_wrap = before->Wrap(SecretBytes::Random(32), "a");
  ASSERT_TRUE(old_wrap.ok());

  absl::StatusOr<std::string> second = FileKeyStore::Rotate(dir_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, "0002");
  absl::StatusOr<std::string> third = FileKeyStore::Rotate(dir_);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(*third, "0003");
  EXPECT_EQ(ModeOf(dir_ / "kek-0003.key"), 0600u);
  EXPECT_EQ(FileNames(dir_),
            (std::vector<std::string>{"kek-0001.key", "kek-0002.key", "kek-0003.key"}));
  EXPECT_NE(ReadAll(dir_ / "kek-0002.key"), ReadAll(dir_ / "kek-0003.key"));

  // A store opened before does not see the new keys.
  EXPECT_EQ(before->CurrentKeyId(), "0001");

  std::unique_ptr<FileKeyStore> after = OpenOrDie();
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->CurrentKeyId(), "0003");
  absl::StatusOr<WrappedKey> new_wrap = after->Wrap(SecretBytes::Random(32), "a");
  ASSERT_TRUE(new_wrap.ok());
  EXPECT_EQ(new_wrap->kek_id, "0003");
  EXPECT_TRUE(after->Unwrap(*old_wrap, "a").ok());
  EXPECT_TRUE(after->Unwrap(*new_wrap, "a").ok());
  EXPECT_EQ(before->Unwrap(*new_wrap, "a").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FileKeyStoreTest, IdsPast9999SortNumerically) {
  ASSERT_TRUE(FileKeyStore::EnsureKey(dir_).ok());
  WriteKeyFile(dir_ / "kek-9999.key", std::string(SecretBytes::Random(32).view()));
  absl::StatusOr<std::string> next = FileKeyStore::Rotate(dir_);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, "10000");
  EXPECT_EQ(ModeOf(dir_ / "kek-10000.key"), 0600u);

  std::unique_ptr<FileKeyStore> store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CurrentKeyId(), "10000");  // not "9999", which sorts last as text

  absl::StatusOr<std::string> after = FileKeyStore::Rotate(dir_);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, "10001");
  absl::StatusOr<std::string> current = FileKeyStore::EnsureKey(dir_);
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(*current, "10001");
}

TEST_F(FileKeyStoreTest, AKeyOthersOrAnotherGroupCanReadIsRejected) {
  ASSERT_TRUE(FileKeyStore::EnsureKey(dir_).ok());
  const std::string key = (dir_ / "kek-0001.key").string();
  // Group-writable, or readable by others: never.
  for (mode_t mode : {0660, 0620, 0650, 0604, 0644, 0600 | S_IROTH}) {
    ASSERT_EQ(::chmod(key.c_str(), mode), 0);
    absl::StatusOr<std::unique_ptr<FileKeyStore>> store = FileKeyStore::Open(dir_);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << std::oct << mode;
    EXPECT_NE(store.status().message().find("kek-0001.key"), std::string::npos) << store.status();
  }
  // Readable by the process's own group, as a Secret mounted with fsGroup is: accepted.
  for (mode_t mode : {0400, 0600, 0440, 0640}) {
    ASSERT_EQ(::chmod(key.c_str(), mode), 0);
    EXPECT_TRUE(FileKeyStore::Open(dir_).ok()) << std::oct << mode;
  }
  // Readable by a group the process is not in: refused (changing the group needs root).
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(key.c_str(), 0, ::getegid() + 4242), 0);
    ASSERT_EQ(::chmod(key.c_str(), 0440), 0);
    EXPECT_EQ(FileKeyStore::Open(dir_).status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST_F(FileKeyStoreTest, WrongSizeKeyIsRejected) {
  ASSERT_TRUE(FileKeyStore::EnsureKey(dir_).ok());
  WriteKeyFile(dir_ / "kek-0002.key", std::string(31, 'k'));
  absl::StatusOr<std::unique_ptr<FileKeyStore>> store = FileKeyStore::Open(dir_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("kek-0002.key"), std::string::npos) << store.status();

  fs::remove(dir_ / "kek-0002.key");
  WriteKeyFile(dir_ / "kek-0002.key", std::string(33, 'k'));
  EXPECT_EQ(FileKeyStore::Open(dir_).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FileKeyStoreTest, MalformedKeyFileNameIsRejected) {
  ASSERT_TRUE(FileKeyStore::EnsureKey(dir_).ok());
  for (const char* name : {"kek-1.key", "kek-00002.key", "kek-12a4.key", "kek-.key"}) {
    WriteKeyFile(dir_ / name, std::string(32, 'k'));
    absl::StatusOr<std::unique_ptr<FileKeyStore>> store = FileKeyStore::Open(dir_);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << name;
    EXPECT_NE(store.status().message().find(name), std::string::npos) << store.status();
    fs::remove(dir_ / name);
  }
  // Files that are not key files are left alone.
  WriteKeyFile(dir_ / ".kek-0002.key.0123456789abcdef.tmp", std::string(5, 'x'));
  WriteKeyFile(dir_ / "README", std::string(5, 'x'), 0644);
  std::unique_ptr<FileKeyStore> store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CurrentKeyId(), "0001");
}

TEST_F(FileKeyStoreTest, NoKeyIsFailedPrecondition) {
  EXPECT_EQ(FileKeyStore::Open(dir_).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(fs::create_directory(dir_));
  EXPECT_EQ(FileKeyStore::Open(dir_).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(FileKeyStore::Rotate(dir_).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FileKeyStoreTest, KeysOfTheSameBytesUnderOtherIdsDoNotUnwrap) {
  // The kek id is bound into the wrap, so a wrapped key cannot be moved to another id even
  // if both ids hold the same bytes.
  const std::string bytes(SecretBytes::Random(32).view());
  ASSERT_TRUE(fs::create_directory(dir_));
  WriteKeyFile(dir_ / "kek-0001.key", bytes);
  WriteKeyFile(dir_ / "kek-0002.key", bytes);
  std::unique_ptr<FileKeyStore> store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<WrappedKey> wrapped = store->Wrap(SecretBytes::Random(32), "a");
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(wrapped->kek_id, "0002");
  wrapped->kek_id = "0001";
  EXPECT_EQ(store->Unwrap(*wrapped, "a").status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace utpost::crypto

namespace utpost::crypto {
namespace {

namespace fs = std::filesystem;
using testutil::ModeOf;
using testutil::ReadAll;

class FileKeyStoreCheckTest : public testing::Test {
 protected:
  testutil::TempDir root_;
  fs::path dir_ = root_.path() / "keys";
};

TEST_F(FileKeyStoreCheckTest, CreateFirstKeyRefusesWhenAKeyExists) {
  absl::StatusOr<std::string> id = FileKeyStore::CreateFirstKey(dir_);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "0001");
  EXPECT_EQ(ModeOf(dir_), 0700u);
  const std::string key = ReadAll(dir_ / "kek-0001.key");
  absl::StatusOr<std::string> again = FileKeyStore::CreateFirstKey(dir_);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("0001"), std::string::npos) << again.status();
  EXPECT_EQ(ReadAll(dir_ / "kek-0001.key"), key) << "the existing key is untouched";
  ASSERT_TRUE(FileKeyStore::Rotate(dir_).ok());
  EXPECT_EQ(FileKeyStore::CreateFirstKey(dir_).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(FileKeyStoreCheckTest, CheckValuesNameEveryKeyAndChangeWithTheKey) {
  ASSERT_TRUE(FileKeyStore::CreateFirstKey(dir_).ok());
  ASSERT_TRUE(FileKeyStore::Rotate(dir_).ok());
  auto store = FileKeyStore::Open(dir_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->KeyIds(), (std::vector<std::string>{"0001", "0002"}));
  auto first = (*store)->CheckValue("0001");
  auto second = (*store)->CheckValue("0002");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->size(), 16u);
  EXPECT_NE(*first, *second);
  EXPECT_EQ(*first, KeyCheckValue(SecretBytes(ReadAll(dir_ / "kek-0001.key"))));
  EXPECT_EQ((*store)->CheckValue("0003").status().code(), absl::StatusCode::kNotFound);

  // A key made afresh under the same id has another check value.
  fs::remove(dir_ / "kek-0001.key");
  fs::remove(dir_ / "kek-0002.key");
  ASSERT_TRUE(FileKeyStore::CreateFirstKey(dir_).ok());
  auto remade = FileKeyStore::Open(dir_);
  ASSERT_TRUE(remade.ok());
  auto remade_check = (*remade)->CheckValue("0001");
  ASSERT_TRUE(remade_check.ok());
  EXPECT_NE(*remade_check, *first);
}

}  // namespace
}  // namespace utpost::crypto
