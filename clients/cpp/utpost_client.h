// The C++ client library of utpost: connection settings, channel set-up (mutual TLS), and a
// LetterService client whose errors are absl::Status (with google.rpc.BadRequest field
// violations kept as payload; see common::GetBadRequest).
#pragma once

#include <grpcpp/channel.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "utpost/v1/letters.grpc.pb.h"

namespace utpost::client {

// Where and as whom to connect.
struct ConnectionOptions {
  std::string address;         // host:port
  std::filesystem::path ca;    // CA that signed the server certificate
  std::filesystem::path cert;  // client certificate (names the organisation)
  std::filesystem::path key;   // its private key
  bool insecure = false;       // plaintext (server started with --insecure)
  std::string organisation;    // insecure mode only: the organisation to act as
  std::string municipality;    // a portal's default municipality for `forms submit` (config only)
  // Wait (within the call's deadline) for a connection that is being set up or re-established
  // instead of failing at once with UNAVAILABLE. Off for interactive use, where "server not
  // running" should be said at once; on for batch senders and tests.
  bool wait_for_ready = false;
};

// Settings from the command line; unset ones come from the environment (UTPOST_ADDRESS,
// UTPOST_CA, UTPOST_CERT, UTPOST_KEY, UTPOST_ORGANISATION), then from the config file
// (`config`, else $UTPOST_CLIENT_CONFIG, else ./data/utpostctl.yaml, written by a dev utpost).
struct ConnectionOverrides {
  std::optional<std::string> config;
  std::optional<std::string> address, ca, cert, key, organisation;
  bool insecure = false;
};

// Resolves the settings. FAILED_PRECONDITION saying what is missing and how to provide it.
[[nodiscard]] absl::StatusOr<ConnectionOptions> ResolveConnection(
    const ConnectionOverrides& overrides);

// A channel to the server. It reads response metadata up to kMaxResponseMetadataBytes, twice
// gRPC's default, so that error details always arrive (the server keeps them under 8 KiB).
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(
    const ConnectionOptions& options, int64_t max_message_bytes = 64ll << 20);
inline constexpr int kMaxResponseMetadataBytes = 16 << 10;

// Whether the same call may succeed if tried again: UNAVAILABLE, CANCELLED (a server that is
// shutting down), DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED from the server's admission or
// memory limits. Not RESOURCE_EXHAUSTED that gRPC raises for a size ("received initial
// metadata size exceeds limit", "Received message larger than max"): the same response or
// request is as large the next time.
bool IsRetryable(const absl::Status& status);

// Builds a recipient from any of the four identifier kinds, told apart by length: 11 digits
// Norwegian national id / D-number, 9 Norwegian org number, 10 (or DDMMYY-SSSS) Danish CPR,
// 8 Danish CVR. INVALID_ARGUMENT naming what is wrong.
[[nodiscard]] absl::StatusOr<v1::Recipient> RecipientFromIdentifier(std::string_view text);

// A media type for a file name by its extension (application/octet-stream if unknown).
std::string MediaTypeForFile(const std::filesystem::path& path);

// For an answer that sends the caller to another ledger shard (WRONG_SHARD, common/shards.h):
// `options` with that shard's address. Clients follow it; nullopt for any other status.
std::optional<ConnectionOptions> ShardRedirect(const absl::Status& status,
                                               const ConnectionOptions& options);

// Redirects to another ledger shard a client follows per call at most.
inline constexpr int kMaxShardHops = 2;

class LetterClient {
 public:
  LetterClient(std::shared_ptr<grpc::Channel> channel, ConnectionOptions options,
               absl::Duration timeout = absl::Seconds(60));

  [[nodiscard]] absl::StatusOr<v1::SendLetterResponse> Send(const v1::SendLetterRequest& request);
  [[nodiscard]] absl::StatusOr<v1::GetLetterResponse> Get(std::string_view letter_id);
  [[nodiscard]] absl::StatusOr<v1::ListLettersResponse> List(const v1::ListLettersRequest& request);
  [[nodiscard]] absl::StatusOr<v1::CancelLetterResponse> Cancel(std::string_view letter_id);
  [[nodiscard]] absl::StatusOr<v1::PreviewRoutesResponse> PreviewRoutes(
      const v1::PreviewRoutesRequest& request);

  // Streams events after `after_sequence` to `on_event` until it returns false, the server
  // ends the stream, or an error occurs. The returned status is the stream's end (OK when
  // on_event stopped it).
  [[nodiscard]] absl::Status Watch(uint64_t after_sequence,
                                   const std::function<bool(const v1::LetterEvent&)>& on_event);

 private:
  void Prepare(grpc::ClientContext& context, bool deadline = true) const;
  std::shared_ptr<v1::LetterService::Stub> Stub() const;
  // For a WRONG_SHARD answer (common/shards.h): connects to the shard it names, with the same
  // identity, for this and every later call, and counts the hop. False for any other status,
  // after kMaxShardHops, or when the connection cannot be made.
  bool FollowShard(const absl::Status& status, int& hops);
  // One unary call with this client's deadline and identity; errors as absl::Status.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(grpc::Status (v1::LetterService::Stub::*method)(
                                    grpc::ClientContext*, const Request&, Response*),
                                const Request& request);

  std::unique_ptr<std::mutex> mu_ = std::make_unique<std::mutex>();
  std::shared_ptr<v1::LetterService::Stub> stub_;  // guarded by mu_
  ConnectionOptions options_;                      // guarded by mu_
  absl::Duration timeout_;
};

}  // namespace utpost::client
