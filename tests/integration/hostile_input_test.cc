// Requests a hostile or broken client sends, as raw bytes through a real server over mutual
// TLS: every one is answered with a truthful status naming the field, costs bounded memory,
// and changes nothing.
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <numeric>
#include <thread>

#include "common/field_violations.h"
#include "common/grpc_status.h"
#include "google/protobuf/util/time_util.h"
#include "storage/keys.h"
#include "tests/testutil/memory.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

grpc::ByteBuffer FromString(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string Bytes(int field, std::string_view payload) {
  return Varint((field << 3) | 2) + Varint(payload.size()) + std::string(payload);
}

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = TestStack::Start();
    ASSERT_NE(stack_, nullptr);
    auto channel = client::Connect(stack_->Connection());
    ASSERT_TRUE(channel.ok());
    channel_ = *channel;
  }

  // Calls `method` of LetterService with `bytes` as the request.
  absl::Status Call(std::string_view method, const std::string& bytes,
                    std::string* response_bytes = nullptr) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    grpc::ByteBuffer request = FromString(bytes), response;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    stub.UnaryCall(&context, "/utpost.v1.LetterService/" + std::string(method), grpc::StubOptions(),
                   &request, &response, [&](grpc::Status s) {
                     std::lock_guard lock(mu);
                     status = std::move(s);
                     done = true;
                     cv.notify_one();
                   });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
    if (response_bytes != nullptr && status.ok()) {
      std::vector<grpc::Slice> slices;
      EXPECT_TRUE(response.Dump(&slices).ok());
      for (const auto& s : slices) {
        response_bytes->append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    return common::FromGrpcStatus(status);
  }

  static std::string FieldOf(const absl::Status& status) {
    auto bad = common::GetBadRequest(status);
    return bad && bad->field_violations_size() > 0 ? bad->field_violations(0).field() : "";
  }

  int LetterCount() {
    auto ids = stack_->ledger().store->AllLetterIds();
    EXPECT_TRUE(ids.ok());
    return ids.ok() ? static_cast<int>(ids->size()) : -1;
  }

  std::unique_ptr<TestStack> stack_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(HostileInputTest, InvalidUtf8IsInvalidArgumentNamingTheFieldNotUnimplemented) {
  v1::SendLetterRequest letter = ValidLetter("UTF8");
  const std::string valid = letter.SerializeAsString();
  testing::internal::CaptureStderr();
  // title = "V\xff\xfe", appended: the last value of a field wins.
  absl::Status title = Call("SendLetter", valid + Bytes(3, "V\xff\xfe"));
  // A second document whose filename is an overlong encoding of '/'.
  absl::Status filename = Call(
      "SendLetter",
      valid + Bytes(4, Bytes(1, "\xc0\xaf") + Bytes(2, "application/pdf") + Bytes(3, "%PDF-")));
  absl::Status letter_id = Call("GetLetter", Bytes(1, "01J\xed\xa0\x80"));
  const std::string stderr_text = testing::internal::GetCapturedStderr();

  EXPECT_EQ(title.code(), absl::StatusCode::kInvalidArgument) << title;
  EXPECT_EQ(FieldOf(title), "title");
  EXPECT_THAT(title.message(), HasSubstr("valid UTF-8"));
  EXPECT_EQ(filename.code(), absl::StatusCode::kInvalidArgument) << filename;
  EXPECT_EQ(FieldOf(filename), "documents[1].filename");
  EXPECT_EQ(letter_id.code(), absl::StatusCode::kInvalidArgument) << letter_id;
  EXPECT_EQ(FieldOf(letter_id), "letter_id");
  EXPECT_THAT(stderr_text, Not(HasSubstr("libprotobuf")));
  EXPECT_EQ(LetterCount(), 0);
}

TEST_F(HostileInputTest, GarbageAndDeepNestingAreInvalidArgument) {
  std::string nested;
  for (int i = 0; i < 5000; ++i) nested += Varint((99 << 3) | 3);
  for (int i = 0; i < 5000; ++i) nested += Varint((99 << 3) | 4);
  for (const std::string& bytes : {std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
                                   std::string("\x22\x7f"
                                               "short"),
                                   nested}) {
    for (const char* method :
         {"SendLetter", "GetLetter", "ListLetters", "CancelLetter", "PreviewRoutes"}) {
      absl::Status s = Call(method, bytes);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << method << ": " << s;
    }
  }
  EXPECT_EQ(LetterCount(), 0);
}

TEST_F(HostileInputTest, AMillionEmptyDocumentsAreRefusedBeforeTheyAreBuilt) {
  // 2 bytes each on the wire; parsed, each would cost a Document object of ~100 bytes.
  std::string bytes = ValidLetter("MANY").SerializeAsString();
  for (int i = 0; i < 4'000'000; ++i) bytes += Bytes(4, "");
  absl::Status s;
  const int64_t growth = PeakRssGrowth([&] { s = Call("SendLetter", bytes); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(FieldOf(s), "documents");
  EXPECT_THAT(s.message(), HasSubstr("at most 100 documents"));
  // The request is 8 MiB; client and server each hold it about twice.
  if (kRssIsMeaningful) {
    EXPECT_LT(growth, 96ll << 20) << "peak RSS grew by " << (growth >> 20) << " MiB";
  }
  EXPECT_EQ(LetterCount(), 0);
}

TEST_F(HostileInputTest, ListFiltersAreBoundedBeforeAnyElementIsRead) {
  // A million zero statuses (packed, 1 byte each) is far over ListLetters' request size.
  absl::Status huge = Call("ListLetters", Bytes(3, std::string(1'000'000, '\0')));
  EXPECT_EQ(huge.code(), absl::StatusCode::kInvalidArgument) << huge;
  EXPECT_THAT(huge.message(), HasSubstr("larger than"));
  absl::Status many = Call("ListLetters", Bytes(3, std::string(17, '\x01')));
  EXPECT_EQ(many.code(), absl::StatusCode::kInvalidArgument) << many;
  EXPECT_EQ(FieldOf(many), "statuses");
}

TEST_F(HostileInputTest, TimestampsAcrossTheWholeRangeFilterCorrectly) {
  auto client = stack_->Client();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.Send(ValidLetter("RANGE")).ok());
  using google::protobuf::util::TimeUtil;
  v1::ListLettersRequest request;
  // Past the range of int64 nanoseconds (which ends in 2262): every letter is before it.
  ASSERT_TRUE(TimeUtil::FromString("2300-01-01T00:00:00Z", request.mutable_accepted_before()));
  auto before = client.List(request);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->letters_size(), 3);
  request.clear_accepted_before();
  ASSERT_TRUE(TimeUtil::FromString("0001-01-01T00:00:00Z", request.mutable_accepted_after()));
  auto after = client.List(request);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->letters_size(), 3);
  ASSERT_TRUE(TimeUtil::FromString("9999-12-31T23:59:59Z", request.mutable_accepted_after()));
  auto none = client.List(request);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->letters_size(), 0);
}

TEST_F(HostileInputTest, ServerErrorsCarryAnErrorIdAndNoInternalDetail) {
  auto client = stack_->Client();
  auto sent = client.Send(ValidLetter("CORRUPT"));
  ASSERT_TRUE(sent.ok());
  auto id = common::DecodeLetterId(sent->letter_id());
  ASSERT_TRUE(id.ok());
  storage::Db& db = *stack_->ledger().db;
  ASSERT_TRUE(db.raw()
                  .Put(rocksdb::WriteOptions(), db.cf(storage::Cf::kLetters),
                       storage::keys::Letter(*id), "\xff\xff not a record")
                  .ok());
  auto got = client.Get(sent->letter_id());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(got.status().message(), HasSubstr("error id "));
  EXPECT_THAT(got.status().message(), Not(HasSubstr("unparsable")));
  EXPECT_THAT(got.status().message(), Not(HasSubstr(stack_->data_dir().string())));
}

TEST(EventSequenceTest, EachOrganisationHasItsOwnEventSequence) {
  // The ledger alone: the test counts every event of each feed, and a router would add
  // routing events while it counts.
  auto stack = TestStack::Start({}, {}, kLedgerOnly);
  ASSERT_NE(stack, nullptr);
  auto oslo = stack->Client(kOslo);
  auto bergen = stack->Client(kBergen);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(oslo.Send(ValidLetter("SEQ")).ok());
    ASSERT_TRUE(bergen.Send(ValidLetter("SEQ")).ok());
    ASSERT_TRUE(bergen.Send(ValidLetter("SEQ")).ok());
  }
  for (auto [client, count] : {std::pair{&oslo, 3}, std::pair{&bergen, 6}}) {
    std::vector<uint64_t> sequences;
    absl::Status s = client->Watch(0, [&](const v1::LetterEvent& e) {
      sequences.push_back(e.sequence());
      return static_cast<int>(sequences.size()) < count;
    });
    ASSERT_TRUE(s.ok()) << s;
    std::vector<uint64_t> expected(count);
    std::iota(expected.begin(), expected.end(), 1);
    EXPECT_EQ(sequences, expected) << "no gaps from the other organisation's letters";
  }
  // A cursor ahead of the organisation's own newest event names that event, not the global one.
  absl::Status ahead = oslo.Watch(4, [](const v1::LetterEvent&) { return false; });
  EXPECT_EQ(ahead.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ahead.message(), HasSubstr("newest event (3)"));
}

}  // namespace
}  // namespace utpost::testutil

namespace utpost::testutil {
namespace {

// A watch whose first read the executor refuses ends RESOURCE_EXHAUSTED. Many of them, opened
// and cancelled at once from several threads, exercise the race between a refused read and
// a cancel finishing the stream; the reactor must be freed on every path (the sanitizer
// build, `make asan`, reports any that is not).
TEST(WatchCapacityTest, WatchesRefusedForCapacityEndAndAreFreed) {
  auto stack = TestStack::Start({}, [](app::Config& c) {
    c.ledger.worker_threads = 1;
    c.ledger.max_queued_requests = 0;  // every read is refused
  });
  ASSERT_NE(stack, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> ended{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto client = stack->Client();
      for (int i = 0; i < 25; ++i) {
        absl::Status s = client.Watch(0, [](const v1::LetterEvent&) { return false; });
        if (s.code() == absl::StatusCode::kResourceExhausted ||
            s.code() == absl::StatusCode::kCancelled) {
          ++ended;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ended.load(), 100);
  stack->Stop();
}

}  // namespace
}  // namespace utpost::testutil
