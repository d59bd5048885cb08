#include "services/utpost/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <type_traits>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/ids.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "services/utpost/app.h"

namespace utpost::app {
namespace {

using Setter = std::function<absl::Status(const YAML::Node&, const std::string& path)>;

// An organisation as config names it: 9 digits (a Norwegian org number), 8 (a Danish CVR),
// or either with its NO / DK prefix. Returns the org key ("NO958935420").
absl::StatusOr<std::string> OrgKeyOf(std::string_view text) {
  std::string_view digits = text;
  if (text.starts_with("NO") || text.starts_with("DK")) digits = text.substr(2);
  absl::StatusOr<common::ParsedId> id = common::ParseIdentifier(digits);
  if (!id.ok()) return id.status();
  if ((text.starts_with("NO") && id->kind != common::IdKind::kNorwegianOrgNumber) ||
      (text.starts_with("DK") && id->kind != common::IdKind::kDanishCvr)) {
    return absl::InvalidArgumentError("does not match its country prefix");
  }
  return common::MakeOrgKey(id->kind, id->digits);
}

absl::Status Invalid(const std::string& path, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("config key '", path, "': ", common::Av(why)));
}

template <typename T>
absl::Status Read(const YAML::Node& node, const std::string& path, T& out) {
  if (!node.IsScalar()) return Invalid(path, "must be a single value");
  try {
    out = node.as<T>();
  } catch (const YAML::Exception& e) {
    return Invalid(path, absl::StrCat("cannot be read as the expected type (", e.what(), ")"));
  }
  return absl::OkStatus();
}

template <typename T>
Setter Field(T& out) {
  return [&out](const YAML::Node& node, const std::string& path) { return Read(node, path, out); };
}

Setter PathField(std::filesystem::path& out) {
  return [&out](const YAML::Node& node, const std::string& path) {
    std::string s;
    UTPOST_RETURN_IF_ERROR(Read(node, path, s));
    out = s;
    return absl::OkStatus();
  };
}

// A positive integer that fits T: larger values are refused, never truncated.
template <typename T>
Setter PositiveField(T& out) {
  static_assert(std::is_integral_v<T>);
  return [&out](const YAML::Node& node, const std::string& path) {
    std::string text;
    UTPOST_RETURN_IF_ERROR(Read(node, path, text));
    if (!text.empty() && text[0] == '-') return Invalid(path, "must be a positive number");
    uint64_t value = 0;
    if (!absl::SimpleAtoi(text, &value)) {
      return Invalid(path, absl::StrCat("must be a positive whole number, not \"", text, "\""));
    }
    if (value == 0) return Invalid(path, "must be a positive number");
    if (value > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
      return Invalid(
          path, absl::StrCat("must be at most ", std::numeric_limits<T>::max(), ", not ", text));
    }
    out = static_cast<T>(value);
    return absl::OkStatus();
  };
}

// A duration written as absl::ParseDuration reads it: "30s", "100ms", "5m", "1h30m".
Setter DurationField(absl::Duration& out) {
  return [&out](const YAML::Node& node, const std::string& path) {
    std::string text;
    UTPOST_RETURN_IF_ERROR(Read(node, path, text));
    absl::Duration value;
    if (!absl::ParseDuration(text, &value) || value < absl::ZeroDuration() ||
        value == absl::InfiniteDuration()) {
      return Invalid(
          path, absl::StrCat("must be a duration such as 30s, 100ms or 5m, not \"", text, "\""));
    }
    out = value;
    return absl::OkStatus();
  };
}

// An amount of money written as a decimal with at most two decimals ("11", "11.5",
// "11.00"), read exactly into minor units (øre, cents).
Setter MoneyField(int64_t& minor) {
  return [&minor](const YAML::Node& node, const std::string& path) {
    std::string text;
    UTPOST_RETURN_IF_ERROR(Read(node, path, text));
    const std::string_view t = text;
    const size_t dot = t.find('.');
    const std::string_view whole = t.substr(0, dot);
    const std::string_view fraction = dot == std::string_view::npos ? "" : t.substr(dot + 1);
    auto digits = [](std::string_view s) {
      return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    int64_t units = 0;
    if (whole.empty() || whole.size() > 9 || !digits(whole) || fraction.size() > 2 ||
        !digits(fraction) || (dot != std::string_view::npos && fraction.empty()) ||
        !absl::SimpleAtoi(common::Av(whole), &units)) {
      return Invalid(path, absl::StrCat("must be an amount such as 11.00 (at most two decimals, "
                                        "not negative), not \"",
                                        text, "\""));
    }
    int64_t cents = 0;
    if (!fraction.empty()) {
      (void)absl::SimpleAtoi(common::Av(fraction), &cents);
      if (fraction.size() == 1) cents *= 10;
    }
    minor = units * 100 + cents;
    return absl::OkStatus();
  };
}

// A retention period: "365d" (days), or a duration as DurationField reads it; "0" is forever.
Setter RetentionPeriodField(absl::Duration& out) {
  return [&out](const YAML::Node& node, const std::string& path) {
    std::string text;
    UTPOST_RETURN_IF_ERROR(Read(node, path, text));
    int64_t days = 0;
    absl::Duration value;
    if (text.size() > 1 && text.back() == 'd' &&
        absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) && days >= 0 &&
        days <= 100 * 366) {
      out = absl::Hours(24 * days);
      return absl::OkStatus();
    }
    if (absl::ParseDuration(text, &value) && value >= absl::ZeroDuration() &&
        value <= absl::Hours(24 * 100 * 366)) {
      out = value;
      return absl::OkStatus();
    }
    return Invalid(path, absl::StrCat("must be a period such as 365d, 720h or 0 (forever), not \"",
                                      text, "\""));
  };
}

// Applies a mapping whose keys must all be in `setters`.
absl::Status ApplyMap(const YAML::Node& node, const std::string& prefix,
                      const std::map<std::string, Setter>& setters) {
  if (!node.IsMap()) return Invalid(prefix.empty() ? "(top level)" : prefix, "must be a mapping");
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    const std::string path = prefix.empty() ? key : absl::StrCat(prefix, ".", key);
    auto it = setters.find(key);
    if (it == setters.end()) return Invalid(path, "unknown key");
    UTPOST_RETURN_IF_ERROR(it->second(entry.second, path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status AddComponentAddress(std::string_view spec, Config& config) {
  const size_t equals = spec.find('=');
  const std::string name(spec.substr(0, equals == std::string_view::npos ? 0 : equals));
  const std::string address(equals == std::string_view::npos ? "" : spec.substr(equals + 1));
  if (name.empty() || address.rfind(':') == std::string::npos ||
      address.rfind(':') + 1 == address.size()) {
    return absl::InvalidArgumentError(absl::StrCat("--component-address '", common::Av(spec),
                                                   "': expected name=host:port, e.g. "
                                                   "ledger=127.0.0.1:7443"));
  }
  config.components.addresses[name] = address;
  return absl::OkStatus();
}

bool IsLoopbackListen(std::string_view listen) {
  std::string_view host = listen;
  if (host.starts_with("[")) {
    host = host.substr(1, host.find(']') == std::string_view::npos ? 0 : host.find(']') - 1);
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host == "localhost") return true;
  const std::string literal(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, literal.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, literal.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

absl::Status ApplyYaml(std::string_view yaml, Config& config) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config is not valid YAML: ", e.what()));
  }
  if (root.IsNull()) return absl::OkStatus();
  const std::map<std::string, Setter> tls = {
      {"ca", PathField(config.tls.ca)},
      {"cert", PathField(config.tls.cert)},
      {"key", PathField(config.tls.key)},
      {"component_ca", PathField(config.tls.component_ca)},
      {"accept_serial_number_org", Field(config.tls.accept_serial_number_org)},
  };
  Setter addresses = [&](const YAML::Node& node, const std::string& path) -> absl::Status {
    if (!node.IsMap()) return Invalid(path, "must be a mapping of component name to host:port");
    for (const auto& entry : node) {
      const std::string name = entry.first.as<std::string>();
      std::string address;
      UTPOST_RETURN_IF_ERROR(Read(entry.second, absl::StrCat(path, ".", name), address));
      if (address.rfind(':') == std::string::npos) {
        return Invalid(absl::StrCat(path, ".", name), "must be host:port");
      }
      config.components.addresses[name] = address;
    }
    return absl::OkStatus();
  };
  const std::map<std::string, Setter> components = {
      {"certs_dir", PathField(config.components.certs_dir)},
      {"addresses", addresses},
  };
  ledger::LedgerConfig& l = config.ledger;
  std::map<std::string, Setter> ledger = {
      {"max_letter_bytes", PositiveField(l.limits.max_total_bytes)},
      {"min_print_if_unread_after", DurationField(l.limits.min_print_if_unread_after)},
      {"worker_threads", PositiveField(l.worker_threads)},
      {"max_queued_requests", PositiveField(l.max_queued_requests)},
      {"task_worker_threads", PositiveField(l.task_worker_threads)},
      {"max_queued_task_requests", PositiveField(l.max_queued_task_requests)},
      {"max_document_reads", PositiveField(l.max_document_reads)},
      {"max_inflight_bytes", PositiveField(l.max_inflight_bytes)},
      {"list_max_scan", PositiveField(l.list_max_scan)},
      {"max_inflight_per_organisation", PositiveField(l.max_inflight_per_organisation)},
      {"max_watch_streams_per_organisation", PositiveField(l.max_watch_streams_per_organisation)},
  };
  Setter retention_organisations = [&l](const YAML::Node& node,
                                        const std::string& path) -> absl::Status {
    if (node.IsNull()) return absl::OkStatus();
    if (!node.IsMap()) return Invalid(path, "must be a mapping of organisation number to period");
    for (const auto& entry : node) {
      const std::string org = entry.first.as<std::string>();
      const std::string entry_path = absl::StrCat(path, ".", org);
      absl::StatusOr<std::string> key = OrgKeyOf(org);
      if (!key.ok()) return Invalid(entry_path, std::string(key.status().message()));
      absl::Duration period;
      UTPOST_RETURN_IF_ERROR(RetentionPeriodField(period)(entry.second, entry_path));
      l.retention.per_organisation[*key] = period;
    }
    return absl::OkStatus();
  };
  const std::map<std::string, Setter> retention = {
      {"period", RetentionPeriodField(l.retention.period)},
      {"organisations", retention_organisations},
      {"poll_interval", DurationField(l.retention.poll_interval)},
      {"batch_size", PositiveField(l.retention.batch_size)},
  };
  ledger.emplace("retention", [&](const YAML::Node& n, const std::string& p) {
    return ApplyMap(n, p, retention);
  });
  ledger::FormsConfig& f = config.forms;
  const std::map<std::string, Setter> forms = {
      {"lease_time", DurationField(f.lease_time)},
      {"max_per_fetch", PositiveField(f.max_per_fetch)},
      {"max_fetch_streams", PositiveField(f.max_fetch_streams)},
      {"max_submission_bytes", PositiveField(f.max_submission_bytes)},
      {"max_fields", PositiveField(f.max_fields)},
      {"max_attachments", PositiveField(f.max_attachments)},
      {"max_portals", PositiveField(f.max_portals)},
      {"list_max_scan", PositiveField(f.list_max_scan)},
  };
  ledger::StatsPrices& prices = config.stats.prices;
  const std::map<std::string, Setter> price_table = {
      {"currency", Field(prices.currency)},
      {"print", MoneyField(prices.print_minor)},
      {"postage", MoneyField(prices.postage_minor)},
      {"digital", MoneyField(prices.digital_minor)},
      {"source", Field(prices.source)},
  };
  // A list of organisation numbers (or CVR numbers), as org keys.
  auto org_list = [](std::vector<std::string>& out) -> Setter {
    return [&out](const YAML::Node& node, const std::string& path) -> absl::Status {
      std::vector<std::string> keys;
      auto add = [&keys](const YAML::Node& item, const std::string& item_path) -> absl::Status {
        std::string text;
        UTPOST_RETURN_IF_ERROR(Read(item, item_path, text));
        absl::StatusOr<std::string> key = OrgKeyOf(text);
        if (!key.ok()) return Invalid(item_path, std::string(key.status().message()));
        keys.push_back(*std::move(key));
        return absl::OkStatus();
      };
      if (node.IsSequence()) {
        for (size_t i = 0; i < node.size(); ++i) {
          UTPOST_RETURN_IF_ERROR(add(node[i], absl::StrCat(path, "[", i, "]")));
        }
      } else if (!node.IsNull()) {
        return Invalid(path, "must be a list of organisation numbers");
      }
      out = std::move(keys);
      return absl::OkStatus();
    };
  };
  registry::RegistryConfig& r = config.registry;
  Setter administrators = org_list(r.administrators);
  Setter shards = [&](const YAML::Node& node, const std::string& path) -> absl::Status {
    if (!node.IsSequence()) return Invalid(path, "must be a list of shards");
    std::vector<common::Shard> out(node.size());
    for (size_t i = 0; i < node.size(); ++i) {
      common::Shard& s = out[i];
      UTPOST_RETURN_IF_ERROR(ApplyMap(node[i], absl::StrCat(path, "[", i, "]"),
                                      {{"name", Field(s.name)},
                                       {"address", Field(s.address)},
                                       {"organisations", org_list(s.organisations)},
                                       {"default", Field(s.is_default)}}));
    }
    config.shards = std::move(out);
    return absl::OkStatus();
  };
  const std::map<std::string, Setter> registry = {
      {"data_dir", PathField(r.data_dir)},
      {"administrators", administrators},
      {"worker_threads", PositiveField(r.worker_threads)},
      {"max_queued_requests", PositiveField(r.max_queued_requests)},
      {"lookup_worker_threads", PositiveField(r.lookup_worker_threads)},
      {"max_queued_lookups", PositiveField(r.max_queued_lookups)},
      {"max_inflight_per_organisation", PositiveField(r.max_inflight_per_organisation)},
      {"max_inflight_bytes", PositiveField(r.max_inflight_bytes)},
  };
  router::RouterConfig& rt = config.router;
  const std::map<std::string, Setter> router = {
      {"workers", PositiveField(rt.workers)},
      {"batch_size", PositiveField(rt.batch_size)},
      {"lease_for", DurationField(rt.lease_for)},
      {"poll_interval", DurationField(rt.poll_interval)},
      {"backoff_min", DurationField(rt.backoff_min)},
      {"backoff_max", DurationField(rt.backoff_max)},
      {"rpc_timeout", DurationField(rt.rpc_timeout)},
      {"max_in_flight", PositiveField(rt.max_in_flight)},
      {"name", Field(rt.name)},
  };
  courier::CourierConfig& co = config.courier;
  Setter receipt_providers = [&co](const YAML::Node& node,
                                   const std::string& path) -> absl::Status {
    std::vector<std::string> ids;
    if (node.IsSequence()) {
      for (size_t i = 0; i < node.size(); ++i) {
        std::string id;
        UTPOST_RETURN_IF_ERROR(Read(node[i], absl::StrCat(path, "[", i, "]"), id));
        ids.push_back(std::move(id));
      }
    } else if (!node.IsNull()) {
      return Invalid(path, "must be a list of provider ids");
    }
    co.receipt_providers = std::move(ids);
    return absl::OkStatus();
  };
  const std::map<std::string, Setter> courier = {
      {"workers", PositiveField(co.workers)},
      {"batch_size", PositiveField(co.batch_size)},
      {"lease_for", DurationField(co.lease_for)},
      {"poll_interval", DurationField(co.poll_interval)},
      {"backoff_min", DurationField(co.backoff_min)},
      {"backoff_max", DurationField(co.backoff_max)},
      {"retry_deadline", DurationField(co.retry_deadline)},
      {"provider_timeout", DurationField(co.provider_timeout)},
      {"rpc_timeout", DurationField(co.rpc_timeout)},
      {"max_in_flight", PositiveField(co.max_in_flight)},
      {"max_in_flight_per_provider", PositiveField(co.max_in_flight_per_provider)},
      {"breaker_failures", PositiveField(co.breaker_failures)},
      {"provider_ca", PathField(co.provider_ca)},
      {"receipt_poll_interval", DurationField(co.receipt_poll_interval)},
      {"receipt_providers", receipt_providers},
      {"name", Field(co.name)},
  };
  mailbox_sim::MailboxSimConfig& ms = config.mailbox_sim;
  Setter reject = [&ms](const YAML::Node& node, const std::string& path) -> absl::Status {
    std::string text;
    UTPOST_RETURN_IF_ERROR(Read(node, path, text));
    if (text == "mailbox_closed") {
      ms.behaviour.reject = mailbox_sim::RejectKind::kMailboxClosed;
    } else if (text == "invalid") {
      ms.behaviour.reject = mailbox_sim::RejectKind::kInvalid;
    } else {
      return Invalid(path, "must be mailbox_closed or invalid");
    }
    return absl::OkStatus();
  };
  const std::map<std::string, Setter> mailbox_sim = {
      {"data_dir", PathField(ms.data_dir)},
      {"providers_dir", PathField(ms.providers_dir)},
      {"max_document_bytes", PositiveField(ms.max_document_bytes)},
      {"max_batch_bytes", PositiveField(ms.max_batch_bytes)},
      {"max_streams", PositiveField(ms.max_streams)},
      {"worker_threads", PositiveField(ms.worker_threads)},
      {"max_queued_requests", PositiveField(ms.max_queued_requests)},
      {"fail_share", Field(ms.behaviour.fail_share)},
      {"reject_share", Field(ms.behaviour.reject_share)},
      {"reject", reject},
      {"delay", DurationField(ms.behaviour.delay)},
      {"down", Field(ms.behaviour.down)},
      {"read_share", Field(ms.behaviour.read_share)},
      {"read_delay", DurationField(ms.behaviour.read_delay)},
      {"print_delay", DurationField(ms.behaviour.print_delay)},
  };
  print::PrintConfig& pr = config.print;
  const std::map<std::string, Setter> print = {
      {"data_dir", PathField(pr.data_dir)},
      {"provider_id", Field(pr.provider_id)},
      {"provider_endpoint", Field(pr.provider_endpoint)},
      {"provider_certificate", PathField(pr.provider_certificate)},
      {"provider_ca", PathField(pr.provider_ca)},
      {"home_country", Field(pr.home_country)},
      {"batch_max_letters", PositiveField(pr.batch_max_letters)},
      {"batch_max_bytes", PositiveField(pr.batch_max_bytes)},
      {"batch_window", DurationField(pr.batch_window)},
      {"lease_batch", PositiveField(pr.lease_batch)},
      {"lease_for", DurationField(pr.lease_for)},
      {"poll_interval", DurationField(pr.poll_interval)},
      {"status_poll_interval", DurationField(pr.status_poll_interval)},
      {"rpc_timeout", DurationField(pr.rpc_timeout)},
      {"stream_timeout", DurationField(pr.stream_timeout)},
      {"backoff_min", DurationField(pr.backoff_min)},
      {"backoff_max", DurationField(pr.backoff_max)},
      {"max_pages", PositiveField(pr.max_pages)},
      {"page_tolerance_mm", Field(pr.page_tolerance_mm)},
      {"name", Field(pr.name)},
  };
  const std::map<std::string, Setter> top = {
      {"data_dir", PathField(config.data_dir)},
      {"key_dir", PathField(config.key_dir)},
      {"listen", Field(config.listen)},
      {"insecure", Field(config.insecure)},
      {"dev_pki", Field(config.dev_pki)},
      {"log_level", Field(config.log_level)},
      {"tls", [&](const YAML::Node& n, const std::string& p) { return ApplyMap(n, p, tls); }},
      {"metrics",
       [&](const YAML::Node& n, const std::string& p) {
         return ApplyMap(n, p, {{"listen", Field(config.metrics.listen)}});
       }},
      {"health",
       [&](const YAML::Node& n, const std::string& p) {
         return ApplyMap(n, p, {{"listen", Field(config.health.listen)}});
       }},
      {"drain_timeout", DurationField(config.drain_timeout)},
      {"shards", shards},
      {"shard", Field(config.shard)},
      {"backup",
       [&](const YAML::Node& n, const std::string& p) {
         return ApplyMap(n, p,
                         {{"dir", PathField(config.backup.dir)},
                          {"operators", org_list(config.backup.operators)}});
       }},
      {"components",
       [&](const YAML::Node& n, const std::string& p) { return ApplyMap(n, p, components); }},
      {"ledger", [&](const YAML::Node& n, const std::string& p) { return ApplyMap(n, p, ledger); }},
      {"forms", [&](const YAML::Node& n, const std::string& p) { return ApplyMap(n, p, forms); }},
      {"stats",
       [&](const YAML::Node& n, const std::string& p) {
         return ApplyMap(n, p, {{"prices", [&](const YAML::Node& pn, const std::string& pp) {
                                   return ApplyMap(pn, pp, price_table);
                                 }}});
       }},
      {"registry",
       [&](const YAML::Node& n, const std::string& p) { return ApplyMap(n, p, registry); }},
      {"router", [&](const YAML::Node& n, const std::string& p) { return ApplyMap(n, p, router); }},
      {"courier",
       [&](const YAML::Node& n, const std::string& p) { return ApplyMap(n, p, courier); }},
      {"mailbox_sim",
       [&](const YAML::Node& n, const std::string& p) { return ApplyMap(n, p, mailbox_sim); }},
      {"print", [&](const YAML::Node& n, const std::string& p) { return ApplyMap(n, p, print); }},
  };
  return ApplyMap(root, "", top);
}

absl::Status ApplyYamlFile(const std::filesystem::path& path, Config& config) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  absl::Status status = ApplyYaml(text.str(), config);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat(path.string(), ": ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status Finalize(Config& config) {
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), config.log_level) == std::end(kLevels)) {
    return Invalid("log_level", "must be one of trace, debug, info, warn, error");
  }
  if (config.listen.rfind(':') == std::string::npos) {
    return Invalid("listen", "must be host:port");
  }
  if (!config.metrics.listen.empty() && config.metrics.listen.rfind(':') == std::string::npos) {
    return Invalid("metrics.listen", "must be host:port, or empty for no endpoint");
  }
  if (!config.health.listen.empty() && config.health.listen.rfind(':') == std::string::npos) {
    return Invalid("health.listen", "must be host:port, or empty for no health port");
  }
  if (config.drain_timeout < absl::ZeroDuration() || config.drain_timeout > absl::Minutes(10)) {
    return Invalid("drain_timeout", "must be from 0s to 10m");
  }
  absl::StatusOr<common::ShardMap> shards = common::ShardMap::Create(config.shards);
  if (!shards.ok()) return shards.status();
  if (!config.shard.empty() && shards->Find(config.shard) == nullptr) {
    return Invalid("shard", config.shards.empty() ? "is set, but no shards are configured"
                                                  : "names no shard of `shards`");
  }
  if (config.insecure && !IsLoopbackListen(config.listen)) {
    return Invalid("insecure",
                   "plaintext is only allowed on a loopback address (127.0.0.1, ::1, localhost)");
  }
  for (const absl::Status& s :
       {router::ValidateRouterConfig(config.router), courier::ValidateCourierConfig(config.courier),
        print::ValidatePrintConfig(config.print),
        mailbox_sim::ValidateMailboxSimConfig(config.mailbox_sim),
        ledger::ValidateFormsConfig(config.forms), ledger::ValidateStatsConfig(config.stats)}) {
    if (s.ok()) continue;
    // "<section>.<key>: <rule>" in the form of the other config errors.
    const std::string message(s.message());
    const size_t colon = message.find(": ");
    if (colon == std::string::npos) return s;
    return Invalid(message.substr(0, colon), message.substr(colon + 2));
  }
  mailbox_sim::MailboxSimConfig& ms = config.mailbox_sim;
  ms.data_dir = config.InData(ms.data_dir.empty() ? "mailbox-sim" : ms.data_dir);
  ms.providers_dir = config.InData(ms.providers_dir.empty() ? "pki/providers" : ms.providers_dir);
  ms.make_dev_providers = config.dev_pki;
  ms.serve_control = config.dev_pki;
  config.print.data_dir = config.InData(config.print.data_dir);
  config.print.provider_certificate = config.InData(config.print.provider_certificate);
  if (!config.print.provider_ca.empty()) {
    config.print.provider_ca = config.InData(config.print.provider_ca);
  }
  config.ledger.data_dir = config.InData("ledger");
  config.ledger.key_dir = config.InData(config.key_dir);
  registry::RegistryConfig& registry = config.registry;
  registry.data_dir = config.InData(registry.data_dir.empty() ? "registry" : registry.data_dir);
  registry.key_dir = config.ledger.key_dir;
  registry.seed_dev = config.dev_pki;
  registry.dev_providers_dir = config.InData("pki/providers");
  if (config.dev_pki && config.backup.dir.empty()) config.backup.dir = "backups";
  if (!config.backup.dir.empty()) config.backup.dir = config.InData(config.backup.dir);
  if (config.dev_pki && config.backup.operators.empty()) {
    for (const ExampleOrganisation& org : kExampleOrganisations) {
      config.backup.operators.push_back(org.org_key);
    }
  }
  if (config.dev_pki && registry.administrators.empty()) {
    for (const ExampleOrganisation& org : kExampleOrganisations) {
      registry.administrators.push_back(org.org_key);
    }
  }
  return absl::OkStatus();
}

}  // namespace utpost::app
