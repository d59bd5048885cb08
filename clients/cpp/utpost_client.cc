#include "clients/cpp/utpost_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/call_headers.h"
#include "common/grpc_status.h"
#include "common/ids.h"
#include "common/shards.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace utpost::client {
namespace {

std::optional<std::string> Env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the ", common::Av(what), " file ", path.string()));
  }
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

absl::StatusOr<ConnectionOptions> ResolveConnection(const ConnectionOverrides& overrides) {
  ConnectionOptions options;
  // The config file supplies defaults; paths in it are relative to the file.
  std::optional<std::string> config_path = overrides.config;
  if (!config_path) config_path = Env("UTPOST_CLIENT_CONFIG");
  bool explicit_config = config_path.has_value();
  if (!config_path) config_path = "data/utpostctl.yaml";
  if (std::filesystem::exists(*config_path)) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(*config_path);
    } catch (const YAML::Exception& e) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot parse ", *config_path, ": ", e.what()));
    }
    const std::filesystem::path base = std::filesystem::path(*config_path).parent_path();
    auto path_of = [&](const char* key) -> std::filesystem::path {
      if (!root[key]) return {};
      std::filesystem::path p = root[key].as<std::string>();
      return p.is_absolute() ? p : base / p;
    };
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      if (key != "address" && key != "ca" && key != "cert" && key != "key" && key != "insecure" &&
          key != "organisation" && key != "municipality") {
        return absl::FailedPreconditionError(
            absl::StrCat(*config_path, ": unknown key '", key, "'"));
      }
    }
    if (root["address"]) options.address = root["address"].as<std::string>();
    if (root["municipality"]) options.municipality = root["municipality"].as<std::string>();
    options.ca = path_of("ca");
    options.cert = path_of("cert");
    options.key = path_of("key");
    if (root["insecure"]) options.insecure = root["insecure"].as<bool>();
    if (root["organisation"]) options.organisation = root["organisation"].as<std::string>();
  } else if (explicit_config) {
    return absl::FailedPreconditionError(absl::StrCat("config file ", *config_path, " not found"));
  }
  auto pick = [](const std::optional<std::string>& flag, const char* env, auto& out) {
    if (flag) {
      out = *flag;
    } else if (auto value = Env(env)) {
      out = *value;
    }
  };
  pick(overrides.address, "UTPOST_ADDRESS", options.address);
  pick(overrides.ca, "UTPOST_CA", options.ca);
  pick(overrides.cert, "UTPOST_CERT", options.cert);
  pick(overrides.key, "UTPOST_KEY", options.key);
  pick(overrides.organisation, "UTPOST_ORGANISATION", options.organisation);
  if (overrides.insecure) options.insecure = true;

  if (options.address.empty()) {
    return absl::FailedPreconditionError(
        "no server address: start utpost with 'make run' (it writes data/utpostctl.yaml), or "
        "pass --address / set UTPOST_ADDRESS");
  }
  if (options.insecure) {
    if (options.organisation.empty()) {
      return absl::FailedPreconditionError(
          "insecure mode needs --organisation (or UTPOST_ORGANISATION)");
    }
  } else if (options.ca.empty() || options.cert.empty() || options.key.empty()) {
    return absl::FailedPreconditionError(
        "mutual TLS needs --ca, --cert and --key (or UTPOST_CA, UTPOST_CERT, UTPOST_KEY, or a "
        "config file)");
  }
  return options;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const ConnectionOptions& options,
                                                       int64_t max_message_bytes) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    UTPOST_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(options.ca, "CA certificate"));
    UTPOST_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadFile(options.cert, "client certificate"));
    UTPOST_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadFile(options.key, "client key"));
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(static_cast<int>(max_message_bytes));
  args.SetMaxReceiveMessageSize(static_cast<int>(max_message_bytes));
  args.SetInt(GRPC_ARG_MAX_METADATA_SIZE, kMaxResponseMetadataBytes);
  return grpc::CreateCustomChannel(options.address, credentials, args);
}

bool IsRetryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
      return true;
    case absl::StatusCode::kResourceExhausted: {
      const std::string message = absl::AsciiStrToLower(status.message());
      return !absl::StrContains(message, "metadata size") &&
             !absl::StrContains(message, "larger than max");
    }
    default:
      return false;
  }
}

absl::StatusOr<v1::Recipient> RecipientFromIdentifier(std::string_view text) {
  UTPOST_ASSIGN_OR_RETURN(common::ParsedId id, common::ParseIdentifier(text));
  v1::Recipient recipient;
  switch (id.kind) {
    case common::IdKind::kNorwegianNationalId:
      recipient.mutable_person()->set_norwegian_national_id(id.digits);
      break;
    case common::IdKind::kDanishCpr:
      recipient.mutable_person()->set_danish_cpr(id.digits);
      break;
    case common::IdKind::kNorwegianOrgNumber:
      recipient.mutable_organisation()->set_norwegian_org_number(id.digits);
      break;
    case common::IdKind::kDanishCvr:
      recipient.mutable_organisation()->set_danish_cvr(id.digits);
      break;
  }
  return recipient;
}

std::string MediaTypeForFile(const std::filesystem::path& path) {
  const std::string ext = absl::AsciiStrToLower(path.extension().string());
  if (ext == ".pdf") return "application/pdf";
  if (ext == ".txt") return "text/plain";
  if (ext == ".html" || ext == ".htm") return "text/html";
  if (ext == ".xml") return "application/xml";
  if (ext == ".json") return "application/json";
  if (ext == ".png") return "image/png";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".odt") return "application/vnd.oasis.opendocument.text";
  if (ext == ".docx") {
    return "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
  }
  return "application/octet-stream";
}

LetterClient::LetterClient(std::shared_ptr<grpc::Channel> channel, ConnectionOptions options,
                           absl::Duration timeout)
    : stub_(v1::LetterService::NewStub(channel)), options_(std::move(options)), timeout_(timeout) {}

void LetterClient::Prepare(grpc::ClientContext& context, bool deadline) const {
  std::lock_guard lock(*mu_);
  if (deadline) context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  context.set_wait_for_ready(options_.wait_for_ready);
  if (options_.insecure) {
    context.AddMetadata(common::kInsecureOrganisationHeader, options_.organisation);
  }
}

std::shared_ptr<v1::LetterService::Stub> LetterClient::Stub() const {
  std::lock_guard lock(*mu_);
  return stub_;
}

std::optional<ConnectionOptions> ShardRedirect(const absl::Status& status,
                                               const ConnectionOptions& options) {
  std::optional<std::string> address = common::WrongShardAddress(status);
  if (!address) return std::nullopt;
  ConnectionOptions moved = options;
  moved.address = *address;
  return moved;
}

bool LetterClient::FollowShard(const absl::Status& status, int& hops) {
  std::optional<ConnectionOptions> redirect;
  {
    std::lock_guard lock(*mu_);
    redirect = ShardRedirect(status, options_);
  }
  if (!redirect || ++hops > kMaxShardHops) return false;
  ConnectionOptions moved = *std::move(redirect);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(moved);
  if (!channel.ok()) return false;
  std::lock_guard lock(*mu_);
  stub_ = v1::LetterService::NewStub(*channel);
  options_ = std::move(moved);
  return true;
}

template <typename Request, typename Response>
absl::StatusOr<Response> LetterClient::Call(grpc::Status (v1::LetterService::Stub::*method)(
                                                grpc::ClientContext*, const Request&, Response*),
                                            const Request& request) {
  for (int hops = 0;;) {
    grpc::ClientContext context;
    Prepare(context);
    Response response;
    std::shared_ptr<v1::LetterService::Stub> stub = Stub();
    absl::Status status =
        common::FromGrpcStatus((stub.get()->*method)(&context, request, &response));
    if (status.ok()) return response;
    if (!FollowShard(status, hops)) return status;
  }
}

absl::StatusOr<v1::SendLetterResponse> LetterClient::Send(const v1::SendLetterRequest& request) {
  return Call(&v1::LetterService::Stub::SendLetter, request);
}

absl::StatusOr<v1::GetLetterResponse> LetterClient::Get(std::string_view letter_id) {
  v1::GetLetterRequest request;
  request.set_letter_id(std::string(letter_id));
  return Call(&v1::LetterService::Stub::GetLetter, request);
}

absl::StatusOr<v1::ListLettersResponse> LetterClient::List(const v1::ListLettersRequest& request) {
  return Call(&v1::LetterService::Stub::ListLetters, request);
}

absl::StatusOr<v1::PreviewRoutesResponse> LetterClient::PreviewRoutes(
    const v1::PreviewRoutesRequest& request) {
  return Call(&v1::LetterService::Stub::PreviewRoutes, request);
}

absl::StatusOr<v1::CancelLetterResponse> LetterClient::Cancel(std::string_view letter_id) {
  v1::CancelLetterRequest request;
  request.set_letter_id(std::string(letter_id));
  return Call(&v1::LetterService::Stub::CancelLetter, request);
}

absl::Status LetterClient::Watch(uint64_t after_sequence,
                                 const std::function<bool(const v1::LetterEvent&)>& on_event) {
  for (int hops = 0;;) {
    grpc::ClientContext context;
    Prepare(context, /*deadline=*/false);
    v1::WatchLetterEventsRequest request;
    request.set_after_sequence(after_sequence);
    std::shared_ptr<v1::LetterService::Stub> stub = Stub();
    auto reader = stub->WatchLetterEvents(&context, request);
    v1::WatchLetterEventsResponse response;
    bool any = false;
    while (reader->Read(&response)) {
      any = true;
      for (const auto& event : response.events()) {
        if (!on_event(event)) {
          context.TryCancel();
          reader->Finish().ok();  // the stream ends CANCELLED, as asked
          return absl::OkStatus();
        }
      }
    }
    absl::Status status = common::FromGrpcStatus(reader->Finish());
    // A stream refused at once by the wrong shard is opened again at the right one.
    if (any || !FollowShard(status, hops)) return status;
  }
}

}  // namespace utpost::client
