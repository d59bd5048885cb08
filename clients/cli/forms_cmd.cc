#include "clients/cli/forms_cmd.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "clients/cli/output.h"
#include "clients/cli/submission_files.h"
#include "clients/cpp/form_client.h"
#include "clients/cpp/form_type_file.h"
#include "common/field_violations.h"

namespace utpost::cli {
namespace {

absl::Status Wrong(const std::string& flag, absl::string_view what) {
  return common::FieldError(absl::StatusCode::kInvalidArgument, flag, std::string(what));
}

std::string Lower(const std::string& enum_name, std::string_view prefix) {
  std::string s = enum_name;
  if (s.rfind(prefix, 0) == 0) s = s.substr(prefix.size());
  return absl::AsciiStrToLower(s);
}

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(t.seconds()),
                          absl::LocalTimeZone());
}

std::string OrgText(const v1::OrganisationId& o) {
  return o.has_norwegian_org_number() ? "NO" + o.norwegian_org_number() : "DK" + o.danish_cvr();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// `name=value` as the FieldValue the form type's field `name` takes.
absl::StatusOr<v1::FieldValue> ToValue(const v1::FormType& type, const std::string& flag) {
  const size_t eq = flag.find('=');
  if (eq == std::string::npos || eq == 0) return Wrong("--field", "is name=value");
  v1::FieldValue value;
  value.set_name(flag.substr(0, eq));
  const std::string text = flag.substr(eq + 1);
  const v1::FormField* field = nullptr;
  for (const auto& f : type.fields()) {
    if (f.name() == value.name()) field = &f;
  }
  if (field == nullptr) {
    std::string known;
    for (const auto& f : type.fields())
      absl::StrAppend(&known, known.empty() ? "" : ", ", f.name());
    return Wrong("--field", absl::StrCat("form type ", type.form_type_id(), " has no field '",
                                         value.name(), "' (its fields: ", known, ")"));
  }
  switch (field->kind()) {
    case v1::FIELD_KIND_NUMBER: {
      double d;
      if (!absl::SimpleAtod(text, &d)) {
        return Wrong("--field", absl::StrCat(value.name(), " is a number"));
      }
      value.set_number(d);
      break;
    }
    case v1::FIELD_KIND_DATE:
      value.set_date(text);
      break;
    case v1::FIELD_KIND_CHOICE:
      value.set_choice(text);
      break;
    case v1::FIELD_KIND_NATIONAL_ID:
      value.set_national_id(text);
      break;
    case v1::FIELD_KIND_ORG_NUMBER:
      value.set_org_number(text);
      break;
    case v1::FIELD_KIND_EMAIL:
      value.set_email(text);
      break;
    case v1::FIELD_KIND_PHONE:
      value.set_phone(text);
      break;
    default:
      value.set_text(text);
      break;
  }
  return value;
}

void PrintSubmissionHeader() {
  std::cout << absl::StrFormat("%-26s %-18s %-9s %-19s %-19s %s\n", "SUBMISSION", "FORM", "STATE",
                               "RECEIVED", "CHANGED", "ATTACHMENTS");
}

void PrintSubmission(const v1::SubmissionInfo& s) {
  std::cout << absl::StrFormat("%-26s %-18s %-9s %-19s %-19s %d\n", s.submission_id(),
                               absl::StrCat(s.form_type_id(), " v", s.form_type_version()),
                               Lower(v1::SubmissionState_Name(s.state()), "SUBMISSION_STATE_"),
                               Time(s.receipt_time()), Time(s.state_time()), s.attachment_count());
}

template <typename T>
int Done(const absl::StatusOr<T>& response, bool json, const std::function<void(const T&)>& text) {
  if (!response.ok()) return Report(response.status());
  if (json) {
    PrintJson(*response);
  } else {
    text(*response);
  }
  return 0;
}

int Register(FormsCommand& c, client::FormClient& forms, const client::ConnectionOptions& options,
             bool json) {
  std::string certificate;
  const std::string certificate_path =
      c.certificate.empty() ? options.cert.string() : c.certificate;
  if (!certificate_path.empty()) {
    absl::StatusOr<std::string> pem = ReadFile(certificate_path);
    if (!pem.ok()) return Report(Wrong("--certificate", pem.status().message()));
    certificate = *std::move(pem);
  }
  absl::StatusOr<v1::FormType> type = client::ReadFormTypeFile(c.file, certificate);
  if (!type.ok()) return Report(Wrong("file", type.status().message()));
  return Done<v1::RegisterFormTypeResponse>(
      forms.RegisterFormType(*type), json, [](const v1::RegisterFormTypeResponse& r) {
        std::cout << "form type " << r.form_type().form_type_id() << " version "
                  << r.form_type().version() << (r.replayed() ? " (unchanged)" : " registered")
                  << " for " << OrgText(r.form_type().municipality()) << "\n";
      });
}

int Submit(FormsCommand& c, client::FormClient& forms, const client::ConnectionOptions& options,
           bool json) {
  const std::string municipality_text =
      c.municipality.empty() ? options.municipality : c.municipality;
  if (municipality_text.empty()) {
    return Report(Wrong("--municipality", "is required: the municipality the form is for"));
  }
  absl::StatusOr<v1::OrganisationId> municipality =
      client::OrganisationFromIdentifier(municipality_text);
  if (!municipality.ok()) return Report(Wrong("--municipality", municipality.status().message()));
  absl::StatusOr<v1::FormType> type = forms.GetFormType(c.type, &*municipality);
  if (!type.ok()) return Report(type.status());

  v1::SubmitFormRequest request;
  *request.mutable_municipality() = *municipality;
  request.set_form_type_id(c.type);
  request.set_form_type_version(c.version == 0 ? type->version() : c.version);
  absl::StatusOr<v1::Recipient> citizen = client::RecipientFromIdentifier(c.citizen);
  if (!citizen.ok() || !citizen->has_person()) {
    return Report(Wrong("--citizen", "is a national id or D-number (11 digits) or a CPR number"));
  }
  *request.mutable_citizen() = citizen->person();
  for (const std::string& f : c.fields) {
    absl::StatusOr<v1::FieldValue> value = ToValue(*type, f);
    if (!value.ok()) return Report(value.status());
    *request.add_values() = *std::move(value);
  }
  for (const std::string& path : c.attachments) {
    absl::StatusOr<std::string> content = ReadFile(path);
    if (!content.ok()) return Report(Wrong("--attach", content.status().message()));
    v1::Attachment* a = request.add_attachments();
    a->set_filename(std::filesystem::path(path).filename().string());
    a->set_media_type(client::MediaTypeForFile(path));
    a->set_content(*std::move(content));
  }
  request.set_idempotency_key(c.idempotency_key.empty() ? NewIdempotencyKey() : c.idempotency_key);
  // Retries reuse the idempotency key: a retry after a lost reply cannot submit twice.
  absl::StatusOr<v1::SubmitFormResponse> response;
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(250 << attempt));
    response = forms.Submit(request);
    if (response.ok() || !client::IsRetryable(response.status())) break;
  }
  return Done<v1::SubmitFormResponse>(response, json, [](const v1::SubmitFormResponse& r) {
    std::cout << r.submission_id() << " received " << Time(r.receipt_time())
              << (r.receipt_letter_id().empty()
                      ? ""
                      : absl::StrCat(" (receipt letter ", r.receipt_letter_id(), ")"))
              << "\n";
  });
}

int Fetch(FormsCommand& c, client::FormClient& forms, bool json) {
  if (!c.decrypt_key.empty() && c.out.empty()) {
    return Report(Wrong("--out", "is required with --decrypt-key: where to write the files"));
  }
  v1::FetchSubmissionsRequest request;
  request.set_max_submissions(c.max);
  request.set_form_type_id(c.type);
  absl::Status failure;
  int fetched = 0;
  if (!json) PrintSubmissionHeader();
  absl::Status status = forms.Fetch(request, [&](const v1::FetchSubmissionsResponse& r) {
    const v1::SubmissionInfo& info = r.submission();
    ++fetched;
    if (!c.out.empty()) {
      const std::filesystem::path dir = std::filesystem::path(c.out) / info.submission_id();
      if (c.decrypt_key.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(c.out, ec);
        std::ofstream file(std::filesystem::path(c.out) / (info.submission_id() + ".cms"),
                           std::ios::binary | std::ios::trunc);
        file.write(r.envelope().data(), static_cast<std::streamsize>(r.envelope().size()));
        if (!file) failure = absl::UnavailableError("cannot write to " + c.out);
      } else {
        absl::StatusOr<std::string> mime = DecryptEnvelope(r.envelope(), c.decrypt_key);
        absl::StatusOr<std::vector<SubmissionPart>> parts =
            mime.ok() ? SplitSubmissionMime(*mime) : mime.status();
        absl::StatusOr<std::vector<std::filesystem::path>> written =
            parts.ok() ? WriteSubmissionParts(dir, *parts) : parts.status();
        if (!written.ok()) {
          failure = absl::Status(written.status().code(), absl::StrCat(info.submission_id(), ": ",
                                                                       written.status().message()));
          return false;
        }
      }
    }
    if (json) {
      PrintJson(info);
    } else {
      PrintSubmission(info);
    }
    if (c.acknowledge && failure.ok()) {
      absl::StatusOr<v1::AcknowledgeSubmissionResponse> ack =
          forms.Acknowledge(info.submission_id());
      if (!ack.ok()) failure = ack.status();
    }
    return failure.ok();
  });
  if (!failure.ok()) return Report(failure);
  if (!status.ok()) return Report(status);
  if (!json && fetched == 0) std::cout << "(no pending submissions)\n";
  if (!json && fetched > 0 && !c.out.empty()) {
    std::cout << "written to " << c.out
              << (c.decrypt_key.empty() ? " (CMS envelopes: openssl cms -decrypt -inform DER)"
                                        : " (one directory per submission)")
              << (c.acknowledge ? "" : "; acknowledge each with: utpostctl forms ack ID") << "\n";
  }
  return 0;
}

int List(FormsCommand& c, client::FormClient& forms, bool json) {
  v1::ListSubmissionsRequest request;
  request.set_page_size(c.limit);
  request.set_page_token(c.page_token);
  request.set_form_type_id(c.type);
  if (!c.state.empty()) {
    v1::SubmissionState state;
    if (!v1::SubmissionState_Parse("SUBMISSION_STATE_" + absl::AsciiStrToUpper(c.state), &state)) {
      return Report(Wrong("--state", "is pending, archived or rejected"));
    }
    request.set_state(state);
  }
  return Done<v1::ListSubmissionsResponse>(
      forms.ListSubmissions(request), json, [](const v1::ListSubmissionsResponse& r) {
        PrintSubmissionHeader();
        for (const auto& s : r.submissions()) PrintSubmission(s);
        if (!r.next_page_token().empty()) {
          std::cout << "more: --page-token " << r.next_page_token() << "\n";
        }
      });
}

}  // namespace

std::unique_ptr<FormsCommand> AddFormsCommand(CLI::App& cli) {
  auto c = std::make_unique<FormsCommand>();
  c->forms = cli.add_subcommand("forms", "citizen form submissions: form types, submit, fetch");
  c->forms->require_subcommand(1);
  // Global options (-o json, --timeout, ...) are also taken after the subcommand.
  c->forms->fallthrough();

  c->register_ = c->forms->add_subcommand("register", "register or update a form type from a file");
  c->register_->add_option("file", c->file, "form type, YAML or JSON (examples/forms/)")
      ->required();
  c->register_->add_option("--certificate", c->certificate,
                           "PEM certificate submissions are encrypted to, unless the file names "
                           "one (default: your client certificate)");

  c->types = c->forms->add_subcommand("types", "list your form types");

  c->submit = c->forms->add_subcommand("submit", "submit a form (as a portal); prints its id");
  c->submit->add_option("--type", c->type, "form type id")->required();
  c->submit->add_option("--municipality", c->municipality,
                        "the municipality's org number (default: the client config's "
                        "`municipality`)");
  c->submit->add_option("--citizen", c->citizen, "the citizen's national id, as logged in")
      ->required();
  c->submit->add_option("--field", c->fields, "name=value (repeat)");
  c->submit->add_option("--attach", c->attachments, "attachment file (repeat)");
  c->submit->add_option("--version", c->version, "form type version (default: the current one)");
  c->submit->add_option("--idempotency-key", c->idempotency_key,
                        "makes retries safe (default: a fresh key, reused by this command's "
                        "retries)");

  c->fetch = c->forms->add_subcommand(
      "fetch", "fetch pending submissions (offered again unless acknowledged in time)");
  c->fetch->add_option("--max", c->max, "submissions at most (1..100)")
      ->check(CLI::Range(1u, 100u));
  c->fetch->add_option("--type", c->type, "only this form type");
  c->fetch->add_option("--decrypt-key", c->decrypt_key,
                       "your private key (PEM): decrypt into --out/<id>/ (submission.json and "
                       "the attachments)");
  c->fetch->add_option("--out", c->out, "directory to write to (without --decrypt-key: <id>.cms)");
  c->fetch->add_flag("--ack", c->acknowledge, "acknowledge each submission once written");

  c->ack = c->forms->add_subcommand("ack", "acknowledge (archive) a fetched submission");
  c->ack->add_option("submission_id", c->submission_id, "submission id")->required();

  c->reject = c->forms->add_subcommand(
      "reject", "reject a submission; the citizen is sent a notice letter with the reason");
  c->reject->add_option("submission_id", c->submission_id, "submission id")->required();
  c->reject->add_option("--reason", c->reason, "why, in words the citizen understands")->required();

  c->list = c->forms->add_subcommand("list", "list submissions (metadata only), newest first");
  c->list->add_option("--state", c->state, "pending, archived or rejected");
  c->list->add_option("--type", c->type, "only this form type");
  c->list->add_option("--limit", c->limit, "submissions per page (1..1000)");
  c->list->add_option("--page-token", c->page_token, "continue from a previous page");
  for (CLI::App* sub : {c->register_, c->types, c->submit, c->fetch, c->ack, c->reject, c->list}) {
    sub->fallthrough();
  }
  return c;
}

int RunFormsCommand(FormsCommand& c, const client::ConnectionOverrides& overrides, bool json,
                    int timeout_seconds) {
  absl::StatusOr<client::ConnectionOptions> options = client::ResolveConnection(overrides);
  if (!options.ok()) return Report(options.status());
  auto channel = client::Connect(*options);
  if (!channel.ok()) return Report(channel.status());
  client::FormClient forms(*channel, *options, absl::Seconds(timeout_seconds));

  if (c.register_->parsed()) return Register(c, forms, *options, json);
  if (c.submit->parsed()) return Submit(c, forms, *options, json);
  if (c.fetch->parsed()) return Fetch(c, forms, json);
  if (c.list->parsed()) return List(c, forms, json);
  if (c.types->parsed()) {
    v1::ListFormTypesRequest request;
    request.set_page_size(100);
    return Done<v1::ListFormTypesResponse>(
        forms.ListFormTypes(request), json, [](const v1::ListFormTypesResponse& r) {
          std::cout << absl::StrFormat("%-24s %-8s %-8s %s\n", "FORM TYPE", "VERSION", "FIELDS",
                                       "TITLE");
          for (const auto& t : r.form_types()) {
            std::cout << absl::StrFormat("%-24s %-8d %-8d %s\n", t.form_type_id(), t.version(),
                                         t.fields_size(), t.title());
          }
        });
  }
  if (c.ack->parsed()) {
    return Done<v1::AcknowledgeSubmissionResponse>(
        forms.Acknowledge(c.submission_id), json, [](const v1::AcknowledgeSubmissionResponse& r) {
          std::cout << r.submission().submission_id() << " archived"
                    << (r.replayed() ? " (already)" : "") << "\n";
        });
  }
  if (c.reject->parsed()) {
    return Done<v1::RejectSubmissionResponse>(
        forms.Reject(c.submission_id, c.reason), json, [](const v1::RejectSubmissionResponse& r) {
          std::cout << r.submission().submission_id() << " rejected"
                    << (r.replayed() ? " (already)" : "")
                    << (r.submission().notice_letter_id().empty()
                            ? ""
                            : absl::StrCat("; notice letter ", r.submission().notice_letter_id()))
                    << "\n";
        });
  }
  return 0;
}

}  // namespace utpost::cli
