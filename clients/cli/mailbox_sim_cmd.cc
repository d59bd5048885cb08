#include "clients/cli/mailbox_sim_cmd.h"

#include <google/protobuf/util/time_util.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "clients/cli/output.h"
#include "common/call_headers.h"
#include "common/field_violations.h"
#include "common/grpc_status.h"
#include "utpost/sim/v1/mailbox_sim.grpc.pb.h"

namespace utpost::cli {
namespace {

using google::protobuf::util::TimeUtil;

absl::Duration ToAbsl(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

std::string Describe(const sim::v1::Behaviour& b) {
  if (b.down()) return "down";
  std::string out = absl::StrFormat(
      "fail %.2f, reject %.2f (%s), delay %s, read %.2f after %s, "
      "printed after %s",
      b.fail_share(), b.reject_share(),
      b.reject_kind() == sim::v1::REJECT_KIND_INVALID ? "invalid" : "closed",
      absl::FormatDuration(ToAbsl(b.delay())), b.read_share(),
      absl::FormatDuration(ToAbsl(b.read_delay())), absl::FormatDuration(ToAbsl(b.print_delay())));
  return out;
}

absl::Status ParseDelay(const std::string& text, google::protobuf::Duration& out) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration()) {
    return common::FieldError(absl::StatusCode::kInvalidArgument, "--delay",
                              "must be a duration such as 2s, 500ms or 1m");
  }
  out = TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(d));
  return absl::OkStatus();
}

void PrintStatus(const sim::v1::GetStatusResponse& status) {
  std::cout << "default    " << Describe(status.default_behaviour()) << "\n";
  for (const sim::v1::ProviderStatus& p : status.providers()) {
    std::cout << "\nprovider   " << p.provider_id() << "\n";
    std::cout << "behaviour  " << Describe(p.behaviour())
              << (p.default_behaviour() ? " (default)" : "") << "\n";
    std::cout << absl::StrFormat(
        "letters    %d (duplicates %d, replays %d)\nreceipts   %d unacknowledged\n"
        "refused    %d failed, %d rejected, %d undecryptable\nbatches    %d (%d letters)\n",
        p.letters(), p.duplicates(), p.replays(), p.receipts_unacknowledged(),
        p.injected_failures(), p.injected_rejections(), p.undecryptable_documents(), p.batches(),
        p.batch_letters());
    for (const sim::v1::MailboxStatus& m : p.mailboxes()) {
      std::cout << absl::StrFormat("  %-40s %d\n", m.address(), m.letters());
      for (const std::string& id : m.letter_ids()) std::cout << "    " << id << "\n";
    }
  }
}

}  // namespace

std::unique_ptr<MailboxSimCommand> AddMailboxSimCommand(CLI::App& cli) {
  auto c = std::make_unique<MailboxSimCommand>();
  c->command = cli.add_subcommand("mailbox-sim",
                                  "steer and inspect the mailbox simulator (development only)");
  c->command->require_subcommand(1);
  c->command->add_option("--provider", c->provider,
                         "change this provider id only (default: the default of all)");
  auto share = [&c](CLI::App* app, const char* what) {
    app->add_option("--share", c->share, what)->required()->check(CLI::Range(0.0, 1.0));
  };
  c->fail = c->command->add_subcommand("fail", "answer a share of deliveries UNAVAILABLE");
  share(c->fail, "share of deliveries and submissions that fail, 0..1");
  c->reject = c->command->add_subcommand("reject", "refuse a share of deliveries permanently");
  share(c->reject, "share refused, 0..1");
  c->reject->add_option("--kind", c->kind, "closed (mailbox closed) or invalid")
      ->check(CLI::IsMember({"closed", "invalid"}));
  c->slow = c->command->add_subcommand("slow", "answer every provider call late");
  c->slow->add_option("--delay", c->delay, "e.g. 2s, 500ms; 0s ends it")->required();
  c->down = c->command->add_subcommand("down", "answer every provider call UNAVAILABLE");
  c->up = c->command->add_subcommand("up", "undo down, fail, reject and slow");
  c->read = c->command->add_subcommand("read", "READ receipts for a share of letters");
  share(c->read, "share of delivered letters read, 0..1");
  c->read->add_option("--delay", c->delay, "time from delivery to the receipt, e.g. 1m");
  c->print = c->command->add_subcommand("print", "time from a batch's submission to PRINTED");
  c->print->add_option("--delay", c->delay, "e.g. 10s")->required();
  c->reset = c->command->add_subcommand("reset", "a provider follows the default again");
  c->status = c->command->add_subcommand("status", "what the simulator holds, per provider id");
  c->status->add_flag("--list", c->list, "also list the letters per mailbox");
  return c;
}

int RunMailboxSimCommand(MailboxSimCommand& c, const client::ConnectionOverrides& overrides,
                         bool json_output, int timeout_seconds) {
  absl::StatusOr<client::ConnectionOptions> options = client::ResolveConnection(overrides);
  if (!options.ok()) return Report(options.status());
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = client::Connect(*options);
  if (!channel.ok()) return Report(channel.status());
  auto stub = sim::v1::MailboxSimControlService::NewStub(*channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(timeout_seconds)));
  context.set_wait_for_ready(options->wait_for_ready);
  if (options->insecure) {
    context.AddMetadata(common::kInsecureOrganisationHeader, options->organisation);
  }

  if (c.status->parsed()) {
    sim::v1::GetStatusRequest request;
    request.set_list_mailboxes(c.list);
    sim::v1::GetStatusResponse response;
    absl::Status s = common::FromGrpcStatus(stub->GetStatus(&context, request, &response));
    if (!s.ok()) return Report(s);
    if (json_output) {
      PrintJson(response);
    } else {
      PrintStatus(response);
    }
    return 0;
  }

  sim::v1::SetBehaviourRequest request;
  request.set_provider_id(c.provider);
  if (c.fail->parsed()) {
    request.set_fail_share(c.share);
  } else if (c.reject->parsed()) {
    request.set_reject_share(c.share);
    request.set_reject_kind(c.kind == "invalid" ? sim::v1::REJECT_KIND_INVALID
                                                : sim::v1::REJECT_KIND_MAILBOX_CLOSED);
  } else if (c.slow->parsed()) {
    if (absl::Status s = ParseDelay(c.delay, *request.mutable_delay()); !s.ok()) return Report(s);
  } else if (c.down->parsed()) {
    request.set_down(true);
  } else if (c.up->parsed()) {
    request.set_down(false);
    request.set_fail_share(0);
    request.set_reject_share(0);
    request.mutable_delay();
  } else if (c.read->parsed()) {
    request.set_read_share(c.share);
    if (!c.delay.empty()) {
      if (absl::Status s = ParseDelay(c.delay, *request.mutable_read_delay()); !s.ok()) {
        return Report(s);
      }
    }
  } else if (c.print->parsed()) {
    if (absl::Status s = ParseDelay(c.delay, *request.mutable_print_delay()); !s.ok()) {
      return Report(s);
    }
  } else if (c.reset->parsed()) {
    if (c.provider.empty()) {
      return Report(common::FieldError(absl::StatusCode::kInvalidArgument, "--provider",
                                       "reset needs a provider id"));
    }
    request.set_reset(true);
  }
  sim::v1::SetBehaviourResponse response;
  absl::Status s = common::FromGrpcStatus(stub->SetBehaviour(&context, request, &response));
  if (!s.ok()) return Report(s);
  if (json_output) {
    PrintJson(response);
  } else {
    std::cout << (c.provider.empty() ? "default" : c.provider) << ": "
              << Describe(response.behaviour()) << "\n";
  }
  return 0;
}

}  // namespace utpost::cli
