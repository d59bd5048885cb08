// utpost.v1.AdminService (utpost/v1/admin.proto): checkpoints of a live process's stores,
// for backups. Served by every process; only organisations named in backup.operators may
// call it.
//
// A checkpoint is written to <backup.dir>/.partial-<name>, each module's stores beneath it
// (Module::Checkpoint), then a manifest (utpost-checkpoint.json: name, time, stores; nothing
// personal), then renamed to <backup.dir>/<name> and the directory synced: a checkpoint is
// there complete or not at all. Leftovers of an interrupted one are removed by the next.
#pragma once

#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "services/common/admission.h"
#include "services/common/executor.h"
#include "services/common/identity.h"
#include "services/common/module.h"
#include "services/common/raw_request.h"
#include "services/common/unary_call.h"
#include "utpost/v1/admin.grpc.pb.h"

namespace utpost::app {

struct BackupConfig;

class AdminServiceImpl final
    : public v1::AdminService::WithRawCallbackMethod_CreateCheckpoint<v1::AdminService::Service> {
 public:
  // Every store of the process into a directory (the modules' Checkpoint, in module order).
  using CheckpointAll = std::function<absl::StatusOr<std::vector<service::StoreCheckpoint>>(
      const std::filesystem::path& dir)>;

  // `dir`: where checkpoints go (empty: none can be taken). `operators`: org keys allowed.
  AdminServiceImpl(const service::Authenticator& authenticator, std::filesystem::path dir,
                   std::vector<std::string> operators, CheckpointAll checkpoint_all,
                   const common::Clock& clock);
  ~AdminServiceImpl() override;
  // Waits for a checkpoint being taken; none starts after. Call after the server has stopped
  // and before the modules go.
  void Shutdown() { executor_.Shutdown(); }

  grpc::ServerUnaryReactor* CreateCheckpoint(grpc::CallbackServerContext* context,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;

  // The logic of CreateCheckpoint for `caller` (an org key), without gRPC.
  [[nodiscard]] absl::StatusOr<v1::CreateCheckpointResponse> Create(
      const std::string& caller, const v1::CreateCheckpointRequest& request);

 private:
  const std::filesystem::path dir_;
  const std::vector<std::string> operators_;
  const CheckpointAll checkpoint_all_;
  const common::Clock& clock_;
  service::BoundedExecutor executor_;
  service::Admission admission_;
  const service::ServiceCore core_;
  const service::RequestLimits limits_;
  std::mutex mu_;  // one checkpoint at a time
};

// Whether `name` is a checkpoint's directory name: YYYYMMDDTHHMMSSZ, optionally "-<n>".
bool IsCheckpointName(std::string_view name);

}  // namespace utpost::app
