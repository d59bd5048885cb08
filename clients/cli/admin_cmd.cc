#include "clients/cli/admin_cmd.h"

#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "clients/cli/output.h"
#include "common/call_headers.h"
#include "common/grpc_status.h"
#include "utpost/v1/admin.grpc.pb.h"

namespace utpost::cli {

std::unique_ptr<AdminCommand> AddAdminCommand(CLI::App& cli) {
  auto c = std::make_unique<AdminCommand>();
  c->admin = cli.add_subcommand("admin", "operations on the server (its backup.operators only)");
  c->admin->require_subcommand(1);
  c->checkpoint = c->admin->add_subcommand(
      "checkpoint",
      "take a checkpoint of every store of the server, under its backup.dir; prints its name");
  c->checkpoint->add_option("--keep", c->keep,
                            "then keep only the newest this many checkpoints (0: keep all)");
  return c;
}

int RunAdminCommand(AdminCommand& c, const client::ConnectionOverrides& overrides, bool json,
                    int timeout_seconds) {
  absl::StatusOr<client::ConnectionOptions> options = client::ResolveConnection(overrides);
  if (!options.ok()) return Report(options.status());
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = client::Connect(*options);
  if (!channel.ok()) return Report(channel.status());
  auto stub = v1::AdminService::NewStub(*channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(timeout_seconds)));
  context.set_wait_for_ready(options->wait_for_ready);
  if (options->insecure) {
    context.AddMetadata(common::kInsecureOrganisationHeader, options->organisation);
  }
  v1::CreateCheckpointRequest request;
  request.set_keep(c.keep);
  v1::CreateCheckpointResponse response;
  absl::Status s = common::FromGrpcStatus(stub->CreateCheckpoint(&context, request, &response));
  if (!s.ok()) return Report(s);
  if (json) {
    PrintJson(response);
    return 0;
  }
  std::cout << "checkpoint " << response.name() << "\n";
  for (const v1::CheckpointStore& store : response.stores()) {
    std::cout << absl::StrFormat("  %-12s %12d bytes\n", store.name(), store.bytes());
  }
  for (const std::string& removed : response.removed()) {
    std::cout << "removed " << removed << " (--keep " << c.keep << ")\n";
  }
  return 0;
}

}  // namespace utpost::cli
