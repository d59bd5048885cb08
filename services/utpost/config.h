// utpost's configuration: a YAML file, then command-line flags on top. An unknown key fails
// start-up naming the key, so a typo never silently falls back to a default.
//
//   data_dir: data              # everything below is relative to it unless absolute
//   key_dir: keys               # key-encryption keys; in production outside data_dir, e.g.
//                               # a mounted Secret (/run/secrets/utpost-keys)
//   listen: 127.0.0.1:7443      # host:port; port 0 picks a free port
//   insecure: false             # plaintext, loopback only; identity from a header
//   dev_pki: true               # make a dev CA, certificates, and a KEK for a new database
//   log_level: info             # trace, debug, info, warn, error
//   tls:
//     ca: pki/ca.pem            # CA that client certificates must chain to
//     cert: pki/server.pem
//     key: pki/server.key
//     component_ca: pki/ca.pem         # components' certificates must chain to it too
//     accept_serial_number_org: false   # see crypto::OrgKeyFromCertificatePem
//   metrics:                    # Prometheus endpoint of this process (README, "Metrics")
//     listen: ""                # host:port serving GET /metrics over plain HTTP; empty: off.
//                               # Port 0 picks a free port (App::metrics_port). Every
//                               # process of a deployment serves its own.
//   health:                     # probes that cannot speak mutual TLS (a kubelet's)
//     listen: ""                # host:port of a plaintext gRPC server with only
//                               # grpc.health.v1.Health; empty: off
//   drain_timeout: 10s          # on SIGTERM: how long calls in flight may take to finish
//   shards:                     # ledger shards by organisation; empty: one ledger
//     - name: ledger-0          # the ledger process that is this shard has --shard=ledger-0
//       address: ledger-0.ledger.utpost.svc:7443
//       organisations: [NO958935420]
//     - name: ledger-1
//       address: ledger-1.ledger.utpost.svc:7443
//       default: true           # every organisation no shard names
//   shard: ""                   # this process's shard (--shard)
//   backup:                     # AdminService.CreateCheckpoint (utpostctl admin checkpoint)
//     dir: ""                   # where checkpoints go; empty: none (dev_pki: backups)
//     operators: []             # org numbers that may take them (dev_pki: the examples)
//   components:                 # how components in different processes reach each other
//     certs_dir: pki/components # <certs_dir>/<name>/client.pem, client.key, ca.pem
//     addresses:                # components that do not run in this process
//       ledger: ledger.utpost.svc:7443
//       registry: registry.utpost.svc:7443
//   ledger:
//     max_letter_bytes: 52428800
//     min_print_if_unread_after: 1h  # the shortest print-if-unread a letter may ask for
//     worker_threads: 32
//     max_queued_requests: 256
//     task_worker_threads: 32        # the internal TaskService has a pool of its own
//     max_queued_task_requests: 512
//     max_document_reads: 16         # ReadDocuments streams at once
//     max_inflight_bytes: 536870912
//     list_max_scan: 2000
//     max_inflight_per_organisation: 128
//     max_watch_streams_per_organisation: 16
//     retention:                     # documents destroyed this long after the final outcome
//       period: 365d                 # 0: kept forever
//       organisations: {NO958935420: 30d}   # periods of particular organisations
//       poll_interval: 30s
//       batch_size: 100
//   forms:                      # citizen form submissions (services/ledger/forms_config.h)
//     lease_time: 5m            # a fetched, unacknowledged submission is offered again after it
//     max_per_fetch: 16         # submissions leased and streamed per FetchSubmissions
//     max_fetch_streams: 16     # FetchSubmissions streams open at once
//     max_submission_bytes: 52428800   # attachments of one submission together
//     max_fields: 200           # fields of a form type
//     max_attachments: 20       # attachments of a submission
//     max_portals: 100          # allowed portals of a form type
//     list_max_scan: 2000       # submissions scanned per ListSubmissions page or fetch
//   stats:                      # StatsService (services/ledger/stats_config.h)
//     prices:                   # per letter, in the currency's units, for `stats benefits`
//       currency: NOK
//       print: "11.00"          # printing, enveloping, handling
//       postage: "30.00"
//       digital: "0.90"         # the mailbox provider's price per delivery
//       source: "..."           # where the prices come from, shown in reports
//   registry:
//     data_dir: registry        # its own RocksDB, relative to data_dir unless absolute
//     administrators: [NO958935420]   # organisations that may call RegistryService (org
//                               # numbers, 9 digits or NO + 9; CVR, 8 digits or DK + 8); when
//                               # empty and dev_pki is on, the example municipalities
//     worker_threads: 8
//     max_queued_requests: 256
//     max_inflight_per_organisation: 64
//     max_inflight_bytes: 268435456
//   router:                     # services/router/router_config.h; durations as 30s, 100ms, 5m
//     workers: 2
//     batch_size: 256
//     lease_for: 30s
//     poll_interval: 100ms
//     backoff_min: 1s
//     backoff_max: 5m
//     rpc_timeout: 5s
//     max_in_flight: 256
//     name: router
//   courier:                    # services/courier/courier_config.h
//     workers: 2
//     batch_size: 32
//     lease_for: 2m
//     poll_interval: 100ms
//     backoff_min: 1s
//     backoff_max: 10m
//     retry_deadline: 24h
//     provider_timeout: 30s
//     rpc_timeout: 10s
//     max_in_flight: 32
//     max_in_flight_per_provider: 16
//     breaker_failures: 5
//     provider_ca: ""           # roots for providers' TLS; empty: the system's
//     receipt_poll_interval: 1s
//     receipt_providers: [dev, dev-substantial]
//     name: courier
//   mailbox_sim:                # services/mailbox_sim/mailbox_sim_config.h (dev and tests)
//     data_dir: mailbox-sim     # its own RocksDB, relative to data_dir unless absolute
//     providers_dir: pki/providers   # serves every <id> with a <providers_dir>/<id>/key.pem
//     max_document_bytes: 67108864
//     max_batch_bytes: 268435456
//     max_streams: 16
//     worker_threads: 8
//     max_queued_requests: 256
//     fail_share: 0             # behaviour at start; utpostctl mailbox-sim changes it
//     reject_share: 0
//     reject: mailbox_closed    # or invalid
//     delay: 0s
//     down: false
//     read_share: 1
//     read_delay: 30s
//     print_delay: 10s
//   print:                      # services/print/print_config.h
//     data_dir: print
//     provider_id: dev-print
//     provider_endpoint: mailbox-sim      # a component name, or host:port (mutual TLS)
//     provider_certificate: pki/providers/dev-print/cert.pem
//     provider_ca: ""                     # host:port providers; empty: the components' CA
//     home_country: "NO"
//     batch_max_letters: 500
//     batch_max_bytes: 67108864
//     batch_window: 10m
//     lease_batch: 8
//     lease_for: 2m
//     poll_interval: 1s
//     status_poll_interval: 10s
//     rpc_timeout: 5s
//     stream_timeout: 2m
//     backoff_min: 1s
//     backoff_max: 5m
//     max_pages: 300
//     page_tolerance_mm: 3
//     name: print
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "common/shards.h"
#include "services/courier/courier_config.h"
#include "services/ledger/forms_config.h"
#include "services/ledger/ledger_config.h"
#include "services/ledger/stats_config.h"
#include "services/mailbox_sim/mailbox_sim_config.h"
#include "services/print/print_config.h"
#include "services/registry/registry_config.h"
#include "services/router/router_config.h"

namespace utpost::app {

struct TlsConfig {
  std::filesystem::path ca = "pki/ca.pem";
  std::filesystem::path cert = "pki/server.pem";
  std::filesystem::path key = "pki/server.key";
  // CA that component certificates (urn:utpost:component:<name>) must chain to, besides
  // being accepted by TLS under `ca`. In production the operator's internal CA, never one of
  // the CAs that issue organisations' certificates; the dev PKI uses its one CA for both.
  std::filesystem::path component_ca = "pki/ca.pem";
  // Also accept a 9-digit subject serialNumber as the organisation number of a client
  // certificate without organizationIdentifier (older Norwegian enterprise certificates).
  bool accept_serial_number_org = false;
};

struct ComponentsConfig {
  // Client certificates of the components, one directory per component name:
  // <certs_dir>/<name>/client.pem, client.key and ca.pem (the CA of the servers it calls).
  // The dev PKI writes them there.
  std::filesystem::path certs_dir = "pki/components";
  // Where each component that does not run in this process serves: name -> host:port.
  std::map<std::string, std::string> addresses;
};

struct MetricsConfig {
  // host:port of the /metrics endpoint (plain HTTP: it shows counts, never a letter or a
  // person). Empty: no endpoint. config/utpost.dev.yaml sets 127.0.0.1:9464.
  std::string listen;
};

struct HealthConfig {
  // host:port of a plaintext gRPC server that serves only grpc.health.v1.Health (SERVING once
  // every module has started, NOT_SERVING from the start of a drain), for probes that cannot
  // present a client certificate, such as the kubelet's. Empty: none; the mTLS port serves
  // health checks either way.
  std::string listen;
};

struct BackupConfig {
  // Where AdminService.CreateCheckpoint writes checkpoints (relative to data_dir unless
  // absolute); empty: no checkpoints. With dev_pki: "backups".
  std::filesystem::path dir;
  // Organisations (org keys) that may take checkpoints. With dev_pki and none given: the
  // example municipalities.
  std::vector<std::string> operators;
};

struct Config {
  std::filesystem::path data_dir = "data";
  // Directory of the key-encryption keys (InData resolves it). The default keeps `make run`
  // one command; production keeps keys apart from the data they protect.
  std::filesystem::path key_dir = "keys";
  std::string listen = "127.0.0.1:7443";
  bool insecure = false;
  bool dev_pki = true;
  std::string log_level = "info";
  TlsConfig tls;
  MetricsConfig metrics;
  HealthConfig health;
  BackupConfig backup;
  // Ledger shards by organisation (common/shards.h); empty: one ledger serves everyone.
  std::vector<common::Shard> shards;
  // Which shard the ledger of this process is (--shard); required with `shards` in a process
  // that runs the ledger.
  std::string shard;
  // On SIGTERM or SIGINT, how long calls in flight may take to finish before they are
  // cancelled (0..10m). A pod's terminationGracePeriodSeconds should be a little longer.
  absl::Duration drain_timeout = absl::Seconds(10);
  ComponentsConfig components;
  ledger::LedgerConfig ledger;
  ledger::FormsConfig forms;
  ledger::StatsConfig stats;
  registry::RegistryConfig registry;
  router::RouterConfig router;
  courier::CourierConfig courier;
  mailbox_sim::MailboxSimConfig mailbox_sim;
  print::PrintConfig print;

  // `path` resolved against data_dir.
  std::filesystem::path InData(const std::filesystem::path& path) const {
    return path.is_absolute() ? path : data_dir / path;
  }
};

// Adds "name=host:port" to config.components.addresses. INVALID_ARGUMENT naming the flag
// for anything else.
[[nodiscard]] absl::Status AddComponentAddress(std::string_view spec, Config& config);

// Parses YAML text onto `config` (keys absent from the text keep their values).
// INVALID_ARGUMENT naming the key for unknown keys and ill-typed or out-of-range values.
[[nodiscard]] absl::Status ApplyYaml(std::string_view yaml, Config& config);

// Reads and applies a YAML file. NOT_FOUND if it does not exist.
[[nodiscard]] absl::Status ApplyYamlFile(const std::filesystem::path& path, Config& config);

// Fills the derived paths (ledger and registry data and key directories, the registry's
// dev seed and administrators when dev_pki) and checks the whole config:
// INVALID_ARGUMENT naming the setting, e.g. insecure with a non-loopback listen address.
[[nodiscard]] absl::Status Finalize(Config& config);

// True if the host of `listen` (host:port, [v6]:port) is the name "localhost" or an IP
// literal in 127.0.0.0/8 or ::1. Other names are not resolved: "127.example.net" is not
// loopback.
bool IsLoopbackListen(std::string_view listen);

}  // namespace utpost::app
