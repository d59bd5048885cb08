// utpost: one binary, several targets. `utpost --target=all` runs every component in one
// process; `utpost --list-targets` shows the module graph.
#include <prometheus/registry.h>
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/allocator.h"
#include "crypto/file_key_store.h"
#include "services/common/log.h"
#include "services/common/raw_request.h"
#include "services/utpost/app.h"
#include "services/utpost/config.h"
#include "services/utpost/modules.h"

namespace {

int Fail(const absl::Status& status) {
  utpost::service::Log(spdlog::level::critical, "start-up failed", {{"error", status.ToString()}});
  std::fprintf(stderr, "utpost: %s\n", std::string(status.message()).c_str());
  return 1;
}

void PrintReady(const utpost::app::App& app) {
  if (!app.config.dev_pki || app.FindModule("ledger") == nullptr) return;
  const std::string month = absl::FormatTime("%Y-%m", absl::Now(), absl::UTCTimeZone());
  std::printf(
      "\nutpost is ready on %s (mutual TLS; dev certificates in %s).\n"
      "In another terminal, from the project root:\n"
      "  python3 tools/make-example-pdf.py vedtak.pdf\n"
      "  build/clients/cli/utpostctl send --to 02028234530 --title Vedtak --file vedtak.pdf\n"
      "  build/clients/cli/utpostctl get <letter id>    # ACCEPTED, then ROUTED and why\n"
      "  build/clients/cli/utpostctl list\n"
      "  build/clients/cli/utpostctl watch\n"
      "  build/clients/cli/utpostctl registry get 02028234530\n"
      "  build/clients/cli/utpostctl preview examples/recipients.csv  # before sending a batch\n"
      "  build/clients/cli/utpostctl stats share --from %s           # digital vs paper\n"
      "  build/clients/cli/utpostctl stats report --from %s --out report.html\n"
      "The dev registry's recipients and what each one shows are in README.md.\n",
      app.address().c_str(), app.config.InData("pki").string().c_str(), month.c_str(),
      month.c_str());
  if (!app.metrics_url().empty()) {
    std::printf(
        "Metrics: curl -s %s\n"
        "  alert and recording rules: helm/utpost/rules/utpost.rules.yaml (runbooks in\n"
        "    helm/utpost/docs/runbooks.md); load them with rule_files: in prometheus.yml\n"
        "  Grafana dashboards: helm/utpost/dashboards/*.json (Dashboards > Import)\n"
        "  README.md, \"Metrics\", has a prometheus.yml that scrapes this process.\n",
        app.metrics_url().c_str());
  }
  std::printf("Stop with Ctrl-C (in-flight letters finish first).\n\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  // Everything utpost creates (RocksDB's files, keys, logs of the dev PKI) is for its own
  // user only. Set before any thread or file exists; App also makes its directories 0700
  // itself, for when it runs embedded without this.
  ::umask(077);
  // Before any thread allocates: freed document buffers stay in malloc for the next letter
  // (at 1 MiB this halves the CPU a letter costs; README, "Memory the allocator keeps").
  utpost::common::KeepFreedMemoryForReuse();
#ifdef NDEBUG
  // Debian's Abseil is built with its mutex deadlock detection on, which builds a lock graph
  // on every absl::Mutex acquisition (about 1 % of the CPU a letter costs). Debug builds, and
  // the tests (which run the modules in-process, without this main), keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  CLI::App cli{"utpost: secure digital-mail and form-delivery gateway"};
  std::string config_file;
  std::string target = "all";
  bool list_targets = false;
  bool rotate_kek = false;
  bool create_kek = false;
  std::optional<std::string> data_dir, key_dir, listen, log_level, metrics_listen, health_listen,
      shard;
  std::vector<std::string> component_addresses;
  bool insecure = false;
  cli.add_option("-c,--config", config_file, "YAML configuration file")->check(CLI::ExistingFile);
  cli.add_option("--target", target,
                 "what to run: all, or components separated by commas (see --list-targets)");
  cli.add_option("--component-address", component_addresses,
                 "name=host:port of a component that runs in another process (repeatable; "
                 "adds to components.addresses)");
  cli.add_flag("--list-targets", list_targets, "print the targets and their dependencies");
  cli.add_option("--data-dir", data_dir, "data directory (default: data)");
  cli.add_option("--key-dir", key_dir,
                 "key-encryption key directory, relative to the data directory unless absolute "
                 "(default: keys); in production a separate volume, e.g. a mounted Secret");
  cli.add_option("--listen", listen, "host:port to serve on (default: 127.0.0.1:7443)");
  cli.add_option("--metrics-listen", metrics_listen,
                 "host:port to serve Prometheus metrics on (/metrics, plain HTTP); empty: off "
                 "(default: metrics.listen of the config, else off)");
  cli.add_option("--shard", shard,
                 "the ledger shard this process is: a name from the config's shards (default: "
                 "shard of the config)");
  cli.add_option("--health-listen", health_listen,
                 "host:port of a plaintext gRPC server with only grpc.health.v1.Health, for "
                 "probes without a client certificate (default: health.listen, else off)");
  cli.add_flag("--insecure", insecure,
               "plaintext without client certificates; loopback addresses only");
  cli.add_option("--log-level", log_level, "trace, debug, info, warn or error");
  cli.add_flag("--rotate-kek", rotate_kek,
               "add a new key-encryption key (new letters use it; old ones still decrypt), "
               "then exit");
  cli.add_flag("--create-kek", create_kek,
               "create the first key-encryption key in the key directory, then exit; refuses "
               "if the directory already holds a key");
  CLI11_PARSE(cli, argc, argv);

  if (list_targets) {
    std::cout << utpost::app::DescribeTargets();
    return 0;
  }

  utpost::app::Config config;
  if (!config_file.empty()) {
    if (absl::Status s = utpost::app::ApplyYamlFile(config_file, config); !s.ok()) {
      std::fprintf(stderr, "utpost: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  if (data_dir) config.data_dir = *data_dir;
  if (key_dir) config.key_dir = *key_dir;
  if (listen) config.listen = *listen;
  if (metrics_listen) config.metrics.listen = *metrics_listen;
  if (health_listen) config.health.listen = *health_listen;
  if (shard) config.shard = *shard;
  if (insecure) config.insecure = true;
  if (log_level) config.log_level = *log_level;
  for (const std::string& spec : component_addresses) {
    if (absl::Status s = utpost::app::AddComponentAddress(spec, config); !s.ok()) {
      std::fprintf(stderr, "utpost: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  if (absl::Status s = utpost::app::Finalize(config); !s.ok()) {
    std::fprintf(stderr, "utpost: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  utpost::service::SetUpLogging(config.log_level);
  utpost::service::RouteProtobufLogs();

  if (create_kek && rotate_kek) {
    std::fprintf(stderr, "utpost: --create-kek and --rotate-kek exclude each other\n");
    return 2;
  }
  if (create_kek) {
    absl::StatusOr<std::string> id =
        utpost::crypto::FileKeyStore::CreateFirstKey(config.ledger.key_dir);
    if (!id.ok()) return Fail(id.status());
    std::printf("new key-encryption key %s in %s; back it up apart from the data\n", id->c_str(),
                config.ledger.key_dir.c_str());
    return 0;
  }
  if (rotate_kek) {
    absl::StatusOr<std::string> id = utpost::crypto::FileKeyStore::Rotate(config.ledger.key_dir);
    if (!id.ok()) return Fail(id.status());
    std::printf("new key-encryption key %s; restart utpost to use it\n", id->c_str());
    return 0;
  }

  // SIGTERM and SIGINT are taken by sigwait below; block them before any thread starts so
  // that no other thread is interrupted by them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The metrics of every module of this process (exposed by the server; see README).
  auto metrics = std::make_shared<prometheus::Registry>();
  utpost::app::App app(config, metrics);
  if (absl::Status s = app.Init(target); !s.ok()) return Fail(s);
  if (absl::Status s = app.Start(); !s.ok()) return Fail(s);
  PrintReady(app);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  utpost::service::Log(spdlog::level::info, "draining", {{"signal", strsignal(signal_number)}});
  app.Stop(app.config.drain_timeout);
  return 0;
}
