// The wire check (common/wire_check.h) on arbitrary bytes, as every request of LetterService,
// TaskService, RegistryService and RegistryLookupService.
//
// Invariants: it answers OK or INVALID_ARGUMENT, never another code; and whatever it accepts,
// protobuf parses (so a handler that checked first never meets a parse failure).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/wire_check.h"
#include "fuzz/fuzz_check.h"
#include "utpost/internal/v1/registry_lookup.pb.h"
#include "utpost/internal/v1/tasks.pb.h"
#include "utpost/v1/letters.pb.h"
#include "utpost/v1/registry.pb.h"

namespace utpost::fuzz {
namespace {

template <typename Message>
void Check(std::string_view bytes) {
  common::WireLimits limits;
  limits.max_repeated = 64;
  limits.max_unknown_fields = 64;
  const absl::Status status = common::CheckWire(bytes, *Message::descriptor(), limits);
  UTPOST_FUZZ_CHECK(status.ok() || status.code() == absl::StatusCode::kInvalidArgument);
  if (status.ok()) {
    Message message;
    UTPOST_FUZZ_CHECK(message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
  }
}

}  // namespace
}  // namespace utpost::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  using namespace utpost;
  fuzz::Check<v1::SendLetterRequest>(bytes);
  fuzz::Check<v1::ListLettersRequest>(bytes);
  fuzz::Check<v1::GetLetterRequest>(bytes);
  fuzz::Check<v1::WatchLetterEventsRequest>(bytes);
  fuzz::Check<v1::PreviewRoutesRequest>(bytes);
  fuzz::Check<internal::v1::LeaseTasksRequest>(bytes);
  fuzz::Check<internal::v1::CompleteTaskRequest>(bytes);
  fuzz::Check<internal::v1::FailTaskRequest>(bytes);
  fuzz::Check<internal::v1::ReadDocumentsRequest>(bytes);
  fuzz::Check<internal::v1::RecordTransitionRequest>(bytes);
  fuzz::Check<internal::v1::LookupRequest>(bytes);
  fuzz::Check<v1::LookupRequest>(bytes);
  fuzz::Check<v1::UpsertRequest>(bytes);
  fuzz::Check<v1::DeleteRequest>(bytes);
  fuzz::Check<v1::ImportRequest>(bytes);
  return 0;
}
