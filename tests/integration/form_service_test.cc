// FormService through the real App (RocksDB, OpenSSL, gRPC over mutual TLS): a municipality
// registers a form type, the dev portal submits, the municipality fetches, decrypts with
// `openssl cms -decrypt` and its own key, acknowledges or rejects. Delivery semantics (leases,
// restarts, tenancy, idempotency, receipt and notice letters) and one test per class of bad
// input, each checking the code, the field path and that nothing was stored.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clients/cpp/form_client.h"
#include "common/field_violations.h"
#include "common/proto_time.h"
#include "common/strings.h"
#include "crypto/dev_pki.h"
#include "services/ledger/ledger_module.h"
#include "services/utpost/app.h"
#include "tests/testutil/http_get.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kPortal[] = "NO991825827";
constexpr char kFormType[] = "barnehageplass";
// A valid national id used only as the citizen of the plaintext test.
constexpr char kMarkerCitizen[] = "03118840746";

// The first violation's field of a status, or "" if it has none.
std::string FieldOf(const absl::Status& status) {
  std::optional<google::rpc::BadRequest> bad = common::GetBadRequest(status);
  if (!bad || bad->field_violations_size() == 0) return "";
  return bad->field_violations(0).field();
}

bool HasField(const absl::Status& status, std::string_view field) {
  std::optional<google::rpc::BadRequest> bad = common::GetBadRequest(status);
  if (!bad) return false;
  for (const auto& v : bad->field_violations()) {
    if (v.field() == field) return true;
  }
  return false;
}

v1::OrganisationId Org(std::string_view key) {
  v1::OrganisationId id;
  id.set_norwegian_org_number(std::string(key.substr(2)));
  return id;
}

// A PNG signature followed by `marker`: enough for the signature check.
std::string MakePng(std::string_view marker) {
  return absl::StrCat(common::Av(std::string_view("\x89PNG\r\n\x1a\n", 8)), "IHDR",
                      common::Av(marker));
}

class FormServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start() {
    stack_ = TestStack::Start(
        dir_.path(),
        [](app::Config& config) {
          config.forms.lease_time = absl::Seconds(2);
          config.metrics.listen = "127.0.0.1:0";
        },
        kLedgerOnly);
    ASSERT_NE(stack_, nullptr);
  }

  client::FormClient Forms(std::string_view org_key) const {
    client::ConnectionOptions options = stack_->Connection(org_key);
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = client::Connect(options);
    EXPECT_TRUE(channel.ok()) << channel.status();
    return client::FormClient(*channel, options, absl::Seconds(30));
  }

  fs::path ClientDir(std::string_view org_key) const {
    return crypto::DevClientDir(stack_->data_dir() / "pki", org_key);
  }

  v1::FormType FormType(std::string_view id = kFormType, std::string_view owner = kOslo) const {
    v1::FormType type;
    type.set_form_type_id(std::string(id));
    type.set_title("Søknad om barnehageplass");
    type.set_version(1);
    auto add = [&](const char* name, v1::FieldKind kind, bool required) {
      v1::FormField* f = type.add_fields();
      f->set_name(name);
      f->set_label(name);
      f->set_kind(kind);
      f->set_required(required);
      return f;
    };
    add("child_name", v1::FIELD_KIND_TEXT, true)->mutable_text()->set_max_length(100);
    add("child_birth_date", v1::FIELD_KIND_DATE, true)->mutable_date()->set_earliest("2015-01-01");
    v1::NumberLimits* hours = add("hours_per_week", v1::FIELD_KIND_NUMBER, false)->mutable_number();
    hours->set_min(0);
    hours->set_max(45);
    hours->set_integer_only(true);
    v1::ChoiceLimits* care = add("care_type", v1::FIELD_KIND_CHOICE, true)->mutable_choice();
    care->add_choices("full");
    care->add_choices("partial");
    add("parent_id", v1::FIELD_KIND_NATIONAL_ID, false);
    add("employer", v1::FIELD_KIND_ORG_NUMBER, false);
    add("email", v1::FIELD_KIND_EMAIL, false);
    add("phone", v1::FIELD_KIND_PHONE, false);
    add("notes", v1::FIELD_KIND_TEXT, false);
    v1::AttachmentRules* rules = type.mutable_attachments();
    rules->set_max_count(2);
    rules->set_max_bytes_each(256 << 10);
    rules->set_max_total_bytes(400 << 10);
    *type.add_allowed_portals() = Org(kPortal);
    type.set_encryption_certificate_pem(ReadAll(ClientDir(owner) / "client.pem"));
    type.set_receipt_letter(true);
    return type;
  }

  void Register(const v1::FormType& type, std::string_view owner = kOslo) {
    auto registered = Forms(owner).RegisterFormType(type);
    ASSERT_TRUE(registered.ok()) << registered.status();
  }

  v1::SubmitFormRequest Submission(std::string_view marker = "Kari Nordmann") const {
    v1::SubmitFormRequest request;
    *request.mutable_municipality() = Org(kOslo);
    request.set_form_type_id(kFormType);
    request.mutable_citizen()->set_norwegian_national_id(kCitizen);
    auto value = [&](const char* name) {
      v1::FieldValue* v = request.add_values();
      v->set_name(name);
      return v;
    };
    value("child_name")->set_text(std::string(marker));
    value("child_birth_date")->set_date("2021-05-01");
    value("hours_per_week")->set_number(41);
    value("care_type")->set_choice("full");
    value("email")->set_email("kari@example.no");
    value("phone")->set_phone("+47 22 33 44 55");
    v1::Attachment* a = request.add_attachments();
    a->set_filename("vedlegg.pdf");
    a->set_media_type("application/pdf");
    a->set_content(MakePdf(absl::StrCat("ATTACHMENT-", common::Av(marker)), 4096));
    return request;
  }

  std::vector<v1::FetchSubmissionsResponse> Fetch(std::string_view org_key = kOslo) {
    std::vector<v1::FetchSubmissionsResponse> fetched;
    v1::FetchSubmissionsRequest request;
    absl::Status status = Forms(org_key).Fetch(request, [&](const auto& response) {
      fetched.push_back(response);
      return true;
    });
    EXPECT_TRUE(status.ok()) << status;
    return fetched;
  }

  std::vector<v1::SubmissionInfo> ListAll(std::string_view org_key = kOslo) {
    auto listed = Forms(org_key).ListSubmissions(v1::ListSubmissionsRequest());
    EXPECT_TRUE(listed.ok()) << listed.status();
    if (!listed.ok()) return {};
    return {listed->submissions().begin(), listed->submissions().end()};
  }

  int LetterCount(std::string_view org_key = kOslo) {
    auto listed = stack_->Client(org_key).List(v1::ListLettersRequest());
    EXPECT_TRUE(listed.ok()) << listed.status();
    return listed.ok() ? listed->letters_size() : -1;
  }

  // Decrypts an envelope with the municipality's key using the openssl command.
  std::string Decrypt(const std::string& envelope, std::string_view org_key = kOslo) {
    const fs::path in = work_.path() / "envelope.der";
    const fs::path out = work_.path() / "submission.eml";
    std::ofstream(in, std::ios::binary) << envelope;
    const std::string command = absl::StrCat(
        "openssl cms -decrypt -inform DER -inkey '", (ClientDir(org_key) / "client.key").string(),
        "' -in '", in.string(), "' -out '", out.string(), "' 2>&1");
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    return ReadAll(out);
  }

  // A refused SubmitForm: its code and field, and nothing stored.
  void ExpectRefused(const v1::SubmitFormRequest& request, absl::StatusCode code,
                     std::string_view field, std::string_view as = kPortal) {
    auto submitted = Forms(as).Submit(request);
    ASSERT_FALSE(submitted.ok());
    EXPECT_EQ(submitted.status().code(), code) << submitted.status();
    EXPECT_TRUE(HasField(submitted.status(), field))
        << "expected field " << field << " in " << submitted.status();
    EXPECT_THAT(ListAll(), IsEmpty());
    EXPECT_EQ(LetterCount(), 0) << "a refused submission sends no receipt";
  }

  TempDir dir_;
  TempDir work_;
  std::unique_ptr<TestStack> stack_;
};

TEST_F(FormServiceTest, AFetchedSubmissionDecryptsWithOpensslAndTheMunicipalityKey) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  v1::Attachment* png = request.add_attachments();
  png->set_filename("tegning-æøå.png");
  png->set_media_type("image/png");
  png->set_content(MakePng("PNG-BYTES"));
  auto submitted = Forms(kPortal).Submit(request);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_EQ(submitted->submission_id().size(), 26u);

  std::vector<v1::FetchSubmissionsResponse> fetched = Fetch();
  ASSERT_EQ(fetched.size(), 1u);
  const v1::SubmissionInfo& info = fetched[0].submission();
  EXPECT_EQ(info.submission_id(), submitted->submission_id());
  EXPECT_EQ(info.state(), v1::SUBMISSION_STATE_PENDING);
  EXPECT_EQ(info.fetch_count(), 1u);
  EXPECT_EQ(info.attachment_count(), 2u);
  EXPECT_EQ(info.portal().norwegian_org_number(), "991825827");

  const std::string mime = Decrypt(fetched[0].envelope());
  EXPECT_THAT(mime, HasSubstr("Content-Type: multipart/mixed; boundary=\""));
  EXPECT_THAT(mime, HasSubstr("Content-Type: application/json; charset=utf-8"));
  EXPECT_THAT(mime, HasSubstr(absl::StrCat("\"submission_id\": \"", info.submission_id(), "\"")));
  EXPECT_THAT(mime, HasSubstr("\"form_type_id\": \"barnehageplass\", \"form_type_version\": 1"));
  EXPECT_THAT(mime, HasSubstr("\"citizen\": {\"norwegian_national_id\": \"15076500565\"}"));
  EXPECT_THAT(mime, HasSubstr("\"child_name\": \"Kari Nordmann\""));
  EXPECT_THAT(mime, HasSubstr("\"hours_per_week\": 41"));
  EXPECT_THAT(mime, HasSubstr("\"child_birth_date\": \"2021-05-01\""));
  EXPECT_THAT(mime, HasSubstr("\"portal\": \"NO991825827\""));
  // Each attachment's bytes, whole, after its headers.
  EXPECT_THAT(mime, HasSubstr(absl::StrCat("Content-Type: application/pdf\r\n"
                                           "Content-Disposition: attachment; "
                                           "filename=\"vedlegg.pdf\"\r\n"
                                           "Content-Transfer-Encoding: binary\r\n\r\n",
                                           request.attachments(0).content(), "\r\n--utpost-")));
  EXPECT_THAT(mime, HasSubstr(absl::StrCat("filename*=UTF-8''tegning-%C3%A6%C3%B8%C3%A5.png\r\n"
                                           "Content-Transfer-Encoding: binary\r\n\r\n",
                                           png->content(), "\r\n--utpost-")));

  auto acked = Forms(kOslo).Acknowledge(info.submission_id());
  ASSERT_TRUE(acked.ok()) << acked.status();
  EXPECT_EQ(acked->submission().state(), v1::SUBMISSION_STATE_ARCHIVED);
  EXPECT_FALSE(acked->replayed());
  auto again = Forms(kOslo).Acknowledge(info.submission_id());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  EXPECT_EQ(again->submission().state_time(), acked->submission().state_time());
  EXPECT_THAT(Fetch(), IsEmpty()) << "an archived submission is not offered again";
  std::vector<v1::SubmissionInfo> listed = ListAll();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state(), v1::SUBMISSION_STATE_ARCHIVED);
}

TEST_F(FormServiceTest, NoPlaintextOfASubmissionReachesTheDisk) {
  Register(FormType());
  const std::string field_marker = "UTPOST-FIELD-MARKER-4e1b";
  v1::SubmitFormRequest request = Submission(field_marker);
  request.mutable_citizen()->set_norwegian_national_id(kMarkerCitizen);
  // A large attachment too (blob files).
  request.mutable_attachments(0)->set_content(MakePdf("UTPOST-ATTACHMENT-MARKER-9a2c", 200 << 10));
  auto pending = Forms(kPortal).Submit(request);
  ASSERT_TRUE(pending.ok()) << pending.status();
  request.set_idempotency_key("second");
  auto rejected = Forms(kPortal).Submit(request);
  ASSERT_TRUE(rejected.ok()) << rejected.status();
  ASSERT_TRUE(Forms(kOslo).Reject(rejected->submission_id(), "Mangler vedlegg").ok());
  ASSERT_TRUE(stack_->ledger().db->FlushAll().ok());
  for (const std::string& marker :
       {field_marker, std::string("UTPOST-ATTACHMENT-MARKER-9a2c"), std::string(kMarkerCitizen)}) {
    EXPECT_THAT(FilesContaining(stack_->data_dir(), marker), IsEmpty()) << marker;
  }
}

TEST_F(FormServiceTest, PendingSubmissionsSurviveARestart) {
  Register(FormType());
  auto submitted = Forms(kPortal).Submit(Submission());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  stack_->Stop();
  stack_.reset();
  Start();
  std::vector<v1::FetchSubmissionsResponse> fetched = Fetch();
  ASSERT_EQ(fetched.size(), 1u);
  EXPECT_EQ(fetched[0].submission().submission_id(), submitted->submission_id());
  EXPECT_THAT(Decrypt(fetched[0].envelope()), HasSubstr("\"child_name\": \"Kari Nordmann\""));
}

TEST_F(FormServiceTest, AnUnacknowledgedSubmissionIsOfferedAgainAfterItsLeaseAndNotBefore) {
  Register(FormType());
  auto submitted = Forms(kPortal).Submit(Submission());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  std::vector<v1::FetchSubmissionsResponse> first = Fetch();
  ASSERT_EQ(first.size(), 1u);
  const absl::Time lease_end = common::FromProto(first[0].submission().lease_expire_time());
  EXPECT_GT(lease_end, absl::Now() - absl::Seconds(1));
  // Within the lease: not offered. (Only asserted while the lease surely holds.)
  std::vector<v1::FetchSubmissionsResponse> during = Fetch();
  if (absl::Now() < lease_end) {
    EXPECT_THAT(during, IsEmpty());
  }
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(lease_end - absl::Now()) +
                              std::chrono::milliseconds(50));
  std::vector<v1::FetchSubmissionsResponse> after = Fetch();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].submission().submission_id(), submitted->submission_id());
  EXPECT_EQ(after[0].submission().fetch_count(), 2u);
  EXPECT_EQ(after[0].envelope(), first[0].envelope());
  // An acknowledgement after the lease expired still archives it.
  ASSERT_TRUE(Forms(kOslo).Acknowledge(submitted->submission_id()).ok());
}

TEST_F(FormServiceTest, AMunicipalitySeesOnlyItsOwnSubmissions) {
  Register(FormType());
  auto submitted = Forms(kPortal).Submit(Submission());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_THAT(Fetch(kBergen), IsEmpty());
  EXPECT_THAT(ListAll(kBergen), IsEmpty());
  auto acked = Forms(kBergen).Acknowledge(submitted->submission_id());
  EXPECT_EQ(acked.status().code(), absl::StatusCode::kNotFound) << acked.status();
  auto rejected = Forms(kBergen).Reject(submitted->submission_id(), "not ours");
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kNotFound) << rejected.status();
  // Bergen's attempts changed nothing: Oslo still has it pending.
  std::vector<v1::FetchSubmissionsResponse> fetched = Fetch(kOslo);
  ASSERT_EQ(fetched.size(), 1u);
  EXPECT_EQ(fetched[0].submission().state(), v1::SUBMISSION_STATE_PENDING);
  EXPECT_EQ(LetterCount(kBergen), 0);
}

TEST_F(FormServiceTest, SubmitFormIsIdempotentByKey) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  request.set_idempotency_key("portal-42");
  auto first = Forms(kPortal).Submit(request);
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = Forms(kPortal).Submit(request);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  EXPECT_EQ(again->submission_id(), first->submission_id());
  EXPECT_EQ(again->receipt_letter_id(), first->receipt_letter_id());
  EXPECT_EQ(again->receipt_time(), first->receipt_time());
  request.mutable_values(0)->set_text("Per Hansen");
  auto other = Forms(kPortal).Submit(request);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists) << other.status();
  EXPECT_EQ(FieldOf(other.status()), "idempotency_key");
  EXPECT_EQ(ListAll().size(), 1u);
  EXPECT_EQ(LetterCount(), 1) << "one receipt letter";
}

// The stored fingerprint is keyed (GMAC under the ledger's fingerprint key, a nonce per
// record), so the same submission under two keys stores two unrelated fingerprints: a form can
// hold little more than an identity number, which an unkeyed hash would give away.
TEST_F(FormServiceTest, TheStoredFingerprintIsKeyedWithANonceOfItsOwn) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  std::vector<storage::v1::SubmissionIdempotencyRecord> records;
  for (const char* key : {"keyed-1", "keyed-2"}) {
    request.set_idempotency_key(key);
    // The key is part of what is fingerprinted; the nonce must differ all the same.
    auto sent = Forms(kPortal).Submit(request);
    ASSERT_TRUE(sent.ok()) << sent.status();
    auto record = stack_->ledger().forms_store->GetIdempotency(kPortal, key);
    ASSERT_TRUE(record.ok()) << record.status();
    ASSERT_TRUE(record->has_value());
    EXPECT_EQ((*record)->fingerprint_version(), 1u);
    EXPECT_EQ((*record)->fingerprint_nonce().size(), 12u);
    EXPECT_EQ((*record)->request_sha256().size(), 16u) << "a GMAC tag, not a SHA-256 digest";
    records.push_back(**record);
  }
  EXPECT_NE(records[0].fingerprint_nonce(), records[1].fingerprint_nonce());
  EXPECT_NE(records[0].request_sha256(), records[1].request_sha256());
}

TEST_F(FormServiceTest, ReceiptAndNoticeLettersGoThroughTheLetterPath) {
  Register(FormType());
  auto submitted = Forms(kPortal).Submit(Submission());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  ASSERT_FALSE(submitted->receipt_letter_id().empty());
  auto receipt = stack_->Client(kOslo).Get(submitted->receipt_letter_id());
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->letter().recipient().person().norwegian_national_id(), kCitizen);
  EXPECT_THAT(receipt->letter().title(), HasSubstr("Søknad om barnehageplass"));
  EXPECT_EQ(receipt->letter().external_reference(), submitted->submission_id());
  ASSERT_EQ(receipt->letter().documents_size(), 1);
  EXPECT_EQ(receipt->letter().documents(0).media_type(), "application/pdf");
  EXPECT_EQ(receipt->letter().status(), v1::LETTER_STATUS_ACCEPTED);
  auto pdf = stack_->ledger().ledger->ReadDocument(kOslo, submitted->receipt_letter_id(), 0);
  ASSERT_TRUE(pdf.ok()) << pdf.status();
  EXPECT_TRUE(pdf->starts_with("%PDF-"));

  auto rejected = Forms(kOslo).Reject(submitted->submission_id(), "Søknadsfristen er ute");
  ASSERT_TRUE(rejected.ok()) << rejected.status();
  EXPECT_EQ(rejected->submission().state(), v1::SUBMISSION_STATE_REJECTED);
  const std::string notice_id = rejected->submission().notice_letter_id();
  ASSERT_FALSE(notice_id.empty());
  auto notice = stack_->Client(kOslo).Get(notice_id);
  ASSERT_TRUE(notice.ok()) << notice.status();
  EXPECT_EQ(notice->letter().recipient().person().norwegian_national_id(), kCitizen);
  EXPECT_THAT(notice->letter().title(), HasSubstr("avvist"));
  // Idempotent: no second letter.
  auto again = Forms(kOslo).Reject(submitted->submission_id(), "Søknadsfristen er ute");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  EXPECT_EQ(again->submission().notice_letter_id(), notice_id);
  EXPECT_EQ(LetterCount(), 2);
  auto acked = Forms(kOslo).Acknowledge(submitted->submission_id());
  EXPECT_EQ(acked.status().code(), absl::StatusCode::kFailedPrecondition) << acked.status();
  EXPECT_THAT(Fetch(), IsEmpty());
}

// utpost_ledger_form_submissions_total counts what became durable, by the receiving
// municipality: a replay, a refusal or a repeated acknowledgement counts nothing.
TEST_F(FormServiceTest, SubmissionOutcomesAreCountedByMunicipality) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  request.set_idempotency_key("metrics-1");
  auto first = Forms(kPortal).Submit(request);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(Forms(kPortal).Submit(request).ok());  // replay
  auto second = Forms(kPortal).Submit(Submission("Per Hansen"));
  ASSERT_TRUE(second.ok()) << second.status();
  v1::SubmitFormRequest bad = Submission();
  bad.mutable_values(1)->set_date("2021-02-30");
  EXPECT_FALSE(Forms(kPortal).Submit(bad).ok());
  auto scrape = [&] {
    absl::StatusOr<std::string> body = HttpGet(stack_->app().metrics_port(), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return ParseMetrics(body.ok() ? *body : "");
  };
  const std::map<std::string, std::string> oslo = {{"municipality", kOslo}};
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<Sample> before = scrape();
  EXPECT_EQ(Find(before, "utpost_ledger_form_submissions_pending", oslo), 2);
  EXPECT_GT(Find(before, "utpost_ledger_form_submission_oldest_due_age_seconds", oslo).value_or(0),
            0);
  EXPECT_EQ(Fetch().size(), 2u);
  // Fetched: still pending, but under a lease, so none is waiting to be fetched.
  std::vector<Sample> leased = scrape();
  EXPECT_EQ(Find(leased, "utpost_ledger_form_submissions_pending", oslo), 2);
  EXPECT_EQ(Find(leased, "utpost_ledger_form_submission_oldest_due_age_seconds", oslo), 0);
  ASSERT_TRUE(Forms(kOslo).Acknowledge(first->submission_id()).ok());
  ASSERT_TRUE(Forms(kOslo).Acknowledge(first->submission_id()).ok());  // replay
  ASSERT_TRUE(Forms(kOslo).Reject(second->submission_id(), "Mangler vedlegg").ok());

  absl::StatusOr<std::string> body = HttpGet(stack_->app().metrics_port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  const std::vector<Sample> m = ParseMetrics(*body);
  auto count = [&](const char* outcome) {
    return Find(m, "utpost_ledger_form_submissions_total",
                {{"municipality", kOslo}, {"outcome", outcome}});
  };
  EXPECT_EQ(count("accepted"), 2);
  EXPECT_EQ(count("fetched"), 2);
  EXPECT_EQ(count("acknowledged"), 1);
  EXPECT_EQ(count("rejected"), 1);
  EXPECT_EQ(Find(m, "utpost_ledger_form_submissions_total", {{"municipality", kBergen}}),
            std::nullopt);
  EXPECT_EQ(Find(m, "utpost_ledger_form_submissions_pending", oslo), 0);
  EXPECT_EQ(Find(m, "utpost_grpc_server_handled_total",
                 {{"service", "utpost.v1.FormService"},
                  {"method", "SubmitForm"},
                  {"code", "INVALID_ARGUMENT"}}),
            1);
  // Neither a submission id nor the citizen in any label.
  EXPECT_EQ(body->find(first->submission_id()), std::string::npos);
  EXPECT_EQ(body->find(kCitizen), std::string::npos);
}

TEST_F(FormServiceTest, WithoutReceiptLetterNoLetterIsSent) {
  v1::FormType type = FormType();
  type.set_receipt_letter(false);
  Register(type);
  auto submitted = Forms(kPortal).Submit(Submission());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_TRUE(submitted->receipt_letter_id().empty());
  EXPECT_EQ(LetterCount(), 0);
}

TEST_F(FormServiceTest, RegisterFormTypeVersions) {
  v1::FormType type = FormType();
  Register(type);
  auto same = Forms(kOslo).RegisterFormType(type);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_TRUE(same->replayed());
  type.set_title("Endret tittel");
  auto changed = Forms(kOslo).RegisterFormType(type);
  EXPECT_EQ(changed.status().code(), absl::StatusCode::kAlreadyExists) << changed.status();
  EXPECT_EQ(FieldOf(changed.status()), "form_type.version");
  type.set_version(2);
  auto newer = Forms(kOslo).RegisterFormType(type);
  ASSERT_TRUE(newer.ok()) << newer.status();
  EXPECT_EQ(newer->form_type().municipality().norwegian_org_number(), "958935420");
  type.set_version(1);
  auto older = Forms(kOslo).RegisterFormType(type);
  EXPECT_EQ(older.status().code(), absl::StatusCode::kFailedPrecondition) << older.status();
  // The portal reads the definition; another organisation cannot.
  v1::OrganisationId oslo = Org(kOslo);
  auto read = Forms(kPortal).GetFormType(kFormType, &oslo);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->version(), 2u);
  EXPECT_EQ(Forms(kBergen).GetFormType(kFormType, &oslo).status().code(),
            absl::StatusCode::kNotFound);
  auto listed = Forms(kOslo).ListFormTypes(v1::ListFormTypesRequest());
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->form_types_size(), 1);
  // A portal filling in an older version is told so.
  v1::SubmitFormRequest request = Submission();
  request.set_form_type_version(1);
  ExpectRefused(request, absl::StatusCode::kFailedPrecondition, "form_type_version");
}

// --- Bad input: one test per class; each checks code, field path, and that nothing is stored.

TEST_F(FormServiceTest, UnknownFormTypeIsNotFound) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  request.set_form_type_id("byggesak");
  ExpectRefused(request, absl::StatusCode::kNotFound, "form_type_id");
}

TEST_F(FormServiceTest, AnotherMunicipalitysFormTypeIsNotFound) {
  Register(FormType());
  Register(FormType("byggesak", kBergen), kBergen);
  v1::SubmitFormRequest request = Submission();
  request.set_form_type_id("byggesak");  // Bergen's, submitted to Oslo
  ExpectRefused(request, absl::StatusCode::kNotFound, "form_type_id");
}

TEST_F(FormServiceTest, APortalThatIsNotAllowedIsRefused) {
  Register(FormType());
  ExpectRefused(Submission(), absl::StatusCode::kPermissionDenied, "form_type_id", kBergen);
}

TEST_F(FormServiceTest, AMissingRequiredFieldIsRefused) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  request.mutable_values()->DeleteSubrange(1, 1);  // child_birth_date
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values");
}

TEST_F(FormServiceTest, AnUnknownFieldIsRefused) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  v1::FieldValue* extra = request.add_values();
  extra->set_name("shoe_size");
  extra->set_number(38);
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[6].name");
}

TEST_F(FormServiceTest, AValueOfTheWrongKindIsRefused) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  request.mutable_values(1)->set_number(20210501);  // child_birth_date is a DATE
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[1].number");
}

TEST_F(FormServiceTest, AValueOverItsLimitIsRefused) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  request.mutable_values(0)->set_text(std::string(101, 'x'));  // max_length 100
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[0].text");
  request = Submission();
  request.mutable_values(2)->set_number(46);  // hours_per_week max 45
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[2].number");
  request = Submission();
  request.mutable_values(2)->set_number(12.5);  // whole numbers only
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[2].number");
  request = Submission();
  request.mutable_values(3)->set_choice("weekends");  // not a choice
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[3].choice");
}

TEST_F(FormServiceTest, ABadCheckDigitIsRefused) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  v1::FieldValue* parent = request.add_values();
  parent->set_name("parent_id");
  parent->set_national_id("15076500566");
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[6].national_id");
  request = Submission();
  v1::FieldValue* employer = request.add_values();
  employer->set_name("employer");
  employer->set_org_number("958935421");
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[6].org_number");
  request = Submission();
  request.mutable_citizen()->set_norwegian_national_id("15076500566");
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "citizen.norwegian_national_id");
}

TEST_F(FormServiceTest, AnImpossibleDateIsRefused) {
  Register(FormType());
  for (const char* date : {"2021-02-29", "2021-04-31", "2021-13-01", "21-05-01", "2014-12-31"}) {
    SCOPED_TRACE(date);
    v1::SubmitFormRequest request = Submission();
    request.mutable_values(1)->set_date(date);
    ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[1].date");
  }
  // A leap day that exists is fine.
  v1::SubmitFormRequest request = Submission();
  request.mutable_values(1)->set_date("2020-02-29");
  EXPECT_TRUE(Forms(kPortal).Submit(request).ok());
}

TEST_F(FormServiceTest, BadEmailAndPhoneAreRefused) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  request.mutable_values(4)->set_email("kari@localhost");
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[4].email");
  request = Submission();
  request.mutable_values(5)->set_phone("22-33");
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[5].phone");
}

TEST_F(FormServiceTest, TooManyOrTooLargeAttachmentsAreRefused) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  for (int i = 0; i < 2; ++i) {
    v1::Attachment* a = request.add_attachments();
    *a = request.attachments(0);
    a->set_filename(absl::StrCat("extra-", i, ".pdf"));
  }
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "attachments");
  request = Submission();
  request.mutable_attachments(0)->set_content(MakePdf("big", (256 << 10) + 1));
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "attachments[0].content");
  request = Submission();
  request.mutable_attachments(0)->set_content(MakePdf("big", 250 << 10));
  *request.add_attachments() = request.attachments(0);
  request.mutable_attachments(1)->set_filename("to.pdf");
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "attachments");  // 500 KiB > 400
}

TEST_F(FormServiceTest, AnAttachmentWhoseBytesAreNotItsMediaTypeIsRefused) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  request.mutable_attachments(0)->set_content(MakePng("disguised"));  // declared PDF
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "attachments[0].content");
  request = Submission();
  request.mutable_attachments(0)->set_media_type("image/jpeg");
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "attachments[0].content");
  request = Submission();
  request.mutable_attachments(0)->set_media_type("application/x-msdownload");  // not allowed
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "attachments[0].media_type");
}

TEST_F(FormServiceTest, AnInvalidFormTypeDefinitionIsRefused) {
  struct Case {
    const char* name;
    std::function<void(v1::FormType&)> spoil;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"bad id", [](v1::FormType& t) { t.set_form_type_id("Barnehage plass"); },
       "form_type.form_type_id"},
      {"version 0", [](v1::FormType& t) { t.set_version(0); }, "form_type.version"},
      {"no fields", [](v1::FormType& t) { t.clear_fields(); }, "form_type.fields"},
      {"duplicate field", [](v1::FormType& t) { t.mutable_fields(1)->set_name("child_name"); },
       "form_type.fields[1].name"},
      {"choice without choices", [](v1::FormType& t) { t.mutable_fields(3)->clear_choice(); },
       "form_type.fields[3].choice"},
      {"limits of another kind",
       [](v1::FormType& t) { t.mutable_fields(0)->mutable_number()->set_max(3); },
       "form_type.fields[0].number"},
      {"unspecified kind",
       [](v1::FormType& t) { t.mutable_fields(4)->set_kind(v1::FIELD_KIND_UNSPECIFIED); },
       "form_type.fields[4].kind"},
      {"impossible date limit",
       [](v1::FormType& t) { t.mutable_fields(1)->mutable_date()->set_earliest("2015-02-30"); },
       "form_type.fields[1].date.earliest"},
      {"no portal", [](v1::FormType& t) { t.clear_allowed_portals(); },
       "form_type.allowed_portals"},
      {"bad portal",
       [](v1::FormType& t) { t.mutable_allowed_portals(0)->set_norwegian_org_number("991825828"); },
       "form_type.allowed_portals[0].norwegian_org_number"},
      {"no certificate", [](v1::FormType& t) { t.clear_encryption_certificate_pem(); },
       "form_type.encryption_certificate_pem"},
      {"not a certificate",
       [](v1::FormType& t) { t.set_encryption_certificate_pem("-----BEGIN NONSENSE-----"); },
       "form_type.encryption_certificate_pem"},
      {"too many attachments",
       [](v1::FormType& t) { t.mutable_attachments()->set_max_count(1000); },
       "form_type.attachments.max_count"},
      {"bad media type", [](v1::FormType& t) { t.mutable_attachments()->add_media_types("PDF"); },
       "form_type.attachments.media_types[0]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::FormType type = FormType();
    c.spoil(type);
    auto registered = Forms(kOslo).RegisterFormType(type);
    ASSERT_FALSE(registered.ok());
    EXPECT_EQ(registered.status().code(), absl::StatusCode::kInvalidArgument)
        << registered.status();
    EXPECT_TRUE(HasField(registered.status(), c.field)) << registered.status();
  }
  auto listed = Forms(kOslo).ListFormTypes(v1::ListFormTypesRequest());
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->form_types_size(), 0) << "nothing was registered";
}

// --- Hostile input.

TEST_F(FormServiceTest, HostileSubmissionsAreRefusedAndStoreNothing) {
  Register(FormType());
  v1::SubmitFormRequest request = Submission();
  request.mutable_attachments(0)->clear_content();
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "attachments[0].content");

  request = Submission();
  request.mutable_values(2)->set_number(std::numeric_limits<double>::quiet_NaN());
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[2].number");

  request = Submission();
  request.mutable_values(0)->set_text("Kari\x1b[2JNordmann");  // terminal escape
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[0].text");

  request = Submission();
  request.mutable_values(0)->clear_value();
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[0]");

  request = Submission();
  *request.add_values() = request.values(0);  // the same field twice
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values[6].name");

  // More values than the server takes: refused on the wire, before any object is built.
  request = Submission();
  for (int i = 0; i < 5000; ++i) {
    v1::FieldValue* v = request.add_values();
    v->set_name("notes");
    v->set_text("x");
  }
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "values");

  request = Submission();
  request.mutable_attachments(0)->set_filename("../../etc/passwd");
  ExpectRefused(request, absl::StatusCode::kInvalidArgument, "attachments[0].filename");

  // An attachment far beyond the server's submission limit.
  request = Submission();
  request.mutable_attachments(0)->set_content(MakePdf("huge", 52 << 20));
  auto huge = Forms(kPortal).Submit(request);
  EXPECT_FALSE(huge.ok());
  EXPECT_THAT(ListAll(), IsEmpty());
}

TEST_F(FormServiceTest, FetchAndListRefuseBadArguments) {
  v1::FetchSubmissionsRequest fetch;
  fetch.set_max_submissions(100000);
  absl::Status status = Forms(kOslo).Fetch(fetch, [](const auto&) { return true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(FieldOf(status), "max_submissions");
  v1::ListSubmissionsRequest list;
  list.set_page_token("not-a-token");
  auto listed = Forms(kOslo).ListSubmissions(list);
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kInvalidArgument) << listed.status();
  EXPECT_EQ(FieldOf(listed.status()), "page_token");
  auto acked = Forms(kOslo).Acknowledge("not-an-id");
  EXPECT_EQ(acked.status().code(), absl::StatusCode::kInvalidArgument) << acked.status();
  EXPECT_EQ(FieldOf(acked.status()), "submission_id");
}

TEST_F(FormServiceTest, ListSubmissionsPagesNewestFirst) {
  Register(FormType());
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto submitted = Forms(kPortal).Submit(Submission());
    ASSERT_TRUE(submitted.ok()) << submitted.status();
    ids.push_back(submitted->submission_id());
  }
  ASSERT_TRUE(Forms(kOslo).Acknowledge(ids[1]).ok());
  std::vector<std::string> seen;
  v1::ListSubmissionsRequest request;
  request.set_page_size(2);
  do {
    auto page = Forms(kOslo).ListSubmissions(request);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& s : page->submissions()) seen.push_back(s.submission_id());
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  EXPECT_EQ(seen, (std::vector<std::string>{ids[4], ids[3], ids[2], ids[1], ids[0]}));
  v1::ListSubmissionsRequest archived;
  archived.set_state(v1::SUBMISSION_STATE_ARCHIVED);
  auto page = Forms(kOslo).ListSubmissions(archived);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->submissions_size(), 1);
  EXPECT_EQ(page->submissions(0).submission_id(), ids[1]);
}

}  // namespace
}  // namespace utpost::testutil
