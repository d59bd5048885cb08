#include "bench/send_load.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "bench/document.h"
#include "common/status_macros.h"

namespace utpost::bench {
namespace {

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read ", path.string()));
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> WorkerChannel(
    const client::ConnectionOptions& options, int worker) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    UTPOST_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(options.ca));
    UTPOST_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadFile(options.cert));
    UTPOST_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadFile(options.key));
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("utpost.bench.worker", worker);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.address, credentials, args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    return absl::UnavailableError(
        absl::StrCat("worker ", worker, ": cannot connect to ", options.address));
  }
  return channel;
}

v1::SendLetterRequest MakeLetter(uint64_t document_bytes, std::string_view reference,
                                 std::mt19937_64& random) {
  v1::SendLetterRequest request;
  request.set_title("Benchmark letter");
  request.set_external_reference(std::string(reference));
  v1::Document* document = request.add_documents();
  document->set_filename("letter.pdf");
  document->set_media_type("application/pdf");
  document->set_content(MakePdfDocument(document_bytes, random));
  return request;
}

void ErrorSampler::Note(const absl::Status& status) {
  std::lock_guard lock(mu_);
  if (seen_.insert(status.code()).second) {
    std::cerr << program_ << ": first " << absl::StatusCodeToString(status.code()) << ": "
              << status.message() << "\n";
  }
}

void AddLoadFlags(CLI::App& cli, LoadFlags& flags, const std::string& config_help) {
  cli.add_option("--config", flags.config, config_help)->required()->check(CLI::ExistingFile);
  cli.add_option("--concurrency", flags.concurrency, "workers, one connection each")
      ->check(CLI::Range(1, 4096));
  cli.add_option("--document-bytes", flags.document_bytes,
                 "bytes of the one PDF document of each letter")
      ->check(CLI::Range(uint64_t{16}, uint64_t{50} << 20));
  cli.add_option("--duration", flags.duration_s, "measured seconds")
      ->check(CLI::Range(0.1, 86400.0));
  cli.add_option("--warmup", flags.warmup_s, "seconds of load before measuring")
      ->check(CLI::Range(0.0, 86400.0));
}

}  // namespace utpost::bench
