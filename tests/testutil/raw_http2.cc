#include "tests/testutil/raw_http2.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace utpost::testutil {
namespace {

constexpr uint8_t kData = 0x0;
constexpr uint8_t kHeaders = 0x1;
constexpr uint8_t kRstStream = 0x3;
constexpr uint8_t kSettings = 0x4;
constexpr uint8_t kPing = 0x6;
constexpr uint8_t kGoaway = 0x7;
constexpr uint8_t kWindowUpdate = 0x8;
constexpr uint8_t kContinuation = 0x9;

constexpr uint8_t kEndStream = 0x1;
constexpr uint8_t kAck = 0x1;
constexpr uint8_t kEndHeaders = 0x4;
constexpr uint8_t kPadded = 0x8;
constexpr uint8_t kPriority = 0x20;

constexpr uint16_t kSettingsMaxConcurrentStreams = 0x3;
constexpr uint16_t kSettingsInitialWindowSize = 0x4;

constexpr size_t kMaxFramePayload = 16384;
// What this client lets the server send before a WINDOW_UPDATE: replies are small, so one
// generous window for the connection and each stream is all it needs.
constexpr uint32_t kOwnWindow = 1u << 24;

// RFC 7541 appendix A.
constexpr std::pair<const char*, const char*> kStaticTable[] = {
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
};
constexpr size_t kStaticTableSize = std::size(kStaticTable);

uint32_t Be32(std::string_view bytes) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(bytes[0])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(bytes[1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(bytes[2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(bytes[3]));
}

void AppendBe32(std::string& out, uint32_t value) {
  out.push_back(static_cast<char>(value >> 24));
  out.push_back(static_cast<char>(value >> 16));
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value));
}

// RFC 7541 5.1: an integer with an N-bit prefix; `first` holds the representation's flags.
void AppendHpackInt(std::string& out, uint8_t first, int prefix_bits, uint64_t value) {
  const uint64_t max_prefix = (1u << prefix_bits) - 1;
  if (value < max_prefix) {
    out.push_back(static_cast<char>(first | value));
    return;
  }
  out.push_back(static_cast<char>(first | max_prefix));
  value -= max_prefix;
  while (value >= 128) {
    out.push_back(static_cast<char>(0x80 | (value & 0x7f)));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// RFC 7541 6.2.2: literal header field without indexing, new name, no Huffman coding.
void AppendLiteral(std::string& out, std::string_view name, std::string_view value) {
  out.push_back(0x00);
  AppendHpackInt(out, 0x00, 7, name.size());
  out.append(name);
  AppendHpackInt(out, 0x00, 7, value.size());
  out.append(value);
}

class HpackReader {
 public:
  explicit HpackReader(std::string_view block) : block_(block) {}
  bool done() const { return pos_ >= block_.size(); }
  uint8_t Peek() const { return static_cast<uint8_t>(block_[pos_]); }

  std::optional<uint64_t> Int(int prefix_bits) {
    if (done()) return std::nullopt;
    const uint64_t max_prefix = (1u << prefix_bits) - 1;
    uint64_t value = static_cast<uint8_t>(block_[pos_++]) & max_prefix;
    if (value < max_prefix) return value;
    for (int shift = 0; shift < 56; shift += 7) {
      if (done()) return std::nullopt;
      const uint8_t b = static_cast<uint8_t>(block_[pos_++]);
      value += static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return value;
    }
    return std::nullopt;
  }

  std::optional<std::string> String() {
    if (done()) return std::nullopt;
    const bool huffman = (Peek() & 0x80) != 0;
    std::optional<uint64_t> length = Int(7);
    if (!length || *length > block_.size() - pos_) return std::nullopt;
    std::string value(block_.substr(pos_, *length));
    pos_ += *length;
    if (huffman) return std::string("<huffman>");
    return value;
  }

 private:
  std::string_view block_;
  size_t pos_ = 0;
};

absl::Status Errno(const char* what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

int PollTimeoutMs(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 60'000));
}

}  // namespace

std::string Http2StreamState::Header(std::string_view name) const {
  std::string value;
  for (const auto& [n, v] : headers) {
    if (n == name) value = v;
  }
  return value;
}

std::optional<int> Http2StreamState::GrpcStatus() const {
  int status = 0;
  for (const auto& [n, v] : headers) {
    if (n == "grpc-status" && absl::SimpleAtoi(v, &status)) return status;
  }
  return std::nullopt;
}

std::string GrpcMessagePrefix(bool compressed, uint32_t length) {
  std::string prefix(1, compressed ? '\x01' : '\x00');
  AppendBe32(prefix, length);
  return prefix;
}

absl::StatusOr<std::unique_ptr<RawHttp2Connection>> RawHttp2Connection::Connect(
    int port, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  std::unique_ptr<RawHttp2Connection> connection(new RawHttp2Connection(fd));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return Errno("connect");
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) return Errno("fcntl");

  std::string hello = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  if (absl::Status s = connection->WriteAll(hello, deadline); !s.ok()) return s;
  std::string settings;
  settings.push_back(0);
  settings.push_back(static_cast<char>(kSettingsInitialWindowSize));
  AppendBe32(settings, kOwnWindow);
  if (absl::Status s = connection->SendFrame(kSettings, 0, 0, settings, deadline); !s.ok()) {
    return s;
  }
  std::string window;
  AppendBe32(window, kOwnWindow - 65535);
  if (absl::Status s = connection->SendFrame(kWindowUpdate, 0, 0, window, deadline); !s.ok()) {
    return s;
  }
  RawHttp2Connection* raw = connection.get();
  if (absl::Status s = raw->PumpUntil(deadline, [raw] { return raw->settings_received_; });
      !s.ok()) {
    return absl::UnavailableError(absl::StrCat("no SETTINGS from the server: ", s.message()));
  }
  return connection;
}

RawHttp2Connection::~RawHttp2Connection() { ::close(fd_); }

uint32_t RawHttp2Connection::NextStreamId() {
  const uint32_t id = next_stream_id_;
  next_stream_id_ += 2;
  return id;
}

absl::Status RawHttp2Connection::WriteAll(std::string_view bytes, absl::Time deadline) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      closed_ = true;
      EndAll();
      return Errno("send");
    }
    // Read while waiting: a server that stops reading may still be talking.
    pollfd p{fd_, POLLOUT | POLLIN, 0};
    const int ready = ::poll(&p, 1, PollTimeoutMs(deadline));
    if (ready == 0 && absl::Now() >= deadline) {
      return absl::DeadlineExceededError("the server stopped reading");
    }
    if (ready > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buffer[65536];
      const ssize_t r = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (r > 0) {
        in_.append(buffer, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        closed_ = true;
        EndAll();
        return absl::UnavailableError("connection closed by the server");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status RawHttp2Connection::SendFrame(uint8_t type, uint8_t flags, uint32_t stream_id,
                                           std::string_view payload, absl::Time deadline) {
  std::string frame;
  frame.reserve(9 + payload.size());
  frame.push_back(static_cast<char>(payload.size() >> 16));
  frame.push_back(static_cast<char>(payload.size() >> 8));
  frame.push_back(static_cast<char>(payload.size()));
  frame.push_back(static_cast<char>(type));
  frame.push_back(static_cast<char>(flags));
  AppendBe32(frame, stream_id & 0x7fffffffu);
  frame.append(payload);
  return WriteAll(frame, deadline);
}

absl::Status RawHttp2Connection::SendRequestHeaders(uint32_t stream_id, std::string_view path,
                                                    const Http2Headers& extra, bool end_stream) {
  std::string block;
  AppendLiteral(block, ":method", "POST");
  AppendLiteral(block, ":scheme", "http");
  AppendLiteral(block, ":path", path);
  AppendLiteral(block, ":authority", "127.0.0.1");
  AppendLiteral(block, "content-type", "application/grpc");
  AppendLiteral(block, "te", "trailers");
  for (const auto& [name, value] : extra) AppendLiteral(block, name, value);
  if (block.size() > kMaxFramePayload) {
    return absl::InvalidArgumentError("headers larger than one frame");
  }
  Http2StreamState& state = streams_[stream_id];
  state.send_window = initial_stream_window_;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  return SendFrame(kHeaders, kEndHeaders | (end_stream ? kEndStream : 0), stream_id, block,
                   deadline);
}

absl::Status RawHttp2Connection::SendData(uint32_t stream_id, std::string_view data,
                                          bool end_stream, absl::Time deadline) {
  do {
    Http2StreamState& state = streams_[stream_id];
    if (state.ended || closed_) return absl::OkStatus();
    const int64_t window = std::min(connection_send_window_, state.send_window);
    const size_t chunk = std::min<size_t>(
        {data.size(), kMaxFramePayload, static_cast<size_t>(std::max<int64_t>(window, 0))});
    if (chunk == 0 && !data.empty()) {
      if (absl::Status s = PumpOnce(deadline); !s.ok()) return s;
      continue;
    }
    const bool last = chunk == data.size();
    if (absl::Status s = SendFrame(kData, last && end_stream ? kEndStream : 0, stream_id,
                                   data.substr(0, chunk), deadline);
        !s.ok()) {
      // The server may close the connection on us; that is an answer, not a failure to send.
      return closed_ ? absl::OkStatus() : s;
    }
    connection_send_window_ -= static_cast<int64_t>(chunk);
    Http2StreamState& after = streams_[stream_id];
    after.send_window -= static_cast<int64_t>(chunk);
    after.sent_bytes += chunk;
    data.remove_prefix(chunk);
  } while (!data.empty());
  return absl::OkStatus();
}

const Http2StreamState& RawHttp2Connection::AwaitEnd(uint32_t stream_id, absl::Time deadline) {
  PumpUntil(deadline, [&] { return streams_[stream_id].ended; }).IgnoreError();
  return streams_[stream_id];
}

absl::Status RawHttp2Connection::PumpOnce(absl::Time deadline) {
  while (true) {
    if (in_.size() >= 9) {
      const uint32_t length = (static_cast<uint32_t>(static_cast<uint8_t>(in_[0])) << 16) |
                              (static_cast<uint32_t>(static_cast<uint8_t>(in_[1])) << 8) |
                              static_cast<uint32_t>(static_cast<uint8_t>(in_[2]));
      if (in_.size() >= 9 + length) {
        const uint8_t type = static_cast<uint8_t>(in_[3]);
        const uint8_t flags = static_cast<uint8_t>(in_[4]);
        const uint32_t stream_id = Be32(std::string_view(in_).substr(5, 4)) & 0x7fffffffu;
        const std::string payload = in_.substr(9, length);
        in_.erase(0, 9 + length);
        HandleFrame(type, flags, stream_id, payload);
        return absl::OkStatus();
      }
    }
    if (closed_) return absl::DeadlineExceededError("connection closed");
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, PollTimeoutMs(deadline));
    if (ready == 0) {
      if (absl::Now() >= deadline) return absl::DeadlineExceededError("no frame before deadline");
      continue;
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Errno("poll");
    }
    char buffer[65536];
    const ssize_t r = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (r > 0) {
      in_.append(buffer, static_cast<size_t>(r));
    } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      closed_ = true;
      EndAll();
    }
  }
}

void RawHttp2Connection::EndAll() {
  for (auto& [id, state] : streams_) state.ended = true;
}

void RawHttp2Connection::HandleFrame(uint8_t type, uint8_t flags, uint32_t stream_id,
                                     std::string_view payload) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  switch (type) {
    case kData: {
      Http2StreamState& state = streams_[stream_id];
      state.data_bytes += payload.size();
      if (flags & kEndStream) state.ended = true;
      break;
    }
    case kHeaders: {
      if (flags & kPadded) {
        const size_t pad = static_cast<uint8_t>(payload[0]);
        payload = payload.substr(1, payload.size() - 1 - std::min(pad, payload.size() - 1));
      }
      if (flags & kPriority) payload.remove_prefix(std::min<size_t>(5, payload.size()));
      if (flags & kEndHeaders) {
        DecodeHeaderBlock(stream_id, payload);
        if (flags & kEndStream) streams_[stream_id].ended = true;
      } else {
        continuation_stream_ = stream_id;
        continuation_end_stream_ = (flags & kEndStream) != 0;
        continuation_block_ = std::string(payload);
      }
      break;
    }
    case kContinuation: {
      continuation_block_.append(payload);
      if (flags & kEndHeaders) {
        DecodeHeaderBlock(continuation_stream_, continuation_block_);
        if (continuation_end_stream_) streams_[continuation_stream_].ended = true;
        continuation_block_.clear();
      }
      break;
    }
    case kRstStream: {
      Http2StreamState& state = streams_[stream_id];
      state.rst = payload.size() >= 4 ? Be32(payload) : 0;
      state.ended = true;
      break;
    }
    case kSettings: {
      if (flags & kAck) break;
      for (size_t i = 0; i + 6 <= payload.size(); i += 6) {
        const uint16_t id = static_cast<uint16_t>((static_cast<uint8_t>(payload[i]) << 8) |
                                                  static_cast<uint8_t>(payload[i + 1]));
        const uint32_t value = Be32(payload.substr(i + 2, 4));
        if (id == kSettingsMaxConcurrentStreams) max_concurrent_streams_ = value;
        if (id == kSettingsInitialWindowSize) {
          const int64_t delta = static_cast<int64_t>(value) - initial_stream_window_;
          initial_stream_window_ = value;
          for (auto& [sid, state] : streams_) state.send_window += delta;
        }
      }
      settings_received_ = true;
      SendFrame(kSettings, kAck, 0, "", deadline).IgnoreError();
      break;
    }
    case kPing:
      if ((flags & kAck) == 0) SendFrame(kPing, kAck, 0, payload, deadline).IgnoreError();
      break;
    case kGoaway: {
      if (payload.size() < 8) break;
      const uint32_t last_stream = Be32(payload) & 0x7fffffffu;
      goaway_error_ = Be32(payload.substr(4));
      goaway_debug_ = std::string(payload.substr(8));
      for (auto& [id, state] : streams_) {
        if (id > last_stream) state.ended = true;
      }
      break;
    }
    case kWindowUpdate: {
      if (payload.size() < 4) break;
      const int64_t increment = Be32(payload) & 0x7fffffffu;
      if (stream_id == 0) {
        connection_send_window_ += increment;
      } else {
        streams_[stream_id].send_window += increment;
      }
      break;
    }
    default:
      break;
  }
}

void RawHttp2Connection::DecodeHeaderBlock(uint32_t stream_id, std::string_view block) {
  Http2StreamState& state = streams_[stream_id];
  HpackReader reader(block);
  auto lookup = [&](uint64_t index) -> std::optional<std::pair<std::string, std::string>> {
    if (index >= 1 && index <= kStaticTableSize) {
      return std::pair<std::string, std::string>(kStaticTable[index - 1].first,
                                                 kStaticTable[index - 1].second);
    }
    const uint64_t dynamic = index - kStaticTableSize - 1;
    if (index > kStaticTableSize && dynamic < dynamic_table_.size()) {
      return dynamic_table_[dynamic];
    }
    return std::nullopt;
  };
  auto insert = [&](const std::string& name, const std::string& value) {
    const size_t size = name.size() + value.size() + 32;
    dynamic_table_.emplace_front(name, value);
    dynamic_table_size_ += size;
    while (dynamic_table_size_ > dynamic_table_max_ && !dynamic_table_.empty()) {
      dynamic_table_size_ -=
          dynamic_table_.back().first.size() + dynamic_table_.back().second.size() + 32;
      dynamic_table_.pop_back();
    }
  };
  while (!reader.done()) {
    const uint8_t first = reader.Peek();
    if (first & 0x80) {  // indexed
      std::optional<uint64_t> index = reader.Int(7);
      auto entry = index ? lookup(*index) : std::nullopt;
      if (!entry) break;
      state.headers.push_back(*entry);
    } else if ((first & 0xe0) == 0x20) {  // dynamic table size update
      std::optional<uint64_t> size = reader.Int(5);
      if (!size) break;
      dynamic_table_max_ = *size;
      while (dynamic_table_size_ > dynamic_table_max_ && !dynamic_table_.empty()) {
        dynamic_table_size_ -=
            dynamic_table_.back().first.size() + dynamic_table_.back().second.size() + 32;
        dynamic_table_.pop_back();
      }
    } else {  // literal: with incremental indexing (01), without (0000) or never (0001)
      const bool indexing = (first & 0xc0) == 0x40;
      std::optional<uint64_t> name_index = reader.Int(indexing ? 6 : 4);
      if (!name_index) break;
      std::optional<std::string> name;
      if (*name_index == 0) {
        name = reader.String();
      } else if (auto entry = lookup(*name_index)) {
        name = entry->first;
      }
      std::optional<std::string> value = reader.String();
      if (!name || !value) break;
      if (indexing) insert(*name, *value);
      state.headers.emplace_back(*name, *value);
    }
  }
}

}  // namespace utpost::testutil
