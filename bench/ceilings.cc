// utpost_bench_ceilings: the two ceilings SendLetter is measured against.
//
//   echo-server --data-dir DIR --listen 127.0.0.1:0
//     The transport ceiling: gRPC with utpost's mutual TLS, message limits, keepalive
//     settings and threading (each request is handed to a BoundedExecutor of 32 threads and a
//     queue of 256, and finished from there), but SendLetter answers at once with a fixed
//     letter id: no authentication lookup, validation, encryption or storage. Writes
//     DIR/utpostctl.yaml like utpost does, so utpost_loadgen drives it unchanged. Stops on
//     SIGTERM or SIGINT.
//
//   disk --dir DIR [--concurrency 16] [--document-bytes 65536] [--duration 10] [--warmup 2]
//     The disk ceiling: each of N threads, in a closed loop, reserves the next
//     document-bytes of one file in DIR, pwrites them there and calls fdatasync, so an
//     operation ends when its bytes are durable, like an acknowledged letter. Then it gives
//     the synced pages back to the page cache (POSIX_FADV_DONTNEED), as utpost's segment
//     store does, so both write into pages the cache reuses; --keep-pages leaves them
//     cached instead. Prints the same JSON as utpost_loadgen. The file is removed at the end.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/run_stats.h"
#include "common/status_macros.h"
#include "crypto/dev_pki.h"
#include "services/common/executor.h"
#include "utpost/v1/letters.grpc.pb.h"

namespace utpost::bench {
namespace {

namespace fs = std::filesystem;

// The dev organisation the echo server issues a client certificate for (as utpost's first
// example organisation, whose configuration is DIR/utpostctl.yaml).
constexpr char kOrgKey[] = "NO958935420";
constexpr char kOrgName[] = "Oslo kommune";
constexpr char kFixedLetterId[] = "01J00000000000000000000000";
// As utpost with its defaults: LedgerConfig worker_threads and max_queued_requests, and the
// 50 MiB letter limit plus 1 MiB of room for the envelope.
constexpr int kWorkerThreads = 32;
constexpr int kMaxQueued = 256;
constexpr int kMaxReceiveBytes = 51 << 20;

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

class EchoLetterService final : public v1::LetterService::CallbackService {
 public:
  explicit EchoLetterService(service::BoundedExecutor& executor) : executor_(executor) {}

  grpc::ServerUnaryReactor* SendLetter(grpc::CallbackServerContext* context,
                                       const v1::SendLetterRequest* /*request*/,
                                       v1::SendLetterResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const bool queued = executor_.TrySubmit([response, reactor] {
      response->set_letter_id(kFixedLetterId);
      reactor->Finish(grpc::Status::OK);
    });
    if (!queued) {
      reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   "server is at capacity; retry with backoff"));
    }
    return reactor;
  }

 private:
  service::BoundedExecutor& executor_;
};

// Written to a temporary name and renamed, so a reader never sees half a file.
absl::Status WriteClientConfig(const fs::path& data_dir, const std::string& address) {
  const fs::path client_dir = crypto::DevClientDir("pki", kOrgKey);
  const fs::path path = data_dir / "utpostctl.yaml";
  const fs::path temporary = data_dir / "utpostctl.yaml.tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << "# Written by utpost_bench_ceilings echo-server (transport ceiling: replies without "
           "storing).\n"
        << "# Identity: " << kOrgName << " (" << kOrgKey << ")\n"
        << "address: " << address << "\n"
        << "ca: " << (client_dir / "ca.pem").string() << "\n"
        << "cert: " << (client_dir / "client.pem").string() << "\n"
        << "key: " << (client_dir / "client.key").string() << "\n";
    if (!out.flush()) return absl::UnavailableError(absl::StrCat("cannot write ", path.string()));
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot write ", path.string()));
  return absl::OkStatus();
}

int RunEchoServer(const fs::path& data_dir, const std::string& listen) {
  // Taken by sigwait below; blocked before any thread starts so no other thread gets them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto fail = [](const absl::Status& status) {
    std::cerr << "utpost_bench_ceilings echo-server: " << status.message() << "\n";
    return 1;
  };
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return fail(absl::UnavailableError(absl::StrCat("cannot create ", data_dir.string())));
  const fs::path pki = data_dir / "pki";
  if (absl::Status s = crypto::EnsureDevPki(pki, {{kOrgKey, kOrgName}}); !s.ok()) return fail(s);

  // As services/utpost/app.cc InitServer with the dev PKI.
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  absl::StatusOr<std::string> ca = ReadFile(pki / "ca.pem");
  absl::StatusOr<std::string> cert = ReadFile(pki / "server.pem");
  absl::StatusOr<std::string> key = ReadFile(pki / "server.key");
  for (const auto* file : {&ca, &cert, &key}) {
    if (!file->ok()) return fail(file->status());
  }
  ssl.pem_root_certs = *ca;
  pair.cert_chain = *cert;
  pair.private_key = *key;
  ssl.pem_key_cert_pairs.push_back(std::move(pair));

  service::BoundedExecutor executor("echo-worker", kWorkerThreads, kMaxQueued);
  EchoLetterService letter_service(executor);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::SslServerCredentials(ssl), &port);
  builder.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(&letter_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return fail(absl::UnavailableError(absl::StrCat("cannot listen on ", listen)));
  }
  const std::string address = absl::StrCat(listen.substr(0, listen.rfind(':')), ":", port);
  if (absl::Status s = WriteClientConfig(data_dir, address); !s.ok()) return fail(s);
  std::cerr << "utpost_bench_ceilings echo-server: serving on " << address << "\n";

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server->Wait();
  executor.Shutdown();
  return 0;
}

struct DiskFlags {
  fs::path dir;
  int concurrency = 16;
  uint64_t document_bytes = 65536;
  double duration_s = 10;
  double warmup_s = 2;
  std::string label = "disk ceiling";
  bool keep_pages = false;
};

std::string ErrnoName(int error) {
  const char* name = strerrorname_np(error);
  return name != nullptr ? name : absl::StrCat("errno ", error);
}

// Writes all of `data` at `offset`; 0 or an errno value.
int PwriteAll(int fd, std::string_view data, off_t offset) {
  while (!data.empty()) {
    const ssize_t written = pwrite(fd, data.data(), data.size(), offset);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data.remove_prefix(static_cast<size_t>(written));
    offset += written;
  }
  return 0;
}

int RunDisk(const DiskFlags& flags) {
  const fs::path path = flags.dir / "disk-ceiling.dat";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::cerr << "utpost_bench_ceilings disk: cannot create " << path << ": "
              << std::strerror(errno) << "\n";
    return 1;
  }
  std::atomic<uint64_t> next_offset{0};
  std::random_device seed;
  std::mt19937_64 random((static_cast<uint64_t>(seed()) << 32) ^ seed());
  std::vector<std::string> buffers;
  for (int i = 0; i < flags.concurrency; ++i) {
    std::string buffer(flags.document_bytes, '\0');
    for (size_t at = 0; at < buffer.size(); at += sizeof(uint64_t)) {
      const uint64_t word = random();
      std::memcpy(buffer.data() + at, &word, std::min(sizeof(word), buffer.size() - at));
    }
    buffers.push_back(std::move(buffer));
  }

  const Window window =
      Window::After(std::chrono::steady_clock::now(), flags.warmup_s, flags.duration_s);
  std::vector<WorkerStats> stats(flags.concurrency);
  std::vector<std::thread> workers;
  for (int i = 0; i < flags.concurrency; ++i) {
    workers.emplace_back([&, i] {
      const std::string_view data = buffers[i];
      for (;;) {
        const SteadyTime begin = std::chrono::steady_clock::now();
        if (begin >= window.end) return;
        const off_t offset = static_cast<off_t>(next_offset.fetch_add(data.size()));
        int error = PwriteAll(fd, data, offset);
        if (error == 0 && fdatasync(fd) != 0) error = errno;
        if (error == 0 && !flags.keep_pages) {
          (void)posix_fadvise(fd, offset, static_cast<off_t>(data.size()), POSIX_FADV_DONTNEED);
        }
        const SteadyTime end = std::chrono::steady_clock::now();
        if (!window.Counts(end)) continue;
        if (error == 0) {
          stats[i].latencies_ns.push_back(
              std::chrono::duration_cast<std::chrono::nanoseconds>(end - begin).count());
        } else {
          ++stats[i].errors[ErrnoName(error)];
        }
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  close(fd);
  std::error_code ec;
  fs::remove(path, ec);

  RunDescription run{flags.label, flags.concurrency, flags.document_bytes, window};
  std::cout << Summarise(run, stats).dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace utpost::bench

int main(int argc, char** argv) {
  CLI::App cli{"utpost_bench_ceilings: the transport and disk ceilings of SendLetter"};
  cli.require_subcommand(1);

  std::string echo_dir;
  std::string echo_listen = "127.0.0.1:0";
  CLI::App* echo = cli.add_subcommand(
      "echo-server", "gRPC + mutual TLS as utpost, answering SendLetter without any work");
  echo->add_option("--data-dir", echo_dir, "directory for the dev PKI and utpostctl.yaml")
      ->required();
  echo->add_option("--listen", echo_listen, "host:port; port 0 picks a free one");

  utpost::bench::DiskFlags disk_flags;
  std::string disk_dir;
  CLI::App* disk =
      cli.add_subcommand("disk", "N threads appending to one file, fdatasync after each write");
  disk->add_option("--dir", disk_dir, "directory on the disk to measure")
      ->required()
      ->check(CLI::ExistingDirectory);
  disk->add_option("--concurrency", disk_flags.concurrency, "writer threads")
      ->check(CLI::Range(1, 4096));
  disk->add_option("--document-bytes", disk_flags.document_bytes, "bytes per write")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30));
  disk->add_option("--duration", disk_flags.duration_s, "measured seconds")
      ->check(CLI::Range(0.1, 86400.0));
  disk->add_option("--warmup", disk_flags.warmup_s, "seconds of writing before measuring")
      ->check(CLI::Range(0.0, 86400.0));
  disk->add_option("--label", disk_flags.label, "names the run in the JSON output");
  disk->add_flag("--keep-pages", disk_flags.keep_pages,
                 "leave written pages in the page cache instead of giving them back");

  CLI11_PARSE(cli, argc, argv);
  if (echo->parsed()) return utpost::bench::RunEchoServer(echo_dir, echo_listen);
  disk_flags.dir = disk_dir;
  return utpost::bench::RunDisk(disk_flags);
}
