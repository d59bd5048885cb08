#include "services/utpost/app.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/dev_pki.h"
#include "services/common/log.h"
#include "services/common/server_reflection.h"
#include "services/utpost/modules.h"
#include "storage/key_checks.h"

namespace utpost::app {

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  std::stringstream content;
  content << in.rdbuf();
  if (in.bad()) return absl::UnavailableError(absl::StrCat("error reading ", path.string()));
  return content.str();
}

namespace {

constexpr int kMaxConcurrentStreams = 100;

// The memory quota of the transport: two messages at the receive limit and a margin for
// everything else the transport allocates (call arenas, read buffers of idle connections).
int64_t TransportQuotaBytes(int64_t max_receive) { return 2 * max_receive + (16 << 20); }

// What one caller can make the transport hold, whatever it sends. See README.md, "Worst case
// memory per request", for the figures; hostile_transport_test measures them.
//
// * Compression. gRPC inflates a compressed message whole before it checks the size limit
//   against it: 1 MiB of gzip became 1 GiB of memory. No client of utpost needs to compress
//   (letters are mostly PDFs, which are compressed already), so the server accepts none: with
//   gzip and deflate disabled, a call whose grpc-encoding names one is answered UNIMPLEMENTED
//   ("Compression algorithm 'gzip' is disabled") as soon as its headers arrive, before any
//   message byte is looked at. A compressed-flag message without grpc-encoding is refused as
//   well. Uncompressed calls are unaffected, and responses are never compressed.
// * Declared lengths. gRPC 1.51's HTTP/2 transport reads the 5-byte prefix of a message and
//   opens the stream's flow-control window to the declared length, without comparing it to
//   the receive limit; the limit is applied only once the whole message is there. There is no
//   hook for an application to refuse earlier. What bounds such a stream is the resource
//   quota below: read buffers are charged to it, and when it is used up the transport's
//   reclaimer cancels a stream (RESOURCE_EXHAUSTED "Buffers full"; measured: the stream is
//   ended after about the quota's worth of data).
// * Streams. At most kMaxConcurrentStreams calls at once per connection; further streams are
//   refused by HTTP/2 (REFUSED_STREAM), and together they draw on the same quota.
void LimitTransportMemory(grpc::ServerBuilder& builder, int64_t max_receive) {
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_DEFLATE, false);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, false);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams);
  grpc::ResourceQuota quota("utpost-server");
  quota.Resize(static_cast<size_t>(TransportQuotaBytes(max_receive)));
  builder.SetResourceQuota(quota);
}

}  // namespace

absl::Status InitServer(App& app) {
  const Config& config = app.config;
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (config.insecure) {
    credentials = grpc::InsecureServerCredentials();
    app.authenticator = service::NewInsecureHeaderAuthenticator();
    service::Log(spdlog::level::warn, "serving plaintext without client authentication",
                 {{"listen", config.listen}});
  } else {
    grpc::SslServerCredentialsOptions options(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    UTPOST_ASSIGN_OR_RETURN(options.pem_root_certs, ReadFile(config.InData(config.tls.ca)));
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    UTPOST_ASSIGN_OR_RETURN(pair.private_key, ReadFile(config.InData(config.tls.key)));
    UTPOST_ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(config.InData(config.tls.cert)));
    options.pem_key_cert_pairs.push_back(std::move(pair));
    credentials = grpc::SslServerCredentials(options);
    app.authenticator = service::NewCertificateAuthenticator(config.tls.accept_serial_number_org);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();  // v1alpha
  service::AddServerReflectionV1(app.builder);
  app.builder.AddListeningPort(config.listen, credentials, &app.port);
  // The largest request is a SendLetter at the letter limit (other methods take less).
  const int64_t max_receive = std::min<int64_t>(
      static_cast<int64_t>(ledger::LetterServiceImpl::MaxSendLetterBytes(config.ledger.limits)),
      std::numeric_limits<int>::max());
  app.builder.SetMaxReceiveMessageSize(static_cast<int>(max_receive));
  LimitTransportMemory(app.builder, max_receive);
  // Keep idle watch streams alive through proxies and notice dead peers.
  app.builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  app.builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  app.builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  app.builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  return absl::OkStatus();
}

namespace {

// Creates `dir` with mode 0700 (parents with the default mode), or takes away every
// permission of group and others from an existing one, saying so in the log.
absl::Status EnsurePrivateDir(const std::filesystem::path& dir, std::string_view what) {
  std::error_code ec;
  if (dir.has_parent_path()) {
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", dir.parent_path().string(), ": ", ec.message()));
    }
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat("cannot create ", common::Av(what), " ",
                                               dir.string(), ": ", std::strerror(errno)));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot inspect ", common::Av(what), " ",
                                               dir.string(), ": ", std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(common::Av(what), " ", dir.string(), " is not a directory"));
  }
  if ((st.st_mode & 077) != 0) {
    const mode_t tightened = st.st_mode & 07700;
    if (::chmod(dir.c_str(), tightened) != 0) {
      return absl::UnavailableError(absl::StrCat("cannot restrict ", common::Av(what), " ",
                                                 dir.string(),
                                                 " to its owner: ", std::strerror(errno)));
    }
    service::Log(spdlog::level::warn, "took group and other permissions off a directory",
                 {{"dir", dir.string()},
                  {"was", absl::StrFormat("%04o", st.st_mode & 07777)},
                  {"now", absl::StrFormat("%04o", tightened)}});
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status InitLedger(App& app) {
  const ledger::LedgerConfig& config = app.config.ledger;
  // A database exists once RocksDB has written CURRENT. Only a database that does not exist
  // yet may get a freshly made key: for one that has data, a new key would be a different
  // key, and everything encrypted under the old one unreadable.
  std::error_code ec;
  const bool fresh = !std::filesystem::exists(config.data_dir / "CURRENT", ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot inspect ", config.data_dir.string(), ": ", ec.message()));
  }
  UTPOST_RETURN_IF_ERROR(EnsurePrivateDir(config.data_dir, "ledger directory"));
  if (fresh && app.config.dev_pki) {
    UTPOST_ASSIGN_OR_RETURN(const std::string kek_id,
                            crypto::FileKeyStore::EnsureKey(config.key_dir));
    service::Log(spdlog::level::info, "new database: dev key-encryption key ready",
                 {{"key_dir", config.key_dir.string()}, {"kek_id", kek_id}});
  }
  absl::StatusOr<std::unique_ptr<crypto::FileKeyStore>> keys =
      crypto::FileKeyStore::Open(config.key_dir);
  if (!keys.ok() && fresh) {
    // Before the database is made, so that the next start still counts as the first.
    return absl::Status(keys.status().code(),
                        absl::StrCat(keys.status().message(),
                                     " (a new installation creates its first key with utpost "
                                     "--create-kek, or with dev_pki on its first start)"));
  }
  storage::DbOptions db_options;
  db_options.path = config.data_dir;
  UTPOST_ASSIGN_OR_RETURN(app.db, storage::Db::Open(db_options));
  app.store = std::make_unique<storage::LedgerStore>(*app.db);
  if (!keys.ok()) return storage::KeyStoreUnavailable(*app.store, config.key_dir, keys.status());
  app.keys = *std::move(keys);
  UTPOST_RETURN_IF_ERROR(
      storage::ReconcileKeyChecks(*app.store, *app.keys, config.key_dir, app.clock.Now()));
  UTPOST_ASSIGN_OR_RETURN(app.ledger,
                          ledger::Ledger::Create(config, *app.store, *app.keys, app.clock));
  UTPOST_RETURN_IF_ERROR(app.ledger->ShredPending());
  app.executor = std::make_unique<service::BoundedExecutor>("ledger-worker", config.worker_threads,
                                                            config.max_queued_requests);
  app.letter_service =
      std::make_unique<ledger::LetterServiceImpl>(*app.ledger, *app.authenticator, *app.executor);
  app.builder.RegisterService(app.letter_service.get());
  app.service_names.push_back(v1::LetterService::service_full_name());
  service::Log(spdlog::level::info, "ledger ready",
               {{"data_dir", config.data_dir.string()},
                {"key_dir", config.key_dir.string()},
                {"kek_id", app.keys->CurrentKeyId()}});
  return absl::OkStatus();
}

App::~App() { Stop(); }

absl::Status App::Init(std::string_view target) {
  UTPOST_ASSIGN_OR_RETURN(auto modules, ResolveTarget(target));
  // Letters, keys (by default) and private keys of the dev PKI live here: owner only.
  UTPOST_RETURN_IF_ERROR(EnsurePrivateDir(config.data_dir, "data directory"));
  if (config.dev_pki) {
    // The dev CA's key goes to crypto::DevCaDir (data/pki-ca), beside the served PKI; once
    // every certificate exists it is not opened again.
    std::vector<crypto::DevOrganisation> orgs;
    for (const auto& org : kExampleOrganisations) orgs.push_back({org.org_key, org.name});
    UTPOST_RETURN_IF_ERROR(crypto::EnsureDevPki(config.InData("pki"), orgs));
  }
  for (const ModuleSpec* module : modules) {
    if (module->init == nullptr) continue;
    absl::Status status = module->init(*this);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("module ", module->name, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

std::string App::address() const {
  std::string host = config.listen.substr(0, config.listen.rfind(':'));
  return absl::StrCat(host, ":", port);
}

std::filesystem::path App::ClientConfigPath(std::string_view org_key) const {
  if (org_key == kExampleOrganisations[0].org_key) return config.InData("utpostctl.yaml");
  return config.InData(absl::StrCat("utpostctl-", common::Av(org_key), ".yaml"));
}

absl::Status App::Start() {
  server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen, " (address in use or not local?)"));
  }
  for (const auto& name : service_names) {
    server->GetHealthCheckService()->SetServingStatus(name, true);
  }
  if (config.dev_pki) {
    // utpostctl's configuration: paths relative to the file's own directory.
    for (const auto& org : kExampleOrganisations) {
      const std::filesystem::path client_dir = crypto::DevClientDir("pki", org.org_key);
      std::ofstream out(ClientConfigPath(org.org_key), std::ios::trunc);
      out << "# Written by utpost at start-up (dev PKI); utpostctl reads it by default.\n"
          << "# Identity: " << org.name << " (" << org.org_key << ")\n"
          << "address: " << address() << "\n"
          << "ca: " << (client_dir / "ca.pem").string() << "\n"
          << "cert: " << (client_dir / "client.pem").string() << "\n"
          << "key: " << (client_dir / "client.key").string() << "\n";
      if (!out) return absl::UnavailableError("cannot write the utpostctl configuration");
    }
  }
  service::Log(spdlog::level::info, "serving",
               {{"address", address()}, {"tls", config.insecure ? "off" : "mutual"}});
  return absl::OkStatus();
}

void App::Stop(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  if (server != nullptr) {
    server->GetHealthCheckService()->Shutdown();
    if (letter_service) letter_service->Shutdown();
    server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
    server->Wait();
  }
  // Work already queued finishes (each letter is acknowledged only after it is durable).
  if (executor) executor->Shutdown();
  server.reset();
  letter_service.reset();
  executor.reset();
  ledger.reset();
  store.reset();
  db.reset();
  keys.reset();
  service::Log(spdlog::level::info, "stopped");
}

}  // namespace utpost::app
