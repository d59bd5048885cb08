// A small HTTP/2 client for tests that must say what no well-behaved gRPC library would say:
// a compressed message its headers promised in an algorithm the server disabled, a message
// prefix that declares a gigabyte and then trickles, more streams than the server allows.
//
// Plaintext only (h2c with prior knowledge, the way gRPC speaks to an insecure server).
// Requests are encoded as HPACK literals without indexing and without Huffman coding; the
// decoder of the server's headers follows the static and dynamic tables and keeps
// Huffman-coded values as "<huffman>" (no test needs one). Not thread-safe: one test thread
// drives a connection. Every wait takes a deadline, so a server that never answers fails the
// test instead of hanging it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace utpost::testutil {

using Http2Headers = std::vector<std::pair<std::string, std::string>>;

// What the server said about one stream.
struct Http2StreamState {
  Http2Headers headers;         // response headers and trailers, in order
  uint64_t data_bytes = 0;      // DATA payload received
  bool ended = false;           // END_STREAM received, RST_STREAM received or connection gone
  std::optional<uint32_t> rst;  // RST_STREAM error code
  int64_t send_window = 65535;  // what the server's flow control lets us send now
  uint64_t sent_bytes = 0;      // DATA payload we sent

  // The value of the last header named `name` ("" when absent).
  std::string Header(std::string_view name) const;
  // grpc-status, when the server sent one.
  std::optional<int> GrpcStatus() const;
};

class RawHttp2Connection {
 public:
  // Connects to 127.0.0.1:`port`, sends the connection preface and SETTINGS (a large
  // initial window, so the server's replies are never held back) and waits for the server's
  // SETTINGS.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RawHttp2Connection>> Connect(
      int port, absl::Duration timeout = absl::Seconds(10));
  ~RawHttp2Connection();
  RawHttp2Connection(const RawHttp2Connection&) = delete;
  RawHttp2Connection& operator=(const RawHttp2Connection&) = delete;

  // A new client stream id (1, 3, 5, ...).
  uint32_t NextStreamId();

  // HEADERS (END_HEADERS, and END_STREAM when asked) for a gRPC call of `path`, e.g.
  // "/utpost.v1.LetterService/SendLetter", with `extra` headers after the standard ones.
  [[nodiscard]] absl::Status SendRequestHeaders(uint32_t stream_id, std::string_view path,
                                                const Http2Headers& extra, bool end_stream = false);

  // DATA frames of at most 16 KiB carrying `data`, as fast as the server's flow-control
  // windows allow. Stops early, still OK, if the server ends the stream or the connection;
  // DEADLINE_EXCEEDED if the windows stay closed until `deadline`.
  [[nodiscard]] absl::Status SendData(uint32_t stream_id, std::string_view data, bool end_stream,
                                      absl::Time deadline);

  // Reads and handles frames until `deadline` or until `done()` holds (checked after each
  // frame). SETTINGS and PING are acknowledged, WINDOW_UPDATE credited, the rest recorded.
  // OK when `done()` held, DEADLINE_EXCEEDED otherwise (also when the connection closed
  // without `done()` holding).
  template <typename Done>
  [[nodiscard]] absl::Status PumpUntil(absl::Time deadline, Done done) {
    while (!done()) {
      if (closed_) return absl::DeadlineExceededError("connection closed");
      if (absl::Status s = PumpOnce(deadline); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Reads frames until `stream_id` ends or `deadline`; the stream's state either way.
  const Http2StreamState& AwaitEnd(uint32_t stream_id, absl::Time deadline);

  const Http2StreamState& stream(uint32_t stream_id) { return streams_[stream_id]; }
  bool closed() const { return closed_; }
  std::optional<uint32_t> goaway_error() const { return goaway_error_; }
  const std::string& goaway_debug() const { return goaway_debug_; }
  // The server's SETTINGS_MAX_CONCURRENT_STREAMS, if it sent one.
  std::optional<uint32_t> max_concurrent_streams() const { return max_concurrent_streams_; }

 private:
  explicit RawHttp2Connection(int fd) : fd_(fd) {}

  [[nodiscard]] absl::Status WriteAll(std::string_view bytes, absl::Time deadline);
  [[nodiscard]] absl::Status SendFrame(uint8_t type, uint8_t flags, uint32_t stream_id,
                                       std::string_view payload, absl::Time deadline);
  // Reads one frame (or what is there) and handles it; DEADLINE_EXCEEDED at `deadline`.
  [[nodiscard]] absl::Status PumpOnce(absl::Time deadline);
  void HandleFrame(uint8_t type, uint8_t flags, uint32_t stream_id, std::string_view payload);
  void DecodeHeaderBlock(uint32_t stream_id, std::string_view block);
  void EndAll();

  int fd_;
  uint32_t next_stream_id_ = 1;
  std::string in_;
  bool closed_ = false;
  bool settings_received_ = false;
  std::optional<uint32_t> goaway_error_;
  std::string goaway_debug_;
  std::optional<uint32_t> max_concurrent_streams_;
  int64_t connection_send_window_ = 65535;
  int64_t initial_stream_window_ = 65535;
  std::map<uint32_t, Http2StreamState> streams_;
  // HEADERS waiting for their CONTINUATION frames.
  uint32_t continuation_stream_ = 0;
  bool continuation_end_stream_ = false;
  std::string continuation_block_;
  // HPACK dynamic table of the server's encoder, newest first.
  std::deque<std::pair<std::string, std::string>> dynamic_table_;
  size_t dynamic_table_size_ = 0;
  size_t dynamic_table_max_ = 4096;
};

// The 5-byte gRPC message prefix: compressed flag, then the big-endian length.
std::string GrpcMessagePrefix(bool compressed, uint32_t length);

}  // namespace utpost::testutil
