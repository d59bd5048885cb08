// kill -9 while 16 clients send: every acknowledged letter survives and decrypts, retries of
// unacknowledged ones with their idempotency keys create each letter exactly once, and no
// half-written letter is visible. Runs the real `utpost` binary in a child process.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "crypto/file_key_store.h"
#include "services/ledger/ledger.h"
#include "storage/keys.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

class ServerProcess {
 public:
  explicit ServerProcess(std::filesystem::path data_dir) : data_dir_(std::move(data_dir)) {}
  ~ServerProcess() {
    if (pid_ > 0) Kill(SIGKILL);
  }

  // Starts utpost and waits until it serves (it writes utpostctl.yaml then).
  void Start() {
    const auto ready_file = data_dir_ / "utpostctl.yaml";
    std::filesystem::remove(ready_file);
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const std::string log = (data_dir_.parent_path() / "utpost.log").string();
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      const std::string dir = data_dir_.string();
      // The ledger alone: acknowledged letters must be found ACCEPTED after the crash.
      execl(UTPOST_BINARY, UTPOST_BINARY, "--target", "ledger", "--data-dir", dir.c_str(),
            "--listen", "127.0.0.1:0", "--log-level", "warn", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 600 && !std::filesystem::exists(ready_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(std::filesystem::exists(ready_file)) << "utpost did not start";
    // The file is written in one go right after the port is bound; give it a moment.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  // Sends `signal` and reaps the process. Returns its wait status.
  int Kill(int signal) {
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  client::LetterClient Client() const {
    client::ConnectionOverrides overrides;
    overrides.config = (data_dir_ / "utpostctl.yaml").string();
    auto options = client::ResolveConnection(overrides);
    EXPECT_TRUE(options.ok()) << options.status();
    auto channel = client::Connect(*options);
    return client::LetterClient(*channel, *options, absl::Seconds(10));
  }

 private:
  std::filesystem::path data_dir_;
  pid_t pid_ = -1;
};

struct Attempt {
  v1::SendLetterRequest request;
  std::string acked_id;  // empty if no ack arrived
};

TEST(CrashTest, KillNineWhileSendingLosesNothingAcknowledged) {
  TempDir root;
  const auto data_dir = root.path() / "data";
  ServerProcess server(data_dir);
  ASSERT_NO_FATAL_FAILURE(server.Start());

  std::mutex mu;
  std::map<std::string, Attempt> attempts;  // by idempotency key
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 16; ++t) {
    senders.emplace_back([&, t] {
      auto client = server.Client();
      for (int i = 0; !stop; ++i) {
        const std::string key = absl::StrCat("crash-", t, "-", i);
        v1::SendLetterRequest request =
            ValidLetter(absl::StrCat("MARKER-", key), 8 << 10 << (i % 4));
        request.set_idempotency_key(key);
        {
          std::lock_guard lock(mu);
          attempts[key].request = request;
        }
        auto response = client.Send(request);
        if (!response.ok()) return;  // the server is gone
        std::lock_guard lock(mu);
        attempts[key].acked_id = response->letter_id();
        ++acked;
      }
    });
  }
  for (int i = 0; i < 200 && acked < 300; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  const int status = server.Kill(SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  stop = true;
  for (auto& t : senders) t.join();
  ASSERT_GT(acked.load(), 16) << "too few letters before the crash to mean anything";

  // Restart: every acknowledged letter is there; a retry of every attempt with its key
  // gives the same letter for acknowledged ones and exactly one letter for the others.
  ASSERT_NO_FATAL_FAILURE(server.Start());
  auto client = server.Client();
  std::map<std::string, std::string> letter_of;  // idempotency key -> letter id
  int lost_replies = 0;
  for (auto& [key, attempt] : attempts) {
    if (!attempt.acked_id.empty()) {
      auto got = client.Get(attempt.acked_id);
      ASSERT_TRUE(got.ok()) << key << ": " << got.status();
      EXPECT_EQ(got->letter().status(), v1::LETTER_STATUS_ACCEPTED);
    }
    auto retry = client.Send(attempt.request);
    ASSERT_TRUE(retry.ok()) << key << ": " << retry.status();
    if (!attempt.acked_id.empty()) {
      EXPECT_EQ(retry->letter_id(), attempt.acked_id) << key;
      EXPECT_TRUE(retry->replayed());
    } else if (retry->replayed()) {
      ++lost_replies;  // durable before the crash, reply lost: the retry is safe
    }
    letter_of[key] = retry->letter_id();
  }
  RecordProperty("acked", acked.load());
  RecordProperty("attempts", static_cast<int>(attempts.size()));
  RecordProperty("durable_but_unacked", lost_replies);
  ASSERT_EQ(server.Kill(SIGTERM), 0) << "a clean stop exits 0";

  // The process runs with umask 077: nothing it made (RocksDB's files, keys, the dev PKI) is
  // open to group or others.
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(data_dir)) {
    ++files;
    EXPECT_EQ(ModeOf(entry.path()) & 077, 0u) << entry.path();
  }
  EXPECT_GT(files, 10);

  // Offline: open the store and check every letter, byte for byte and for consistency.
  auto db = storage::Db::Open({.path = data_dir / "ledger"});
  ASSERT_TRUE(db.ok()) << db.status();
  storage::LedgerStore store(**db);
  auto keys = crypto::FileKeyStore::Open(data_dir / "keys");
  ASSERT_TRUE(keys.ok());
  common::SystemClock clock;
  auto ledger = ledger::Ledger::Create({}, store, **keys, clock);
  ASSERT_TRUE(ledger.ok());

  auto ids = store.AllLetterIds();
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->size(), attempts.size()) << "each attempt is exactly one letter";
  for (const auto& [key, id] : letter_of) {
    const auto& request = attempts[key].request;
    for (int i = 0; i < request.documents_size(); ++i) {
      auto content = (*ledger)->ReadDocument(kOslo, id, i);
      ASSERT_TRUE(content.ok()) << key << ": " << content.status();
      EXPECT_EQ(*content, request.documents(i).content()) << key;
    }
  }
  // No half-written letter: every letter has its documents, events, feed entries and index.
  for (const auto& id : *ids) {
    auto record = store.GetLetter(id);
    ASSERT_TRUE(record.ok() && record->has_value());
    const auto& r = **record;
    EXPECT_GT(r.document_count(), 0u) << r.letter_id();
    for (uint32_t i = 0; i < r.document_count(); ++i) {
      EXPECT_TRUE(store.GetDocument(id, i).ok()) << r.letter_id();
    }
    auto events = store.GetEvents(id);
    ASSERT_TRUE(events.ok());
    EXPECT_EQ(events->size(), r.event_count()) << r.letter_id();
    for (const auto& stored : *events) {
      const auto& e = stored.event();
      auto feed = store.ReadFeed(r.sender(), e.sequence() - 1, e.sequence(), 1);
      ASSERT_TRUE(feed.ok());
      EXPECT_EQ(feed->size(), 1u) << "feed entry of event " << e.sequence();
    }
    std::string value;
    EXPECT_TRUE((*db)
                    ->raw()
                    .Get(rocksdb::ReadOptions(), (*db)->cf(storage::Cf::kSenderIndex),
                         storage::keys::SenderIndex(r.sender(), id), &value)
                    .ok());
  }
  // Documents went to segments once each. After the kill, the restart and this open, the
  // live bytes the database counts per segment are exactly what its pointers name, every
  // segment is sealed (a torn tail was cut at start), and every pointer names one that exists.
  std::map<uint64_t, uint64_t> named;
  std::unique_ptr<rocksdb::Iterator> it(
      (*db)->raw().NewIterator(rocksdb::ReadOptions(), (*db)->cf(storage::Cf::kDocuments)));
  int pointers = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto pointer = storage::DecodeSegmentPointer(it->value().ToStringView());
    ASSERT_TRUE(pointer.has_value()) << "a document stored in the database, not in a segment";
    named[pointer->segment] += pointer->RecordBytes();
    ++pointers;
  }
  EXPECT_GT(pointers, 0);
  std::set<uint64_t> existing;
  for (const storage::SegmentInfo& s : (*db)->segments().Segments()) {
    existing.insert(s.id);
    EXPECT_TRUE(s.sealed) << storage::SegmentFileName(s.id);
    auto live = (*db)->SegmentLiveBytes(s.id);
    ASSERT_TRUE(live.ok());
    EXPECT_EQ(*live, named.count(s.id) ? named[s.id] : 0) << storage::SegmentFileName(s.id);
  }
  for (const auto& [segment, bytes] : named) {
    EXPECT_TRUE(existing.contains(segment)) << storage::SegmentFileName(segment) << " is gone";
  }
}

TEST(CrashTest, SigtermDrainsLettersInFlightAndExitsCleanly) {
  TempDir root;
  const auto data_dir = root.path() / "data";
  ServerProcess server(data_dir);
  ASSERT_NO_FATAL_FAILURE(server.Start());
  std::mutex mu;
  std::vector<std::string> acked;
  std::atomic<bool> stop{false};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 8; ++t) {
    senders.emplace_back([&, t] {
      auto client = server.Client();
      for (int i = 0; !stop; ++i) {
        auto response = client.Send(ValidLetter(absl::StrCat("MARKER-TERM-", t, "-", i), 64 << 10));
        if (!response.ok()) {
          // Refused or cut off by the shutdown: the client retries elsewhere or later.
          // gRPC refuses streams that arrive during shutdown with RST_STREAM, which the
          // client sees as CANCELLED; such a request never reached the service.
          if (response.status().code() != absl::StatusCode::kUnavailable &&
              response.status().code() != absl::StatusCode::kCancelled) {
            ADD_FAILURE() << response.status();
            ++unexpected;
          }
          return;
        }
        std::lock_guard lock(mu);
        acked.push_back(response->letter_id());
      }
    });
  }
  while (true) {
    {
      std::lock_guard lock(mu);
      if (acked.size() >= 100) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int status = server.Kill(SIGTERM);
  stop = true;
  for (auto& t : senders) t.join();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(unexpected.load(), 0);

  ASSERT_NO_FATAL_FAILURE(server.Start());
  auto client = server.Client();
  for (const auto& id : acked) {
    auto got = client.Get(id);
    EXPECT_TRUE(got.ok()) << id << ": " << got.status();
  }
  server.Kill(SIGTERM);
}

}  // namespace
}  // namespace utpost::testutil
