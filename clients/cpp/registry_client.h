// A client of utpost.v1.RegistryService (registry administrators only). Errors are
// absl::Status with google.rpc.BadRequest field violations kept as payload, as LetterClient's.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/cpp/utpost_client.h"
#include "utpost/v1/registry.grpc.pb.h"

namespace utpost::client {

// A person's or organisation's key from any of the four identifier kinds, told apart by
// length as RecipientFromIdentifier does. INVALID_ARGUMENT naming what is wrong.
[[nodiscard]] absl::StatusOr<v1::RegistryKey> RegistryKeyFromIdentifier(std::string_view text);

class RegistryClient {
 public:
  RegistryClient(std::shared_ptr<grpc::Channel> channel, ConnectionOptions options,
                 absl::Duration timeout = absl::Seconds(60));

  [[nodiscard]] absl::StatusOr<v1::LookupResponse> Lookup(const v1::LookupRequest& request);
  [[nodiscard]] absl::StatusOr<v1::UpsertResponse> Upsert(const v1::RegistryEntry& entry);
  [[nodiscard]] absl::StatusOr<v1::DeleteResponse> Delete(const v1::RegistryKey& key);

  // One Import stream. Write blocks while the server is still making earlier messages
  // durable (it reads the next only then), so a fast reader of a large file never gets far
  // ahead of the disk. Not thread-safe.
  class ImportStream {
   public:
    // Sends one message of 1..1000 rows. False if the stream has ended (Finish says why).
    [[nodiscard]] bool Write(const v1::ImportRequest& request);
    // Ends the stream and returns the server's totals, or the error that ended it.
    [[nodiscard]] absl::StatusOr<v1::ImportResponse> Finish();

   private:
    friend class RegistryClient;
    grpc::ClientContext context_;
    v1::ImportResponse response_;
    std::unique_ptr<grpc::ClientWriter<v1::ImportRequest>> writer_;
  };
  // Starts an import (no deadline: an import takes as long as it takes).
  [[nodiscard]] std::unique_ptr<ImportStream> StartImport();

 private:
  void Prepare(grpc::ClientContext& context, bool deadline = true) const;

  std::unique_ptr<v1::RegistryService::Stub> stub_;
  ConnectionOptions options_;
  absl::Duration timeout_;
};

}  // namespace utpost::client
