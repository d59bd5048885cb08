#include "services/utpost/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "services/utpost/modules.h"

namespace utpost::app {
namespace {

using ::testing::HasSubstr;

TEST(ConfigTest, TheExampleFileParsesAndMatchesTheDefaults) {
  Config config;
  ASSERT_TRUE(ApplyYamlFile(UTPOST_SOURCE_DIR "/config/utpost.example.yaml", config).ok());
  Config defaults;
  EXPECT_EQ(config.listen, defaults.listen);
  EXPECT_EQ(config.ledger.limits.max_total_bytes, defaults.ledger.limits.max_total_bytes);
  EXPECT_EQ(config.ledger.worker_threads, defaults.ledger.worker_threads);
  EXPECT_EQ(config.ledger.max_inflight_bytes, defaults.ledger.max_inflight_bytes);
  EXPECT_EQ(config.tls.ca, defaults.tls.ca);
  EXPECT_EQ(config.ledger.max_inflight_per_organisation,
            defaults.ledger.max_inflight_per_organisation);
  EXPECT_EQ(config.ledger.max_watch_streams_per_organisation,
            defaults.ledger.max_watch_streams_per_organisation);
  EXPECT_EQ(config.router.workers, defaults.router.workers);
  EXPECT_EQ(config.router.batch_size, defaults.router.batch_size);
  EXPECT_EQ(config.router.lease_for, defaults.router.lease_for);
  EXPECT_EQ(config.router.poll_interval, defaults.router.poll_interval);
  EXPECT_EQ(config.router.backoff_min, defaults.router.backoff_min);
  EXPECT_EQ(config.router.backoff_max, defaults.router.backoff_max);
  EXPECT_EQ(config.router.rpc_timeout, defaults.router.rpc_timeout);
  EXPECT_EQ(config.router.max_in_flight, defaults.router.max_in_flight);
  EXPECT_EQ(config.router.name, defaults.router.name);
  EXPECT_EQ(config.print.provider_id, defaults.print.provider_id);
  EXPECT_EQ(config.print.provider_endpoint, defaults.print.provider_endpoint);
  EXPECT_EQ(config.print.provider_certificate, defaults.print.provider_certificate);
  EXPECT_EQ(config.print.batch_max_letters, defaults.print.batch_max_letters);
  EXPECT_EQ(config.print.batch_max_bytes, defaults.print.batch_max_bytes);
  EXPECT_EQ(config.print.batch_window, defaults.print.batch_window);
  EXPECT_EQ(config.print.lease_for, defaults.print.lease_for);
  EXPECT_EQ(config.print.status_poll_interval, defaults.print.status_poll_interval);
  EXPECT_EQ(config.print.stream_timeout, defaults.print.stream_timeout);
  EXPECT_EQ(config.print.page_tolerance_mm, defaults.print.page_tolerance_mm);
}

TEST(ConfigTest, MailboxSimSectionMatchesTheDefaultsAndTakesBehaviour) {
  Config example;
  ASSERT_TRUE(ApplyYamlFile(UTPOST_SOURCE_DIR "/config/utpost.example.yaml", example).ok());
  const Config defaults;
  EXPECT_EQ(example.mailbox_sim.max_document_bytes, defaults.mailbox_sim.max_document_bytes);
  EXPECT_EQ(example.mailbox_sim.max_streams, defaults.mailbox_sim.max_streams);
  EXPECT_EQ(example.mailbox_sim.behaviour.read_share, defaults.mailbox_sim.behaviour.read_share);
  EXPECT_EQ(example.mailbox_sim.behaviour.read_delay, defaults.mailbox_sim.behaviour.read_delay);
  EXPECT_EQ(example.mailbox_sim.behaviour.print_delay, defaults.mailbox_sim.behaviour.print_delay);

  Config config;
  ASSERT_TRUE(ApplyYaml("mailbox_sim:\n  fail_share: 0.25\n  reject: invalid\n  delay: 2s\n"
                        "  down: true\n  read_delay: 1m\n",
                        config)
                  .ok());
  EXPECT_EQ(config.mailbox_sim.behaviour.fail_share, 0.25);
  EXPECT_EQ(config.mailbox_sim.behaviour.reject, mailbox_sim::RejectKind::kInvalid);
  EXPECT_EQ(config.mailbox_sim.behaviour.delay, absl::Seconds(2));
  EXPECT_TRUE(config.mailbox_sim.behaviour.down);
  EXPECT_EQ(config.mailbox_sim.behaviour.read_delay, absl::Minutes(1));
  ASSERT_TRUE(Finalize(config).ok());
  EXPECT_EQ(config.mailbox_sim.data_dir, config.data_dir / "mailbox-sim");
  EXPECT_EQ(config.mailbox_sim.providers_dir, config.data_dir / "pki/providers");

  absl::Status s = ApplyYaml("mailbox_sim:\n  reject: sometimes\n", config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'mailbox_sim.reject'"));
  ASSERT_TRUE(ApplyYaml("mailbox_sim:\n  fail_share: 1.5\n", config).ok());
  s = Finalize(config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'mailbox_sim.fail_share': must be 0..1"));
}

TEST(ConfigTest, RouterSectionTakesDurations) {
  Config config;
  ASSERT_TRUE(ApplyYaml("router:\n  workers: 4\n  batch_size: 1000\n  lease_for: 2m\n"
                        "  poll_interval: 50ms\n  backoff_min: 500ms\n  backoff_max: 1h30m\n"
                        "  rpc_timeout: 3s\n  max_in_flight: 64\n  name: router-a\n",
                        config)
                  .ok());
  EXPECT_EQ(config.router.workers, 4);
  EXPECT_EQ(config.router.batch_size, 1000);
  EXPECT_EQ(config.router.lease_for, absl::Minutes(2));
  EXPECT_EQ(config.router.poll_interval, absl::Milliseconds(50));
  EXPECT_EQ(config.router.backoff_min, absl::Milliseconds(500));
  EXPECT_EQ(config.router.backoff_max, absl::Minutes(90));
  EXPECT_EQ(config.router.rpc_timeout, absl::Seconds(3));
  EXPECT_EQ(config.router.max_in_flight, 64);
  EXPECT_EQ(config.router.name, "router-a");
  EXPECT_TRUE(Finalize(config).ok());
}

TEST(ConfigTest, RouterSectionRefusesWhatItCannotUse) {
  Config config;
  absl::Status s = ApplyYaml("router:\n  poll_interval: 100\n", config);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'router.poll_interval': must be a duration"));
  s = ApplyYaml("router:\n  lease_for: -5s\n", config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("router.lease_for"));
  s = ApplyYaml("router:\n  leasefor: 5s\n", config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'router.leasefor': unknown key"));
  // In range for YAML, out of range for the router: Finalize names the key.
  ASSERT_TRUE(ApplyYaml("router:\n  batch_size: 1001\n", config).ok());
  s = Finalize(config);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'router.batch_size': must be 1..1000"));
}

TEST(ConfigTest, PrintSection) {
  Config config;
  config.data_dir = "/srv/utpost";
  ASSERT_TRUE(ApplyYaml("print:\n  batch_max_letters: 10\n  batch_window: 30s\n"
                        "  provider_endpoint: print.example.no:443\n  provider_id: acme-print\n"
                        "  page_tolerance_mm: 2.5\n",
                        config)
                  .ok());
  ASSERT_TRUE(Finalize(config).ok());
  EXPECT_EQ(config.print.batch_max_letters, 10u);
  EXPECT_EQ(config.print.batch_window, absl::Seconds(30));
  EXPECT_EQ(config.print.provider_endpoint, "print.example.no:443");
  EXPECT_EQ(config.print.page_tolerance_mm, 2.5);
  EXPECT_EQ(config.print.data_dir, "/srv/utpost/print");
  EXPECT_EQ(config.print.provider_certificate, "/srv/utpost/pki/providers/dev-print/cert.pem");

  absl::Status s = ApplyYaml("print:\n  batchmax: 5\n", config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'print.batchmax': unknown key"));
  ASSERT_TRUE(ApplyYaml("print:\n  batch_window: 0s\n", config).ok());
  s = Finalize(config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'print.batch_window': must be 1s..7d"));
}

TEST(ConfigTest, ValuesApply) {
  Config config;
  ASSERT_TRUE(ApplyYaml("listen: 127.0.0.1:9000\nledger:\n  worker_threads: 4\n", config).ok());
  EXPECT_EQ(config.listen, "127.0.0.1:9000");
  EXPECT_EQ(config.ledger.worker_threads, 4);
}

TEST(ConfigTest, RegistryAdministratorsAreOrgKeysAndDevHasDefaults) {
  Config config;
  ASSERT_TRUE(
      ApplyYaml("registry:\n  administrators: [958935420, NO964338531, 29189846]\n", config).ok());
  EXPECT_THAT(config.registry.administrators,
              ::testing::ElementsAre("NO958935420", "NO964338531", "DK29189846"));
  ASSERT_TRUE(Finalize(config).ok());
  EXPECT_EQ(config.registry.administrators.size(), 3u) << "an explicit list stays as it is";
  EXPECT_EQ(config.registry.data_dir, config.data_dir / "registry");

  absl::Status s = ApplyYaml("registry:\n  administrators: [958935421]\n", config);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'registry.administrators[0]'"));

  Config dev;
  ASSERT_TRUE(Finalize(dev).ok());
  EXPECT_THAT(dev.registry.administrators, ::testing::ElementsAre("NO958935420", "NO964338531"));
  EXPECT_TRUE(dev.registry.seed_dev);
  Config production;
  production.dev_pki = false;
  ASSERT_TRUE(Finalize(production).ok());
  EXPECT_THAT(production.registry.administrators, ::testing::IsEmpty());
  EXPECT_FALSE(production.registry.seed_dev);
}

TEST(ConfigTest, AnUnknownKeyIsNamed) {
  Config config;
  absl::Status s = ApplyYaml("ledger:\n  worker_thread: 4\n", config);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'ledger.worker_thread': unknown key"));
  s = ApplyYaml("listn: x\n", config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'listn'"));
}

TEST(ConfigTest, IllTypedAndOutOfRangeValuesAreNamed) {
  Config config;
  absl::Status s = ApplyYaml("ledger:\n  worker_threads: many\n", config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("ledger.worker_threads"));
  s = ApplyYaml("ledger:\n  max_letter_bytes: -1\n", config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("must be a positive number"));
  s = ApplyYaml("tls: [a, b]\n", config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'tls': must be a mapping"));
  EXPECT_EQ(ApplyYaml("a: [\n", config).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConfigTest, IntegersTooLargeForTheirSettingAreRefusedNotTruncated) {
  Config config;
  const int before = config.ledger.max_queued_requests;
  absl::Status s = ApplyYaml("ledger:\n  max_queued_requests: 2147483648\n", config);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("ledger.max_queued_requests"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("at most 2147483647"));
  EXPECT_EQ(config.ledger.max_queued_requests, before);
  ASSERT_TRUE(ApplyYaml("ledger:\n  max_queued_requests: 2147483647\n", config).ok());
  EXPECT_EQ(config.ledger.max_queued_requests, 2147483647);
  // 64-bit settings take 64-bit values, and nothing beyond.
  ASSERT_TRUE(ApplyYaml("ledger:\n  max_inflight_bytes: 8589934592\n", config).ok());
  EXPECT_EQ(config.ledger.max_inflight_bytes, 8589934592u);
  s = ApplyYaml("ledger:\n  max_inflight_bytes: 99999999999999999999999\n", config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("ledger.max_inflight_bytes"));
  for (const char* value : {"-1", "0", "1.5", "12abc", "-9223372036854775809"}) {
    s = ApplyYaml(absl::StrCat("ledger:\n  worker_threads: ", value, "\n"), config);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_THAT(std::string(s.message()), HasSubstr("ledger.worker_threads")) << value;
  }
}

TEST(ConfigTest, LoopbackMeansLoopbackAddressesNotNamesThatLookLikeThem) {
  for (const char* listen :
       {"127.0.0.1:7443", "127.1.2.3:1", "localhost:1", "[::1]:1", "[0:0:0:0:0:0:0:1]:1"}) {
    EXPECT_TRUE(IsLoopbackListen(listen)) << listen;
  }
  for (const char* listen :
       {"127.example.net:7443", "127.0.0.1.example.net:1", "0.0.0.0:1", "[::]:1", "10.0.0.1:1",
        "128.0.0.1:1", "localhost.example.net:1", "[::ffff:127.0.0.1]:1", "127.1:1", ":7443"}) {
    EXPECT_FALSE(IsLoopbackListen(listen)) << listen;
  }
  Config config;
  config.insecure = true;
  config.listen = "127.example.net:7443";
  EXPECT_THAT(std::string(Finalize(config).message()), HasSubstr("insecure"));
}

TEST(ConfigTest, TheKeyDirectoryIsASettingOfItsOwn) {
  Config config;
  ASSERT_TRUE(ApplyYaml("data_dir: /srv/utpost\nkey_dir: /run/secrets/utpost-keys\n", config).ok());
  ASSERT_TRUE(Finalize(config).ok());
  EXPECT_EQ(config.ledger.key_dir, "/run/secrets/utpost-keys");
  EXPECT_EQ(config.ledger.data_dir, "/srv/utpost/ledger");
}

TEST(ConfigTest, PlaintextOnlyOnLoopback) {
  Config config;
  config.insecure = true;
  config.listen = "0.0.0.0:7443";
  absl::Status s = Finalize(config);
  EXPECT_THAT(std::string(s.message()), HasSubstr("insecure"));
  for (const char* listen : {"127.0.0.1:1", "localhost:1", "[::1]:1"}) {
    config.listen = listen;
    EXPECT_TRUE(Finalize(config).ok()) << listen;
  }
  config.log_level = "loud";
  EXPECT_THAT(std::string(Finalize(config).message()), HasSubstr("log_level"));
}

TEST(ConfigTest, DerivedPathsLiveUnderTheDataDir) {
  Config config;
  config.data_dir = "/srv/utpost";
  ASSERT_TRUE(Finalize(config).ok());
  EXPECT_EQ(config.ledger.data_dir, "/srv/utpost/ledger");
  EXPECT_EQ(config.ledger.key_dir, "/srv/utpost/keys");
  EXPECT_EQ(config.InData("pki/ca.pem"), "/srv/utpost/pki/ca.pem");
  EXPECT_EQ(config.InData("/etc/ca.pem"), "/etc/ca.pem");
}

TEST(ModulesTest, AllIsEveryComponentInTableOrder) {
  auto modules = ResolveTargets("all");
  ASSERT_TRUE(modules.ok()) << modules.status();
  std::vector<std::string> names, table;
  for (const auto* m : *modules) names.push_back(m->name);
  for (const auto& m : Modules()) table.push_back(m.name);
  EXPECT_EQ(names, table);
  EXPECT_THAT(names, ::testing::Contains("ledger"));
}

TEST(ModulesTest, AListRunsEachOnceInTableOrder) {
  auto modules = ResolveTargets("ledger, ledger");
  ASSERT_TRUE(modules.ok()) << modules.status();
  ASSERT_EQ(modules->size(), 1u);
  EXPECT_EQ((*modules)[0]->name, "ledger");
}

TEST(ModulesTest, UnknownAndEmptyTargetsAreRefusedWithTheList) {
  auto unknown = ResolveTargets("ledger,routr");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("unknown target 'routr'"));
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("targets: all, ledger"));
  EXPECT_FALSE(ResolveTargets("").ok());
  EXPECT_FALSE(ResolveTargets("ledger,").ok());
  EXPECT_FALSE(ResolveTargets("server").ok());
  EXPECT_THAT(DescribeTargets(), HasSubstr("ledger"));
  EXPECT_THAT(DescribeTargets(), HasSubstr("router"));
}

TEST(ConfigTest, ShardsAndTheShardOfThisProcess) {
  Config config;
  ASSERT_TRUE(ApplyYaml("shards:\n"
                        "  - name: ledger-0\n    address: ledger-0.ledger:7443\n"
                        "    organisations: [958935420, DK29189854]\n"
                        "  - name: ledger-1\n    address: ledger-1.ledger:7443\n"
                        "    default: true\n"
                        "shard: ledger-1\n",
                        config)
                  .ok());
  ASSERT_EQ(config.shards.size(), 2u);
  EXPECT_EQ(config.shards[0].name, "ledger-0");
  EXPECT_EQ(config.shards[0].organisations,
            (std::vector<std::string>{"NO958935420", "DK29189854"}));
  EXPECT_FALSE(config.shards[0].is_default);
  EXPECT_TRUE(config.shards[1].is_default);
  EXPECT_EQ(config.shard, "ledger-1");
  EXPECT_TRUE(Finalize(config).ok());

  Config unknown_shard;
  ASSERT_TRUE(ApplyYaml("shard: ledger-9\n", unknown_shard).ok());
  EXPECT_THAT(Finalize(unknown_shard).message(), HasSubstr("shard"));
  Config two_defaults;
  ASSERT_TRUE(ApplyYaml("shards:\n  - {name: a, address: a:1, default: true}\n"
                        "  - {name: b, address: b:1, default: true}\n",
                        two_defaults)
                  .ok());
  EXPECT_THAT(Finalize(two_defaults).message(), HasSubstr("exactly one shard"));
  Config misspelt;
  EXPECT_THAT(
      ApplyYaml("shards:\n  - {name: a, address: a:1, defualt: true}\n", misspelt).message(),
      HasSubstr("shards[0].defualt"));
}

TEST(ConfigTest, ComponentAddressesFromYamlAndFlags) {
  Config config;
  ASSERT_TRUE(ApplyYaml("components:\n  certs_dir: certs\n  addresses:\n    ledger: "
                        "10.0.0.1:7443\n",
                        config)
                  .ok());
  EXPECT_EQ(config.components.certs_dir, "certs");
  EXPECT_EQ(config.components.addresses.at("ledger"), "10.0.0.1:7443");
  ASSERT_TRUE(AddComponentAddress("registry=127.0.0.1:9000", config).ok());
  EXPECT_EQ(config.components.addresses.at("registry"), "127.0.0.1:9000");
  EXPECT_EQ(AddComponentAddress("registry", config).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddComponentAddress("=1.2.3.4:5", config).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyYaml("components:\n  addresses:\n    ledger: nohost\n", config).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyYaml("components:\n  adresses: {}\n", config).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ConfigTest, TheDevFileLowersTheShortestPrintIfUnreadForTheDemo) {
  Config config;
  ASSERT_TRUE(ApplyYamlFile(UTPOST_SOURCE_DIR "/config/utpost.dev.yaml", config).ok());
  EXPECT_EQ(config.ledger.limits.min_print_if_unread_after, absl::Seconds(10));
  EXPECT_EQ(Config().ledger.limits.min_print_if_unread_after, absl::Hours(1));
  Config example;
  ASSERT_TRUE(ApplyYamlFile(UTPOST_SOURCE_DIR "/config/utpost.example.yaml", example).ok());
  EXPECT_EQ(example.ledger.limits.min_print_if_unread_after, absl::Hours(1));
  EXPECT_EQ(example.ledger.max_document_reads, Config().ledger.max_document_reads);
}

TEST(ConfigTest, MetricsEndpointIsOffByDefaultOnInTheDevFileAndChecked) {
  const Config defaults;
  EXPECT_EQ(defaults.metrics.listen, "");
  Config example;
  ASSERT_TRUE(ApplyYamlFile(UTPOST_SOURCE_DIR "/config/utpost.example.yaml", example).ok());
  EXPECT_EQ(example.metrics.listen, defaults.metrics.listen);
  Config dev;
  ASSERT_TRUE(ApplyYamlFile(UTPOST_SOURCE_DIR "/config/utpost.dev.yaml", dev).ok());
  EXPECT_EQ(dev.metrics.listen, "127.0.0.1:9464");

  Config config;
  ASSERT_TRUE(ApplyYaml("metrics:\n  listen: 127.0.0.1:0\n", config).ok());
  EXPECT_EQ(config.metrics.listen, "127.0.0.1:0");
  absl::Status s = ApplyYaml("metrics:\n  port: 9464\n", config);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("metrics.port"));
  ASSERT_TRUE(ApplyYaml("metrics:\n  listen: nohost\n", config).ok());
  s = Finalize(config);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("metrics.listen"));
}

TEST(ConfigTest, HealthPortAndDrainTimeout) {
  const Config defaults;
  EXPECT_EQ(defaults.health.listen, "");
  EXPECT_EQ(defaults.drain_timeout, absl::Seconds(10));
  Config example;
  ASSERT_TRUE(ApplyYamlFile(UTPOST_SOURCE_DIR "/config/utpost.example.yaml", example).ok());
  EXPECT_EQ(example.health.listen, defaults.health.listen);
  EXPECT_EQ(example.drain_timeout, defaults.drain_timeout);

  Config config;
  ASSERT_TRUE(ApplyYaml("health:\n  listen: 0.0.0.0:8081\ndrain_timeout: 25s\n", config).ok());
  EXPECT_EQ(config.health.listen, "0.0.0.0:8081");
  EXPECT_EQ(config.drain_timeout, absl::Seconds(25));
  EXPECT_TRUE(Finalize(config).ok());
  Config negative;
  EXPECT_THAT(ApplyYaml("drain_timeout: -1s\n", negative).message(), HasSubstr("drain_timeout"));
  for (const char* bad : {"health:\n  listen: nohost\n", "drain_timeout: 11m\n"}) {
    Config c;
    ASSERT_TRUE(ApplyYaml(bad, c).ok()) << bad;
    absl::Status s = Finalize(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(),
                ::testing::AnyOf(HasSubstr("health.listen"), HasSubstr("drain_timeout")));
  }
}

TEST(ConfigTest, RetentionTakesDaysDurationsAndPerOrganisationPeriods) {
  Config config;
  ASSERT_TRUE(ApplyYaml("ledger:\n  retention:\n    period: 30d\n    poll_interval: 5s\n"
                        "    organisations:\n      958935420: 0\n      NO964338531: 720h\n",
                        config)
                  .ok());
  const ledger::RetentionConfig& r = config.ledger.retention;
  EXPECT_EQ(r.period, absl::Hours(24 * 30));
  EXPECT_EQ(r.poll_interval, absl::Seconds(5));
  EXPECT_EQ(r.PeriodFor("NO958935420"), absl::ZeroDuration());
  EXPECT_EQ(r.PeriodFor("NO964338531"), absl::Hours(720));
  EXPECT_EQ(r.PeriodFor("NO974760673"), absl::Hours(24 * 30));
  EXPECT_EQ(Config().ledger.retention.period, absl::Hours(24 * 365));
  Config bad;
  absl::Status s = ApplyYaml("ledger:\n  retention:\n    period: a year\n", bad);
  EXPECT_THAT(s.message(), HasSubstr("ledger.retention.period"));
  s = ApplyYaml("ledger:\n  retention:\n    organisations:\n      123: 1d\n", bad);
  EXPECT_THAT(s.message(), HasSubstr("ledger.retention.organisations.123"));
}

}  // namespace
}  // namespace utpost::app
