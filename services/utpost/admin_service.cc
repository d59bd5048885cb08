#include "services/utpost/admin_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "services/common/log.h"
#include "storage/checkpoint.h"

namespace utpost::app {
namespace {

constexpr char kPartialPrefix[] = ".partial-";
constexpr char kManifest[] = "utpost-checkpoint.json";

absl::Status WriteSynced(const std::filesystem::path& path, const std::string& text) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path.string()));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot sync ", path.string()));
  }
  ::close(fd);
  return absl::OkStatus();
}

}  // namespace

bool IsCheckpointName(std::string_view name) {
  if (name.size() < 16) return false;
  for (size_t i = 0; i < 16; ++i) {
    const char c = name[i];
    const bool ok = i == 8 ? c == 'T' : i == 15 ? c == 'Z' : absl::ascii_isdigit(c);
    if (!ok) return false;
  }
  if (name.size() == 16) return true;
  if (name[16] != '-' || name.size() == 17) return false;
  return std::all_of(name.begin() + 17, name.end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); });
}

AdminServiceImpl::AdminServiceImpl(const service::Authenticator& authenticator,
                                   std::filesystem::path dir, std::vector<std::string> operators,
                                   CheckpointAll checkpoint_all, const common::Clock& clock)
    : dir_(std::move(dir)),
      operators_(std::move(operators)),
      checkpoint_all_(std::move(checkpoint_all)),
      clock_(clock),
      // One checkpoint at a time, and one waiting at most.
      executor_("admin", 1, 1),
      admission_(service::AdmissionLimits{2, 1 << 20}),
      core_{authenticator, admission_, executor_},
      limits_{4 << 10, {}} {}

AdminServiceImpl::~AdminServiceImpl() { executor_.Shutdown(); }

grpc::ServerUnaryReactor* AdminServiceImpl::CreateCheckpoint(grpc::CallbackServerContext* context,
                                                             const grpc::ByteBuffer* request,
                                                             grpc::ByteBuffer* response) {
  return service::ServeUnary<v1::CreateCheckpointRequest>(
      core_, "CreateCheckpoint", context, request, response, limits_,
      [this](const std::string& caller, const v1::CreateCheckpointRequest& r) {
        return Create(caller, r);
      });
}

absl::StatusOr<v1::CreateCheckpointResponse> AdminServiceImpl::Create(
    const std::string& caller, const v1::CreateCheckpointRequest& request) {
  if (std::find(operators_.begin(), operators_.end(), caller) == operators_.end()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "organisation ", caller, " may not take checkpoints: it is not in backup.operators"));
  }
  if (dir_.empty()) {
    return absl::FailedPreconditionError(
        "no backup.dir is configured: this server cannot take checkpoints");
  }
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    return absl::AbortedError("another checkpoint is being taken; retry when it is done");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", dir_.string()));
  // What an interrupted checkpoint left.
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.path().filename().string().rfind(kPartialPrefix, 0) == 0) {
      std::filesystem::remove_all(entry.path(), ec);
    }
  }

  const absl::Time now = clock_.Now();
  const std::string stamp = absl::FormatTime("%Y%m%dT%H%M%SZ", now, absl::UTCTimeZone());
  // Names sort by time: a second checkpoint within a second is "<stamp>-2", then "-3", ...,
  // numbered past every one of that second still there.
  int last = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string n = entry.path().filename().string();
    if (!IsCheckpointName(n) || n.compare(0, 16, stamp) != 0) continue;
    int number = 1;
    if (n.size() > 16 && !absl::SimpleAtoi(absl::string_view(n).substr(17), &number)) continue;
    last = std::max(last, number);
  }
  const std::string name = last == 0 ? stamp : absl::StrCat(stamp, "-", last + 1);
  const std::filesystem::path partial = dir_ / absl::StrCat(kPartialPrefix, name);
  std::filesystem::create_directory(partial, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", partial.string()));
  auto discard = [&](absl::Status status) {
    std::error_code ignored;
    std::filesystem::remove_all(partial, ignored);
    return status;
  };

  absl::StatusOr<std::vector<service::StoreCheckpoint>> stores = checkpoint_all_(partial);
  if (!stores.ok()) return discard(stores.status());
  v1::CreateCheckpointResponse response;
  response.set_name(name);
  *response.mutable_time() = common::ToProto(now);
  std::string manifest = absl::StrCat("{\"name\": \"", name, "\", \"time\": \"",
                                      absl::FormatTime(absl::RFC3339_sec, now, absl::UTCTimeZone()),
                                      "\", \"stores\": [");
  for (size_t i = 0; i < stores->size(); ++i) {
    const service::StoreCheckpoint& s = (*stores)[i];
    v1::CheckpointStore& out = *response.add_stores();
    out.set_name(s.name);
    out.set_bytes(s.bytes);
    absl::StrAppend(&manifest, i == 0 ? "" : ", ", "{\"name\": \"", s.name,
                    "\", \"bytes\": ", s.bytes, "}");
  }
  absl::StrAppend(&manifest, "]}\n");
  if (absl::Status s = WriteSynced(partial / kManifest, manifest); !s.ok()) return discard(s);
  if (absl::Status s = storage::SyncDir(partial); !s.ok()) return discard(s);
  std::filesystem::rename(partial, dir_ / name, ec);
  if (ec) return discard(absl::UnavailableError(absl::StrCat("cannot rename ", partial.string())));
  UTPOST_RETURN_IF_ERROR(storage::SyncDir(dir_));

  // Keep the newest `keep` (names sort by time).
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string n = entry.path().filename().string();
    if (entry.is_directory(ec) && IsCheckpointName(n)) names.push_back(n);
  }
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    // "…Z" < "…Z-2" < "…Z-10": by stamp, then by the number after it.
    const std::string_view sa(a), sb(b);
    if (sa.substr(0, 16) != sb.substr(0, 16)) return sa.substr(0, 16) < sb.substr(0, 16);
    if (a.size() != b.size()) return a.size() < b.size();
    return a < b;
  });
  if (request.keep() > 0 && names.size() > request.keep()) {
    const size_t remove = names.size() - request.keep();
    for (size_t i = 0; i < remove; ++i) {
      std::filesystem::remove_all(dir_ / names[i], ec);
      if (ec) {
        service::Log(spdlog::level::warn, "cannot remove an old checkpoint",
                     {{"checkpoint", names[i]}, {"error", ec.message()}});
        continue;
      }
      response.add_removed(names[i]);
    }
  }
  service::Log(spdlog::level::info, "checkpoint taken",
               {{"checkpoint", name},
                {"stores", absl::StrCat(response.stores_size())},
                {"removed", absl::StrCat(response.removed_size())},
                {"by", caller}});
  return response;
}

}  // namespace utpost::app
