#include "services/mailbox_sim/mailbox_sim.h"

#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/letter_id.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/cms.h"
#include "google/protobuf/util/time_util.h"

namespace utpost::mailbox_sim {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::TimeUtil;

constexpr uint32_t kMaxDocuments = 100;
constexpr size_t kMaxAddress = 254;
constexpr size_t kMaxIdsPerCall = 1000;

bool IsProviderId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool IsBatchId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return true;
}

absl::Status Invalid(std::string_view message) {
  return absl::InvalidArgumentError(common::Av(message));
}

sim::v1::Behaviour ToProto(const SimBehaviour& b) {
  sim::v1::Behaviour out;
  out.set_fail_share(b.fail_share);
  out.set_reject_share(b.reject_share);
  out.set_reject_kind(b.reject == RejectKind::kInvalid ? sim::v1::REJECT_KIND_INVALID
                                                       : sim::v1::REJECT_KIND_MAILBOX_CLOSED);
  *out.mutable_delay() = TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(b.delay));
  out.set_down(b.down);
  out.set_read_share(b.read_share);
  *out.mutable_read_delay() =
      TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(b.read_delay));
  *out.mutable_print_delay() =
      TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(b.print_delay));
  return out;
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::StatusOr<std::string> ReadKeyFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

struct MailboxSim::Provider {
  std::string id;
  crypto::SecretBytes key_pem;            // guarded by MailboxSim::mu_
  std::optional<SimBehaviour> behaviour;  // guarded by MailboxSim::mu_; none: the default
  double fail_accumulator = 0;            // guarded by MailboxSim::mu_
  double reject_accumulator = 0;          // guarded by MailboxSim::mu_
  double read_accumulator = 0;            // guarded by MailboxSim::mu_
  std::atomic<uint64_t> replays{0};
  std::atomic<uint64_t> injected_failures{0};
  std::atomic<uint64_t> injected_rejections{0};
  std::atomic<uint64_t> undecryptable{0};
};

MailboxSim::MailboxSim(MailboxSimConfig config, SimStore& store, const common::Clock& clock,
                       Sleep sleep)
    : config_(std::move(config)),
      store_(store),
      clock_(clock),
      sleep_(std::move(sleep)),
      default_behaviour_(config_.behaviour) {}

MailboxSim::~MailboxSim() = default;

absl::Status MailboxSim::LoadProviders() {
  std::error_code ec;
  if (!fs::is_directory(config_.providers_dir, ec)) return absl::OkStatus();
  std::map<std::string, std::string> found;
  for (const fs::directory_entry& entry : fs::directory_iterator(config_.providers_dir, ec)) {
    const std::string id = entry.path().filename().string();
    if (!IsProviderId(id) || !fs::exists(entry.path() / "key.pem", ec)) continue;
    UTPOST_ASSIGN_OR_RETURN(found[id], ReadKeyFile(entry.path() / "key.pem"));
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("listing ", config_.providers_dir.string(), ": ", ec.message()));
  }
  std::lock_guard lock(mu_);
  for (auto& [id, pem] : found) {
    std::unique_ptr<Provider>& p = providers_[id];
    if (p == nullptr) {
      p = std::make_unique<Provider>();
      p->id = id;
    }
    p->key_pem = crypto::SecretBytes(pem);
    crypto::Wipe(pem);
  }
  return absl::OkStatus();
}

std::vector<std::string> MailboxSim::ProviderIds() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& entry : providers_) ids.push_back(entry.first);
  return ids;
}

SimBehaviour MailboxSim::BehaviourOf(std::string_view provider_id) const {
  std::lock_guard lock(mu_);
  auto it = providers_.find(std::string(provider_id));
  if (it != providers_.end() && it->second->behaviour.has_value()) return *it->second->behaviour;
  return default_behaviour_;
}

bool MailboxSim::Hits(double share, double& accumulator) {
  if (share <= 0) return false;
  accumulator += share;
  // The epsilon keeps shares such as 0.1 exact over ten calls despite rounding.
  if (accumulator >= 1 - 1e-9) {
    accumulator -= 1;
    return true;
  }
  return false;
}

absl::StatusOr<MailboxSim::Provider*> MailboxSim::Find(std::string_view provider_id) {
  if (provider_id.empty()) {
    return Invalid(absl::StrCat("the call has no ", kProviderIdHeader, " metadata"));
  }
  const std::string id(provider_id);
  if (IsProviderId(provider_id)) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      {
        std::lock_guard lock(mu_);
        auto it = providers_.find(id);
        if (it != providers_.end()) return it->second.get();
      }
      // A key made after start (e.g. by the registry's seed in another process).
      if (attempt == 0) UTPOST_RETURN_IF_ERROR(LoadProviders());
    }
  }
  return absl::FailedPreconditionError(
      absl::StrCat("this endpoint does not serve provider id \"",
                   common::Av(IsProviderId(provider_id) ? provider_id : "(invalid)"), "\""));
}

absl::StatusOr<MailboxSim::Provider*> MailboxSim::Admit(std::string_view provider_id, Call call) {
  UTPOST_ASSIGN_OR_RETURN(Provider * provider, Find(provider_id));
  SimBehaviour behaviour;
  bool fail = false;
  {
    std::lock_guard lock(mu_);
    behaviour = provider->behaviour.value_or(default_behaviour_);
    if (!behaviour.down && call != Call::kOther) {
      fail = Hits(behaviour.fail_share, provider->fail_accumulator);
    }
  }
  if (behaviour.down) {
    ++provider->injected_failures;
    return absl::UnavailableError("the provider is down (simulated)");
  }
  if (fail) {
    ++provider->injected_failures;
    return absl::UnavailableError("the provider failed for a moment (simulated)");
  }
  // Streams wait at their end, when the whole content has arrived.
  if (call == Call::kOther && behaviour.delay > absl::ZeroDuration()) sleep_(behaviour.delay);
  return provider;
}

absl::Status MailboxSim::MaybeReject(Provider& provider) {
  SimBehaviour behaviour;
  bool reject = false;
  {
    std::lock_guard lock(mu_);
    behaviour = provider.behaviour.value_or(default_behaviour_);
    reject = Hits(behaviour.reject_share, provider.reject_accumulator);
  }
  if (!reject) return absl::OkStatus();
  ++provider.injected_rejections;
  if (behaviour.reject == RejectKind::kInvalid) {
    return Invalid("letter refused by the provider (simulated)");
  }
  return absl::FailedPreconditionError("mailbox closed (simulated)");
}

bool MailboxSim::WillBeRead(Provider& provider) {
  std::lock_guard lock(mu_);
  const SimBehaviour& behaviour = provider.behaviour.value_or(default_behaviour_);
  return Hits(behaviour.read_share, provider.read_accumulator);
}

std::string MailboxSim::NewId() {
  const crypto::SecretBytes random = crypto::SecretBytes::Random(16);
  return absl::BytesToHexString(common::Av(random.view()));
}

// ---------------------------------------------------------------------------------------
// Deliver

class MailboxSim::DeliverySession final : public MailboxSim::Delivery {
 public:
  DeliverySession(MailboxSim& sim, Provider& provider) : sim_(sim), provider_(provider) {}
  ~DeliverySession() override {
    if (upload_started_ && !committed_) {
      // Best effort: Open removes what is left after a crash in the same way.
      (void)sim_.store_.DiscardUpload(upload_id_);
    }
    crypto::Wipe(envelope_);
    --sim_.open_streams_;
  }

  absl::Status Add(const provider::v1::DeliverRequest& request) override {
    switch (request.part_case()) {
      case provider::v1::DeliverRequest::kHeader:
        return Header(request.header());
      case provider::v1::DeliverRequest::kDocument:
        return Document(request.document());
      case provider::v1::DeliverRequest::kChunk:
        return Chunk(request.chunk());
      case provider::v1::DeliverRequest::PART_NOT_SET:
        break;
    }
    return Invalid("a DeliverRequest must carry a header, a document or a chunk");
  }

  absl::StatusOr<provider::v1::DeliverResponse> Finish() override {
    if (!have_header_) return Invalid("the stream ended before its header");
    if (current_ + 1 != static_cast<int64_t>(header_.document_count()) || received_ != declared_) {
      return Invalid(absl::StrCat("the stream ended after ", current_ + 1, " of ",
                                  header_.document_count(), " documents"));
    }
    const SimBehaviour behaviour = sim_.BehaviourOf(provider_.id);
    if (behaviour.delay > absl::ZeroDuration()) sim_.sleep_(behaviour.delay);
    if (existing_.has_value()) return Replay(*existing_);
    common::KeyedMutex::Lock lock(sim_.commit_locks_,
                                  absl::StrCat(provider_.id, "/", header_.letter_id()));
    // Another stream of the same letter may have committed while this one was receiving.
    UTPOST_ASSIGN_OR_RETURN(std::optional<sim::v1::SimLetter> existing,
                            sim_.store_.GetLetter(provider_.id, header_.letter_id()));
    if (existing.has_value()) {
      if (upload_started_) UTPOST_RETURN_IF_ERROR(sim_.store_.DiscardUpload(upload_id_));
      upload_started_ = false;
      return Replay(*existing);
    }
    const absl::Time now = sim_.clock_.Now();
    letter_.set_letter_id(header_.letter_id());
    letter_.set_mailbox_address(header_.mailbox_address());
    letter_.set_sender(header_.sender());
    letter_.set_delivery_id(sim_.NewId());
    *letter_.mutable_delivered_time() = common::ToProto(now);
    letter_.set_upload_id(upload_id_);
    std::optional<provider::v1::Receipt> receipt;
    if (sim_.WillBeRead(provider_)) {
      letter_.set_read(true);
      const absl::Time due = now + behaviour.read_delay;
      receipt.emplace();
      receipt->set_receipt_id(SimStore::ReceiptId(due, header_.letter_id()));
      receipt->set_letter_id(header_.letter_id());
      receipt->set_kind(provider::v1::RECEIPT_KIND_READ);
      *receipt->mutable_time() = common::ToProto(due);
    }
    UTPOST_RETURN_IF_ERROR(sim_.store_.CommitLetter(provider_.id, letter_, receipt, held_));
    committed_ = true;
    provider::v1::DeliverResponse response;
    response.set_delivery_id(letter_.delivery_id());
    *response.mutable_delivered_time() = letter_.delivered_time();
    return response;
  }

 private:
  absl::StatusOr<provider::v1::DeliverResponse> Replay(const sim::v1::SimLetter& letter) {
    ++provider_.replays;
    provider::v1::DeliverResponse response;
    response.set_delivery_id(letter.delivery_id());
    *response.mutable_delivered_time() = letter.delivered_time();
    response.set_replayed(true);
    return response;
  }

  absl::Status Header(const provider::v1::DeliverHeader& header) {
    if (have_header_) return Invalid("the header must come first, once");
    if (!common::DecodeLetterId(header.letter_id()).ok()) {
      return Invalid("header.letter_id must be a letter id of 26 characters");
    }
    if (header.mailbox_address().empty() || header.mailbox_address().size() > kMaxAddress) {
      return Invalid("header.mailbox_address must be 1..254 characters");
    }
    if (header.document_count() < 1 || header.document_count() > kMaxDocuments) {
      return Invalid("header.document_count must be 1..100");
    }
    header_ = header;
    have_header_ = true;
    UTPOST_ASSIGN_OR_RETURN(existing_, sim_.store_.GetLetter(provider_.id, header.letter_id()));
    // A letter already in the mailbox is answered as delivered, whatever the behaviour.
    if (existing_.has_value()) return absl::OkStatus();
    UTPOST_RETURN_IF_ERROR(sim_.MaybeReject(provider_));
    upload_id_ = sim_.NewId();
    return absl::OkStatus();
  }

  absl::Status Document(const provider::v1::DocumentStart& document) {
    if (!have_header_) return Invalid("the header must come first");
    if (received_ != declared_) {
      return Invalid(absl::StrCat("document ", current_, " ended after ", received_, " of ",
                                  declared_, " bytes"));
    }
    if (document.index() != static_cast<uint32_t>(current_ + 1) ||
        document.index() >= header_.document_count()) {
      return Invalid(absl::StrCat("document.index must be ", current_ + 1));
    }
    if (document.envelope_size() < 1) return Invalid("document.envelope_size must be positive");
    if (document.envelope_size() > sim_.config_.max_document_bytes) {
      return Invalid(absl::StrCat(
          "document ", document.index(), ": an envelope of ", document.envelope_size(),
          " bytes is larger than the provider accepts (", sim_.config_.max_document_bytes, ")"));
    }
    current_ = document.index();
    declared_ = document.envelope_size();
    received_ = 0;
    chunks_ = 0;
    media_type_ = document.media_type();
    return absl::OkStatus();
  }

  absl::Status Chunk(const std::string& chunk) {
    if (current_ < 0) return Invalid("a chunk must follow a document");
    if (chunk.empty() || chunk.size() > kMaxChunkBytes) {
      return Invalid("chunk must be 1..262144 bytes");
    }
    if (chunk.size() > declared_ - received_) {
      return Invalid(absl::StrCat("document ", current_, " is longer than its envelope_size"));
    }
    if (!existing_.has_value()) {
      UTPOST_RETURN_IF_ERROR(Keep(chunk));
      envelope_.append(chunk);
    }
    received_ += chunk.size();
    ++chunks_;
    if (received_ == declared_ && !existing_.has_value()) return CheckDocument();
    return absl::OkStatus();
  }

  // Holds the chunk, with the rest of its document's envelope, for the commit (one segment
  // append and one batch) while the letter's envelopes fit in kHeldBytes; past that, starts
  // the upload (its marker, then what is held, as chunk 0 of each part) and stores each
  // chunk as it comes.
  absl::Status Keep(const std::string& chunk) {
    const auto part = static_cast<uint32_t>(current_);
    if (!upload_started_ && held_bytes_ + chunk.size() <= kHeldBytes) {
      if (held_.empty() || held_.back().part != part) held_.push_back({part, {}});
      held_.back().bytes.append(chunk);
      held_bytes_ += chunk.size();
      return absl::OkStatus();
    }
    if (!upload_started_) {
      UTPOST_RETURN_IF_ERROR(sim_.store_.BeginUpload(upload_id_));
      upload_started_ = true;
      for (const SimStore::HeldPart& held : held_) {
        UTPOST_RETURN_IF_ERROR(sim_.store_.PutChunk(upload_id_, held.part, 0, held.bytes));
      }
      held_.clear();
      held_bytes_ = 0;
    }
    return sim_.store_.PutChunk(upload_id_, part, chunks_, chunk);
  }

  // Proves the document can be read, without keeping what it reads.
  absl::Status CheckDocument() {
    std::string key;
    {
      std::lock_guard lock(sim_.mu_);
      key = std::string(provider_.key_pem.view());
    }
    const absl::Status opened =
        crypto::CmsDecryptTo(key, envelope_, [](std::string_view) { return absl::OkStatus(); });
    crypto::Wipe(key);
    crypto::Wipe(envelope_);
    if (!opened.ok()) {
      if (opened.code() != absl::StatusCode::kInvalidArgument) return opened;
      ++provider_.undecryptable;
      return Invalid(absl::StrCat("document ", current_,
                                  " does not decrypt with the provider's key: ", opened.message()));
    }
    sim::v1::SimDocument* doc = letter_.add_documents();
    doc->set_index(static_cast<uint32_t>(current_));
    doc->set_media_type(media_type_);
    doc->set_envelope_size(declared_);
    doc->set_chunks(chunks_);
    return absl::OkStatus();
  }

  MailboxSim& sim_;
  Provider& provider_;
  bool have_header_ = false;
  provider::v1::DeliverHeader header_;
  std::optional<sim::v1::SimLetter> existing_;
  std::string upload_id_;
  bool upload_started_ = false;
  bool committed_ = false;
  int64_t current_ = -1;
  uint64_t declared_ = 0;
  uint64_t received_ = 0;
  uint32_t chunks_ = 0;
  std::string media_type_;
  std::string envelope_;                  // the current document's envelope, until it is checked
  std::vector<SimStore::HeldPart> held_;  // envelopes for the commit (see Keep)
  size_t held_bytes_ = 0;
  sim::v1::SimLetter letter_;
};

absl::StatusOr<std::unique_ptr<MailboxSim::Delivery>> MailboxSim::StartDelivery(
    std::string_view provider_id) {
  UTPOST_ASSIGN_OR_RETURN(Provider * provider, Admit(provider_id, Call::kDeliver));
  if (++open_streams_ > config_.max_streams) {
    --open_streams_;
    return absl::ResourceExhaustedError("too many deliveries at once; retry with backoff");
  }
  return std::make_unique<DeliverySession>(*this, *provider);
}

// ---------------------------------------------------------------------------------------
// Print batches

class MailboxSim::BatchSession final : public MailboxSim::BatchUpload {
 public:
  BatchSession(MailboxSim& sim, Provider& provider) : sim_(sim), provider_(provider) {}
  ~BatchSession() override {
    if (upload_started_ && !committed_) (void)sim_.store_.DiscardUpload(upload_id_);
    crypto::Wipe(envelope_);
    --sim_.open_streams_;
  }

  absl::Status Add(const provider::v1::SubmitBatchRequest& request) override {
    switch (request.part_case()) {
      case provider::v1::SubmitBatchRequest::kHeader:
        return Header(request.header());
      case provider::v1::SubmitBatchRequest::kChunk:
        return Chunk(request.chunk());
      case provider::v1::SubmitBatchRequest::PART_NOT_SET:
        break;
    }
    return Invalid("a SubmitBatchRequest must carry a header or a chunk");
  }

  absl::StatusOr<provider::v1::SubmitBatchResponse> Finish() override {
    if (!have_header_) return Invalid("the stream ended before its header");
    if (received_ != header_.envelope_size()) {
      return Invalid(absl::StrCat("the stream ended after ", received_, " of ",
                                  header_.envelope_size(), " bytes"));
    }
    const SimBehaviour behaviour = sim_.BehaviourOf(provider_.id);
    if (behaviour.delay > absl::ZeroDuration()) sim_.sleep_(behaviour.delay);
    provider::v1::SubmitBatchResponse replayed;
    replayed.set_replayed(true);
    if (existing_) {
      ++provider_.replays;
      return replayed;
    }
    UTPOST_RETURN_IF_ERROR(CheckBatch());
    common::KeyedMutex::Lock lock(sim_.commit_locks_,
                                  absl::StrCat(provider_.id, "/batch/", header_.batch_id()));
    UTPOST_ASSIGN_OR_RETURN(std::optional<sim::v1::SimBatch> existing,
                            sim_.store_.GetBatch(provider_.id, header_.batch_id()));
    if (existing.has_value()) {
      ++provider_.replays;
      return replayed;
    }
    const absl::Time now = sim_.clock_.Now();
    sim::v1::SimBatch batch;
    batch.set_batch_id(header_.batch_id());
    batch.set_letter_count(header_.letter_count());
    batch.set_envelope_size(header_.envelope_size());
    batch.set_chunks(chunks_);
    *batch.mutable_received_time() = common::ToProto(now);
    batch.set_upload_id(upload_id_);
    *batch.mutable_printed_time() = common::ToProto(now + behaviour.print_delay);
    UTPOST_RETURN_IF_ERROR(sim_.store_.CommitBatch(provider_.id, batch));
    committed_ = true;
    return provider::v1::SubmitBatchResponse();
  }

 private:
  absl::Status Header(const provider::v1::BatchHeader& header) {
    if (have_header_) return Invalid("the header must come first, once");
    if (!IsBatchId(header.batch_id())) {
      return Invalid("header.batch_id must be 1..64 characters of [A-Za-z0-9-]");
    }
    if (header.letter_count() < 1) return Invalid("header.letter_count must be positive");
    if (header.envelope_size() < 1) return Invalid("header.envelope_size must be positive");
    if (header.envelope_size() > sim_.config_.max_batch_bytes) {
      return Invalid(absl::StrCat("an envelope of ", header.envelope_size(),
                                  " bytes is larger than the provider accepts (",
                                  sim_.config_.max_batch_bytes, ")"));
    }
    header_ = header;
    have_header_ = true;
    UTPOST_ASSIGN_OR_RETURN(std::optional<sim::v1::SimBatch> existing,
                            sim_.store_.GetBatch(provider_.id, header.batch_id()));
    existing_ = existing.has_value();
    if (existing_) return absl::OkStatus();
    if (absl::Status refused = sim_.MaybeReject(provider_); !refused.ok()) {
      return Invalid("batch refused by the print provider (simulated)");
    }
    upload_id_ = sim_.NewId();
    UTPOST_RETURN_IF_ERROR(sim_.store_.BeginUpload(upload_id_));
    upload_started_ = true;
    return absl::OkStatus();
  }

  absl::Status Chunk(const std::string& chunk) {
    if (!have_header_) return Invalid("the header must come first");
    if (chunk.empty() || chunk.size() > kMaxChunkBytes) {
      return Invalid("chunk must be 1..262144 bytes");
    }
    if (chunk.size() > header_.envelope_size() - received_) {
      return Invalid("the batch is longer than its envelope_size");
    }
    if (!existing_) {
      UTPOST_RETURN_IF_ERROR(sim_.store_.PutChunk(upload_id_, 0, chunks_, chunk));
      envelope_.append(chunk);
    }
    received_ += chunk.size();
    ++chunks_;
    return absl::OkStatus();
  }

  // Decrypts and parses the batch to prove it can be printed; keeps nothing of it.
  absl::Status CheckBatch() {
    std::string key;
    {
      std::lock_guard lock(sim_.mu_);
      key = std::string(provider_.key_pem.view());
    }
    absl::StatusOr<std::string> content = crypto::CmsDecrypt(key, envelope_);
    crypto::Wipe(key);
    crypto::Wipe(envelope_);
    if (!content.ok()) {
      if (content.status().code() != absl::StatusCode::kInvalidArgument) {
        return content.status();
      }
      ++provider_.undecryptable;
      return Invalid(absl::StrCat("the batch does not decrypt with the provider's key: ",
                                  content.status().message()));
    }
    provider::v1::SpoolBatch spool;
    const bool parsed = spool.ParseFromString(*content);
    crypto::Wipe(*content);
    if (!parsed) return Invalid("the batch's content is not a SpoolBatch");
    if (spool.batch_id() != header_.batch_id()) {
      return Invalid("the SpoolBatch's batch_id differs from the header's");
    }
    if (static_cast<uint32_t>(spool.letters_size()) != header_.letter_count()) {
      return Invalid(absl::StrCat("the SpoolBatch holds ", spool.letters_size(),
                                  " letters; the header says ", header_.letter_count()));
    }
    for (int i = 0; i < spool.letters_size(); ++i) {
      if (spool.letters(i).documents_size() == 0) {
        return Invalid(absl::StrCat("letter ", i, " of the SpoolBatch has no documents"));
      }
    }
    return absl::OkStatus();
  }

  MailboxSim& sim_;
  Provider& provider_;
  bool have_header_ = false;
  provider::v1::BatchHeader header_;
  bool existing_ = false;
  std::string upload_id_;
  bool upload_started_ = false;
  bool committed_ = false;
  uint64_t received_ = 0;
  uint32_t chunks_ = 0;
  std::string envelope_;
};

absl::StatusOr<std::unique_ptr<MailboxSim::BatchUpload>> MailboxSim::StartBatch(
    std::string_view provider_id) {
  UTPOST_ASSIGN_OR_RETURN(Provider * provider, Admit(provider_id, Call::kSubmit));
  if (++open_streams_ > config_.max_streams) {
    --open_streams_;
    return absl::ResourceExhaustedError("too many submissions at once; retry with backoff");
  }
  return std::make_unique<BatchSession>(*this, *provider);
}

absl::StatusOr<provider::v1::GetBatchResponse> MailboxSim::GetBatch(
    std::string_view provider_id, const provider::v1::GetBatchRequest& request) {
  UTPOST_ASSIGN_OR_RETURN(Provider * provider, Admit(provider_id, Call::kOther));
  if (!IsBatchId(request.batch_id())) {
    return Invalid("batch_id must be 1..64 characters of [A-Za-z0-9-]");
  }
  UTPOST_ASSIGN_OR_RETURN(std::optional<sim::v1::SimBatch> batch,
                          store_.GetBatch(provider->id, request.batch_id()));
  if (!batch.has_value()) return absl::NotFoundError("no such batch");
  provider::v1::GetBatchResponse response;
  if (clock_.Now() >= common::FromProto(batch->printed_time())) {
    response.set_state(provider::v1::BATCH_STATE_PRINTED);
    *response.mutable_time() = batch->printed_time();
  } else {
    response.set_state(provider::v1::BATCH_STATE_RECEIVED);
    *response.mutable_time() = batch->received_time();
  }
  return response;
}

// ---------------------------------------------------------------------------------------
// Receipts

absl::StatusOr<provider::v1::PullReceiptsResponse> MailboxSim::PullReceipts(
    std::string_view provider_id, const provider::v1::PullReceiptsRequest& request) {
  UTPOST_ASSIGN_OR_RETURN(Provider * provider, Admit(provider_id, Call::kOther));
  if (request.max_receipts() < 1 || request.max_receipts() > kMaxIdsPerCall) {
    return Invalid("max_receipts must be 1..1000");
  }
  UTPOST_ASSIGN_OR_RETURN(std::vector<provider::v1::Receipt> due,
                          store_.DueReceipts(provider->id, clock_.Now(), request.max_receipts()));
  provider::v1::PullReceiptsResponse response;
  for (provider::v1::Receipt& r : due) *response.add_receipts() = std::move(r);
  return response;
}

absl::StatusOr<provider::v1::AcknowledgeReceiptsResponse> MailboxSim::AcknowledgeReceipts(
    std::string_view provider_id, const provider::v1::AcknowledgeReceiptsRequest& request) {
  UTPOST_ASSIGN_OR_RETURN(Provider * provider, Admit(provider_id, Call::kOther));
  if (request.receipt_ids_size() < 1 ||
      static_cast<size_t>(request.receipt_ids_size()) > kMaxIdsPerCall) {
    return Invalid("receipt_ids must hold 1..1000 ids");
  }
  std::vector<std::string> ids(request.receipt_ids().begin(), request.receipt_ids().end());
  UTPOST_RETURN_IF_ERROR(store_.AcknowledgeReceipts(provider->id, ids));
  return provider::v1::AcknowledgeReceiptsResponse();
}

// ---------------------------------------------------------------------------------------
// Control

absl::StatusOr<sim::v1::SetBehaviourResponse> MailboxSim::SetBehaviour(
    const sim::v1::SetBehaviourRequest& request) {
  Provider* provider = nullptr;
  if (!request.provider_id().empty()) {
    absl::StatusOr<Provider*> found = Find(request.provider_id());
    if (!found.ok()) {
      return absl::NotFoundError(absl::StrCat(
          "the simulator does not serve provider id \"",
          IsProviderId(request.provider_id()) ? request.provider_id() : std::string("(invalid)"),
          "\""));
    }
    provider = *found;
  } else if (request.reset()) {
    return Invalid("reset needs a provider_id (the default has nothing to go back to)");
  }
  std::lock_guard lock(mu_);
  if (provider != nullptr && request.reset()) {
    provider->behaviour.reset();
    sim::v1::SetBehaviourResponse response;
    *response.mutable_behaviour() = ToProto(default_behaviour_);
    return response;
  }
  SimBehaviour b =
      provider != nullptr ? provider->behaviour.value_or(default_behaviour_) : default_behaviour_;
  if (request.has_fail_share()) b.fail_share = request.fail_share();
  if (request.has_reject_share()) b.reject_share = request.reject_share();
  if (request.reject_kind() == sim::v1::REJECT_KIND_MAILBOX_CLOSED) {
    b.reject = RejectKind::kMailboxClosed;
  } else if (request.reject_kind() == sim::v1::REJECT_KIND_INVALID) {
    b.reject = RejectKind::kInvalid;
  } else if (request.reject_kind() != sim::v1::REJECT_KIND_UNSPECIFIED) {
    return Invalid("reject_kind is not a known kind");
  }
  if (request.has_delay()) b.delay = FromProto(request.delay());
  if (request.has_down()) b.down = request.down();
  if (request.has_read_share()) b.read_share = request.read_share();
  if (request.has_read_delay()) b.read_delay = FromProto(request.read_delay());
  if (request.has_print_delay()) b.print_delay = FromProto(request.print_delay());
  UTPOST_RETURN_IF_ERROR(ValidateBehaviour(b, ""));
  if (provider != nullptr) {
    provider->behaviour = b;
  } else {
    default_behaviour_ = b;
  }
  sim::v1::SetBehaviourResponse response;
  *response.mutable_behaviour() = ToProto(b);
  return response;
}

absl::StatusOr<sim::v1::GetStatusResponse> MailboxSim::GetStatus(
    const sim::v1::GetStatusRequest& request) {
  sim::v1::GetStatusResponse response;
  *response.mutable_time() = common::ToProto(clock_.Now());
  std::vector<std::pair<Provider*, SimBehaviour>> providers;
  {
    std::lock_guard lock(mu_);
    *response.mutable_default_behaviour() = ToProto(default_behaviour_);
    for (auto& [id, p] : providers_) {
      providers.emplace_back(p.get(), p->behaviour.value_or(default_behaviour_));
    }
  }
  for (auto& [p, behaviour] : providers) {
    UTPOST_ASSIGN_OR_RETURN(SimStore::Counts counts, store_.Count(p->id, request.list_mailboxes()));
    sim::v1::ProviderStatus* s = response.add_providers();
    s->set_provider_id(p->id);
    *s->mutable_behaviour() = ToProto(behaviour);
    {
      std::lock_guard lock(mu_);
      s->set_default_behaviour(!p->behaviour.has_value());
    }
    s->set_letters(counts.letters);
    s->set_duplicates(counts.duplicates);
    s->set_replays(p->replays.load());
    s->set_injected_failures(p->injected_failures.load());
    s->set_injected_rejections(p->injected_rejections.load());
    s->set_undecryptable_documents(p->undecryptable.load());
    s->set_receipts_unacknowledged(counts.receipts);
    s->set_batches(counts.batches);
    s->set_batch_letters(counts.batch_letters);
    for (const SimStore::MailboxCount& m : counts.mailboxes) {
      sim::v1::MailboxStatus* mailbox = s->add_mailboxes();
      mailbox->set_address(m.address);
      mailbox->set_letters(m.letters);
      for (const std::string& id : m.letter_ids) mailbox->add_letter_ids(id);
    }
  }
  return response;
}

}  // namespace utpost::mailbox_sim
