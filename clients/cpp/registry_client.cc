#include "clients/cpp/registry_client.h"

#include "common/call_headers.h"
#include "common/grpc_status.h"
#include "common/ids.h"
#include "common/status_macros.h"

namespace utpost::client {

absl::StatusOr<v1::RegistryKey> RegistryKeyFromIdentifier(std::string_view text) {
  UTPOST_ASSIGN_OR_RETURN(v1::Recipient recipient, RecipientFromIdentifier(text));
  v1::RegistryKey key;
  if (recipient.has_person()) {
    *key.mutable_person() = recipient.person();
  } else {
    *key.mutable_organisation() = recipient.organisation();
  }
  return key;
}

RegistryClient::RegistryClient(std::shared_ptr<grpc::Channel> channel, ConnectionOptions options,
                               absl::Duration timeout)
    : stub_(v1::RegistryService::NewStub(channel)),
      options_(std::move(options)),
      timeout_(timeout) {}

void RegistryClient::Prepare(grpc::ClientContext& context, bool deadline) const {
  if (deadline) context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  context.set_wait_for_ready(options_.wait_for_ready);
  if (options_.insecure) {
    context.AddMetadata(common::kInsecureOrganisationHeader, options_.organisation);
  }
}

absl::StatusOr<v1::LookupResponse> RegistryClient::Lookup(const v1::LookupRequest& request) {
  grpc::ClientContext context;
  Prepare(context);
  v1::LookupResponse response;
  UTPOST_RETURN_IF_ERROR(common::FromGrpcStatus(stub_->Lookup(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::UpsertResponse> RegistryClient::Upsert(const v1::RegistryEntry& entry) {
  grpc::ClientContext context;
  Prepare(context);
  v1::UpsertRequest request;
  *request.mutable_entry() = entry;
  v1::UpsertResponse response;
  UTPOST_RETURN_IF_ERROR(common::FromGrpcStatus(stub_->Upsert(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::DeleteResponse> RegistryClient::Delete(const v1::RegistryKey& key) {
  grpc::ClientContext context;
  Prepare(context);
  v1::DeleteRequest request;
  *request.mutable_key() = key;
  v1::DeleteResponse response;
  UTPOST_RETURN_IF_ERROR(common::FromGrpcStatus(stub_->Delete(&context, request, &response)));
  return response;
}

std::unique_ptr<RegistryClient::ImportStream> RegistryClient::StartImport() {
  auto stream = std::unique_ptr<ImportStream>(new ImportStream());
  Prepare(stream->context_, /*deadline=*/false);
  stream->writer_ = stub_->Import(&stream->context_, &stream->response_);
  return stream;
}

bool RegistryClient::ImportStream::Write(const v1::ImportRequest& request) {
  return writer_->Write(request);
}

absl::StatusOr<v1::ImportResponse> RegistryClient::ImportStream::Finish() {
  writer_->WritesDone();
  UTPOST_RETURN_IF_ERROR(common::FromGrpcStatus(writer_->Finish()));
  return response_;
}

}  // namespace utpost::client
