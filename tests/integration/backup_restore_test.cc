// Backups: AdminService.CreateCheckpoint of a live process while letters keep coming, then the
// documented restore (each store's directory from the checkpoint in place of the store's,
// the key-encryption keys from their own backup) into a new data directory. Every letter
// acknowledged before the checkpoint was asked for is there, with its history, and its
// documents decrypt. Only operators may take checkpoints; old ones are pruned by --keep.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/call_headers.h"
#include "common/grpc_status.h"
#include "services/utpost/admin_service.h"
#include "tests/testutil/test_stack.h"
#include "utpost/v1/admin.grpc.pb.h"

namespace utpost::testutil {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

absl::StatusOr<v1::CreateCheckpointResponse> Checkpoint(const TestStack& stack,
                                                        std::string_view org, uint32_t keep) {
  client::ConnectionOptions options = stack.Connection(org);
  auto channel = client::Connect(options);
  if (!channel.ok()) return channel.status();
  auto stub = v1::AdminService::NewStub(*channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::CreateCheckpointRequest request;
  request.set_keep(keep);
  v1::CreateCheckpointResponse response;
  absl::Status s = common::FromGrpcStatus(stub->CreateCheckpoint(&context, request, &response));
  if (!s.ok()) return s;
  return response;
}

void CopyTree(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  fs::copy(from, to, fs::copy_options::recursive);
}

TEST(BackupRestoreTest, ACheckpointUnderLoadRestoresEveryAcknowledgedLetter) {
  TempDir live_dir;
  auto live = TestStack::Start(live_dir.path(), QuickDelivery);
  ASSERT_NE(live, nullptr);

  // Letters keep coming while the checkpoint is taken.
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> acknowledged;  // letter id, marker
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    client::LetterClient oslo = live->Client(kOslo);
    for (int i = 0; !stop; ++i) {
      const std::string marker = absl::StrCat("BACKUP-", i);
      auto sent = oslo.Send(ValidLetter(marker));
      if (!sent.ok()) continue;
      std::lock_guard lock(mu);
      acknowledged.emplace_back(sent->letter_id(), marker);
    }
  });
  for (bool enough = false; !enough;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::lock_guard lock(mu);
    enough = acknowledged.size() >= 20;
  }
  size_t before = 0;
  {
    std::lock_guard lock(mu);
    before = acknowledged.size();
  }
  auto taken = Checkpoint(*live, kOslo, 0);
  stop = true;
  sender.join();
  ASSERT_TRUE(taken.ok()) << taken.status();
  std::vector<std::string> stores;
  for (const v1::CheckpointStore& s : taken->stores()) {
    stores.push_back(s.name());
    EXPECT_GT(s.bytes(), 0u) << s.name();
  }
  EXPECT_THAT(stores, UnorderedElementsAre("ledger", "registry", "print", "mailbox-sim"));
  const fs::path checkpoint = live->app().config.backup.dir / taken->name();
  EXPECT_TRUE(fs::exists(checkpoint / "utpost-checkpoint.json"));
  EXPECT_TRUE(app::IsCheckpointName(taken->name())) << taken->name();
  for (const auto& entry : fs::directory_iterator(live->app().config.backup.dir)) {
    EXPECT_EQ(entry.path().filename().string().rfind(".partial-", 0), std::string::npos);
  }

  // Restore into a new data directory: the stores from the checkpoint, the keys and the
  // certificates from their own backups.
  TempDir restored_dir;
  for (const std::string& store : stores) {
    CopyTree(checkpoint / store, restored_dir.path() / store);
  }
  CopyTree(live_dir.path() / "keys", restored_dir.path() / "keys");
  CopyTree(live_dir.path() / "pki", restored_dir.path() / "pki");
  CopyTree(live_dir.path() / "pki-ca", restored_dir.path() / "pki-ca");
  live->Stop();

  auto restored = TestStack::Start(restored_dir.path(), {}, "ledger,registry");
  ASSERT_NE(restored, nullptr);
  client::LetterClient oslo = restored->Client(kOslo);
  for (size_t i = 0; i < before; ++i) {
    const auto& [id, marker] = acknowledged[i];
    auto got = oslo.Get(id);
    ASSERT_TRUE(got.ok()) << id << ": " << got.status();
    EXPECT_GE(got->events_size(), 1);
    auto document = restored->ledger().ledger->ReadDocument(kOslo, id, 0);
    ASSERT_TRUE(document.ok()) << id << ": " << document.status();
    EXPECT_THAT(*document, HasSubstr(marker));
  }
}

TEST(BackupRestoreTest, OnlyOperatorsAndKeepPrunesTheOldest) {
  auto stack = TestStack::Start({}, {}, "ledger,registry");
  ASSERT_NE(stack, nullptr);
  // The dev operators are the example municipalities; a portal is not one.
  auto refused = Checkpoint(*stack, "NO991825827", 0);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("backup.operators"));

  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) {
    auto taken = Checkpoint(*stack, kOslo, 2);
    ASSERT_TRUE(taken.ok()) << taken.status();
    names.push_back(taken->name());
    if (i < 2) {
      EXPECT_EQ(taken->removed_size(), 0);
    }
  }
  // Names are unique even within one second, and the third removed the first.
  EXPECT_NE(names[0], names[1]);
  auto last = Checkpoint(*stack, kBergen, 2);
  ASSERT_TRUE(last.ok()) << last.status();
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(stack->app().config.backup.dir)) {
    left.push_back(entry.path().filename().string());
  }
  EXPECT_THAT(left, UnorderedElementsAre(names[2], last->name()));
}

TEST(CheckpointNameTest, TimeStampsWithAnOptionalNumber) {
  EXPECT_TRUE(app::IsCheckpointName("20261207T015200Z"));
  EXPECT_TRUE(app::IsCheckpointName("20261207T015200Z-12"));
  EXPECT_FALSE(app::IsCheckpointName("20261207T015200Z-"));
  EXPECT_FALSE(app::IsCheckpointName(".partial-20261207T015200Z"));
  EXPECT_FALSE(app::IsCheckpointName("2026120T015200Z"));
  EXPECT_FALSE(app::IsCheckpointName("lost+found"));
}

}  // namespace
}  // namespace utpost::testutil
