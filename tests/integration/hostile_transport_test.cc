// What one hostile caller can make the server spend: a compression bomb, a message prefix that
// declares a gigabyte and then trickles, and many streams on one connection. Each case speaks
// raw HTTP/2 to a real server (insecure loopback mode, so no TLS library sits in between) and
// measures the peak RSS of this process, which is the server's, around the request.
//
// The receive limit is small here (1 MiB of letter plus 1 MiB of envelope), so the bound the
// server promises (README, "Worst case memory per request") is tight enough to tell a bounded
// server from one that buffers or inflates what it is sent.
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/testutil/memory.h"
#include "tests/testutil/raw_http2.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

constexpr int64_t kMiB = 1 << 20;
constexpr int64_t kLetterLimit = 1 * kMiB;
// What app::InitServer derives from the largest request (a letter, or a form submission, set
// to the same limit here): limit + 1 MiB of envelope.
constexpr int64_t kReceiveLimit = kLetterLimit + kMiB;
// Beyond two messages at the limit: the transport's own margin in its quota (16 MiB), what
// arrives while its reclaimer cancels streams (measured up to about 30 MiB on loopback for
// one connection sending at full speed), thread stacks touched for the first time and
// allocator slack.
constexpr int64_t kFixedMargin = 64 * kMiB;
constexpr int64_t kRssBound = 2 * kReceiveLimit + kFixedMargin;
constexpr char kSendLetter[] = "/utpost.v1.LetterService/SendLetter";

// `inflated` zero bytes, gzip-compressed (about 1000:1).
std::string GzipOfZeros(int64_t inflated) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  const std::string zeros(kMiB, '\0');
  std::string out;
  char buffer[65536];
  for (int64_t left = inflated; left >= 0; left -= kMiB) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    z.avail_in = static_cast<uInt>(std::min<int64_t>(left, kMiB));
    const int flush = left <= kMiB ? Z_FINISH : Z_NO_FLUSH;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buffer);
      z.avail_out = sizeof(buffer);
      deflate(&z, flush);
      out.append(buffer, sizeof(buffer) - z.avail_out);
    } while (z.avail_out == 0);
    if (flush == Z_FINISH) break;
  }
  deflateEnd(&z);
  return out;
}

class HostileTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = TestStack::Start({}, [](app::Config& c) {
      c.insecure = true;
      c.ledger.limits.max_total_bytes = kLetterLimit;
      c.forms.max_submission_bytes = kLetterLimit;
    });
    ASSERT_NE(stack_, nullptr);
    // One ordinary call first, so that what the server allocates once (threads, arenas,
    // RocksDB's first write) is not counted against the hostile request.
    ExpectOrdinarySendWorks("WARM-UP");
  }

  // An ordinary client on its own connection: the server still serves.
  void ExpectOrdinarySendWorks(std::string_view marker) {
    client::ConnectionOptions options;
    options.address = stack_->app().address();
    options.insecure = true;
    options.organisation = "958935420";
    options.wait_for_ready = true;
    auto channel = client::Connect(options);
    ASSERT_TRUE(channel.ok());
    client::LetterClient oslo(*channel, options, absl::Seconds(30));
    auto sent = oslo.Send(ValidLetter(marker));
    EXPECT_TRUE(sent.ok()) << sent.status();
  }

  std::unique_ptr<RawHttp2Connection> Connect() {
    auto connection = RawHttp2Connection::Connect(stack_->app().port());
    EXPECT_TRUE(connection.ok()) << connection.status();
    return connection.ok() ? *std::move(connection) : nullptr;
  }

  static Http2Headers Caller() { return {{"utpost-organisation", "958935420"}}; }

  std::unique_ptr<TestStack> stack_;
};

TEST_F(HostileTransportTest, GzipBombIsRefusedBeforeItIsInflated) {
  const std::string bomb = GzipOfZeros(1024 * kMiB);
  ASSERT_LT(static_cast<int64_t>(bomb.size()), kReceiveLimit);  // small enough to be received
  auto connection = Connect();
  ASSERT_NE(connection, nullptr);
  const uint32_t id = connection->NextStreamId();
  absl::Duration took;
  Http2StreamState end;
  const int64_t growth = PeakRssGrowth([&] {
    const absl::Time start = absl::Now();
    const absl::Time deadline = start + absl::Seconds(30);
    Http2Headers headers = Caller();
    headers.emplace_back("grpc-encoding", "gzip");
    ASSERT_TRUE(connection->SendRequestHeaders(id, kSendLetter, headers).ok());
    ASSERT_TRUE(connection
                    ->SendData(id,
                               GrpcMessagePrefix(true, static_cast<uint32_t>(bomb.size())) + bomb,
                               /*end_stream=*/true, deadline)
                    .ok());
    end = connection->AwaitEnd(id, deadline);
    took = absl::Now() - start;
  });
  std::cout << "gzip bomb (" << bomb.size() << " bytes -> 1 GiB): peak RSS +" << growth / kMiB
            << " MiB, answered after " << took << ", grpc-status " << end.GrpcStatus().value_or(-1)
            << " \"" << end.Header("grpc-message") << "\"\n";
  ASSERT_TRUE(end.ended) << "no answer within the deadline";
  ASSERT_TRUE(end.GrpcStatus().has_value());
  // Refused on its headers: the method exists, the encoding does not.
  EXPECT_EQ(*end.GrpcStatus(), static_cast<int>(grpc::StatusCode::UNIMPLEMENTED));
  EXPECT_NE(end.Header("grpc-message").find("gzip"), std::string::npos);
  if (kRssIsMeaningful) {
    EXPECT_LE(growth, kRssBound);
  }
  ExpectOrdinarySendWorks("AFTER-GZIP-BOMB");
}

TEST_F(HostileTransportTest, DeflateIsRefusedToo) {
  auto connection = Connect();
  ASSERT_NE(connection, nullptr);
  const uint32_t id = connection->NextStreamId();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  Http2Headers headers = Caller();
  headers.emplace_back("grpc-encoding", "deflate");
  ASSERT_TRUE(connection->SendRequestHeaders(id, kSendLetter, headers).ok());
  ASSERT_TRUE(
      connection->SendData(id, GrpcMessagePrefix(true, 4) + "abcd", /*end_stream=*/true, deadline)
          .ok());
  const Http2StreamState& end = connection->AwaitEnd(id, deadline);
  ASSERT_TRUE(end.GrpcStatus().has_value());
  EXPECT_EQ(*end.GrpcStatus(), static_cast<int>(grpc::StatusCode::UNIMPLEMENTED));
}

TEST_F(HostileTransportTest, DeclaredGigabyteWithSlowDataIsRefusedAndNotBuffered) {
  auto connection = Connect();
  ASSERT_NE(connection, nullptr);
  const uint32_t id = connection->NextStreamId();
  const std::string chunk(64 * 1024, 'x');
  // Up to 256 MiB is offered, 64 KiB at a time and as fast as the server's flow control
  // allows; a server that buffers a declared length takes all of it.
  constexpr int64_t kOffered = 256 * kMiB;
  const int64_t growth = PeakRssGrowth([&] {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    ASSERT_TRUE(connection->SendRequestHeaders(id, kSendLetter, Caller()).ok());
    ASSERT_TRUE(connection->SendData(id, GrpcMessagePrefix(false, 1u << 30), false, deadline).ok());
    while (!connection->stream(id).ended &&
           static_cast<int64_t>(connection->stream(id).sent_bytes) < kOffered &&
           absl::Now() < deadline) {
      if (!connection->SendData(id, chunk, false, deadline).ok()) break;
    }
    connection->AwaitEnd(id, absl::Now() + absl::Seconds(20));
  });
  const Http2StreamState& end = connection->stream(id);
  std::cout << "declared 1 GiB: peak RSS +" << growth / kMiB << " MiB, server took "
            << end.sent_bytes / kMiB << " MiB before it ended the stream (grpc-status "
            << end.GrpcStatus().value_or(-1) << " \"" << end.Header("grpc-message")
            << "\", RST_STREAM " << (end.rst ? static_cast<int64_t>(*end.rst) : -1) << ")\n";
  EXPECT_TRUE(end.ended) << "the server kept reading a message over its limit";
  EXPECT_LT(static_cast<int64_t>(end.sent_bytes), kOffered);
  if (kRssIsMeaningful) {
    EXPECT_LE(growth, kRssBound);
  }
  ExpectOrdinarySendWorks("AFTER-DECLARED-GIGABYTE");
}

// Opens as many streams as the server allows on each of `connections`, each declaring a
// message just under the receive limit (which is allowed), and sends as much of every one as
// flow control lets through without finishing any: without a quota, the server would hold
// connections x streams x limit. Returns the peak RSS growth.
int64_t FillStreams(std::vector<std::unique_ptr<RawHttp2Connection>>& connections,
                    const Http2Headers& caller) {
  const uint32_t declared = static_cast<uint32_t>(kReceiveLimit - 1024);
  const std::string chunk(256 * 1024, 'x');
  std::vector<std::vector<uint32_t>> ids(connections.size());
  const int64_t growth = PeakRssGrowth([&] {
    const absl::Time deadline = absl::Now() + absl::Seconds(40);
    for (size_t c = 0; c < connections.size(); ++c) {
      RawHttp2Connection& connection = *connections[c];
      const uint32_t streams = connection.max_concurrent_streams().value_or(1000);
      for (uint32_t i = 0; i < streams && !connection.closed(); ++i) {
        const uint32_t id = connection.NextStreamId();
        ids[c].push_back(id);
        if (!connection.SendRequestHeaders(id, kSendLetter, caller).ok()) break;
        if (!connection.SendData(id, GrpcMessagePrefix(false, declared), false, deadline).ok()) {
          break;
        }
      }
    }
    for (int round = 0; round < 8 && absl::Now() < deadline; ++round) {
      for (size_t c = 0; c < connections.size(); ++c) {
        for (uint32_t id : ids[c]) {
          RawHttp2Connection& connection = *connections[c];
          if (connection.closed() || absl::Now() >= deadline) break;
          const Http2StreamState& state = connection.stream(id);
          if (state.ended || state.sent_bytes + chunk.size() >= declared) continue;
          // A short deadline per stream: a closed window moves on to the next stream.
          connection.SendData(id, chunk, false, absl::Now() + absl::Milliseconds(100))
              .IgnoreError();
        }
      }
    }
  });
  int ended = 0, total = 0;
  uint64_t sent = 0;
  for (size_t c = 0; c < connections.size(); ++c) {
    for (uint32_t id : ids[c]) {
      ++total;
      ended += connections[c]->stream(id).ended ? 1 : 0;
      sent += connections[c]->stream(id).sent_bytes;
    }
  }
  std::cout << connections.size() << " connection(s), " << total << " streams: peak RSS +"
            << growth / kMiB << " MiB, " << sent / kMiB << " MiB taken by the server, " << ended
            << " streams ended by it\n";
  return growth;
}

TEST_F(HostileTransportTest, ManyStreamsOnOneConnectionAreBounded) {
  std::vector<std::unique_ptr<RawHttp2Connection>> connections;
  connections.push_back(Connect());
  ASSERT_NE(connections[0], nullptr);
  ASSERT_TRUE(connections[0]->max_concurrent_streams().has_value());
  EXPECT_LE(*connections[0]->max_concurrent_streams(), 100u);
  const int64_t growth = FillStreams(connections, Caller());
  if (kRssIsMeaningful) {
    EXPECT_LE(growth, kRssBound);
  }
  ExpectOrdinarySendWorks("AFTER-MANY-STREAMS");
}

// Several connections at full loopback speed outrun gRPC 1.51's reclaimer, which cancels one
// stream per pass: the quota is not a hard bound across connections (measured: 4 connections
// x 100 streams held about 650 MiB at the peak; README.md says so). What holds is that the
// streams are cancelled and the server goes on serving; the figure is printed for the record.
TEST_F(HostileTransportTest, ManyStreamsOnSeveralConnectionsLeaveTheServerServing) {
  std::vector<std::unique_ptr<RawHttp2Connection>> connections;
  for (int i = 0; i < 4; ++i) {
    connections.push_back(Connect());
    ASSERT_NE(connections.back(), nullptr);
  }
  FillStreams(connections, Caller());
  connections.clear();
  ExpectOrdinarySendWorks("AFTER-SEVERAL-CONNECTIONS");
}

// A client that ignores SETTINGS_MAX_CONCURRENT_STREAMS loses the connection (gRPC 1.51
// treats the excess stream as a connection error); well-behaved clients queue their calls.
TEST_F(HostileTransportTest, StreamsBeyondTheLimitCloseTheConnection) {
  auto connection = Connect();
  ASSERT_NE(connection, nullptr);
  ASSERT_TRUE(connection->max_concurrent_streams().has_value());
  const uint32_t streams = *connection->max_concurrent_streams() + 1;
  for (uint32_t i = 0; i < streams && !connection->closed(); ++i) {
    ASSERT_TRUE(
        connection->SendRequestHeaders(connection->NextStreamId(), kSendLetter, Caller()).ok());
  }
  RawHttp2Connection* raw = connection.get();
  EXPECT_TRUE(
      raw->PumpUntil(absl::Now() + absl::Seconds(20), [raw] { return raw->closed(); }).ok() ||
      raw->closed());
}

}  // namespace
}  // namespace utpost::testutil
