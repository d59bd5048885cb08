// utpost_bench_forms: citizen form submissions over mutual TLS, in two phases against one
// server.
//
//   submit         --concurrency portal workers, each with its own connection, loop:
//                  SubmitForm with one PDF attachment of --document-bytes (random bytes after
//                  the PDF header) and a fresh idempotency key. Every submission is encrypted
//                  to the municipality's certificate (one public-key operation) and written
//                  synced before the reply. Counted as utpost_loadgen counts letters.
//   fetch+ack      then --concurrency municipality workers drain what was submitted: each
//                  loops FetchSubmissions (up to 16 leased and streamed per call) and
//                  AcknowledgeSubmission of each, until a fetch finds nothing. Submissions
//                  acknowledged per second from the first fetch to the last acknowledgement.
//
// The form type "bench-form" (three fields, one PDF attachment, no receipt letter) is
// registered first, encrypted to the municipality's own client certificate. Prints one JSON
// object per phase (bench/run_stats.h) on stdout.
//
// Usage: utpost_bench_forms --config DIR/utpostctl.yaml --portal-config
//            DIR/utpostctl-NO991825827.yaml [--concurrency 16] [--document-bytes 65536]
//            [--duration 10] [--warmup 2] [--server-pid PID]
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/run_stats.h"
#include "bench/send_load.h"
#include "clients/cpp/form_client.h"
#include "clients/cpp/utpost_client.h"

namespace utpost::bench {
namespace {

constexpr char kFormType[] = "bench-form";
constexpr auto kErrorPause = std::chrono::milliseconds(10);

struct Flags : LoadFlags {
  std::string portal_config;
  std::string portal_org = "NO991825827";
  std::optional<int> server_pid;
};

absl::StatusOr<client::ConnectionOptions> Options(const std::string& config) {
  client::ConnectionOverrides overrides;
  overrides.config = config;
  return client::ResolveConnection(overrides);
}

v1::FormType BenchFormType(const std::string& certificate_pem, const v1::OrganisationId& portal,
                           uint64_t document_bytes) {
  v1::FormType type;
  type.set_form_type_id(kFormType);
  type.set_title("Benchmark form");
  type.set_version(1);
  auto add = [&](const char* name, v1::FieldKind kind) {
    v1::FormField* f = type.add_fields();
    f->set_name(name);
    f->set_label(name);
    f->set_kind(kind);
    f->set_required(true);
    return f;
  };
  add("name", v1::FIELD_KIND_TEXT)->mutable_text()->set_max_length(100);
  add("born", v1::FIELD_KIND_DATE);
  add("parent", v1::FIELD_KIND_NATIONAL_ID);
  type.mutable_attachments()->set_max_count(1);
  type.mutable_attachments()->set_max_bytes_each(document_bytes);
  type.mutable_attachments()->set_max_total_bytes(document_bytes);
  type.mutable_attachments()->add_media_types("application/pdf");
  *type.add_allowed_portals() = portal;
  type.set_encryption_certificate_pem(certificate_pem);
  return type;
}

v1::SubmitFormRequest BenchSubmission(const v1::OrganisationId& municipality,
                                      uint64_t document_bytes, std::mt19937_64& random) {
  v1::SubmitFormRequest request;
  *request.mutable_municipality() = municipality;
  request.set_form_type_id(kFormType);
  request.set_form_type_version(1);
  request.mutable_citizen()->set_norwegian_national_id("15076500565");
  auto value = [&](const char* name) {
    v1::FieldValue* v = request.add_values();
    v->set_name(name);
    return v;
  };
  value("name")->set_text("Kari Nordmann");
  value("born")->set_date("2021-05-01");
  value("parent")->set_national_id("02028234530");
  // The benchmark letter's document: a PDF header, then random bytes.
  v1::SendLetterRequest letter = MakeLetter(document_bytes, "utpost_bench_forms", random);
  v1::Attachment* a = request.add_attachments();
  a->set_filename("vedlegg.pdf");
  a->set_media_type("application/pdf");
  a->set_content(letter.documents(0).content());
  return request;
}

struct CpuProbe {
  double own = 0;
  std::optional<double> server;
  static CpuProbe Now(const std::optional<int>& pid) {
    CpuProbe p;
    p.own = OwnCpuSeconds();
    if (pid) p.server = ProcessCpuSeconds(*pid);
    return p;
  }
};

void AddCpu(nlohmann::ordered_json& out, const CpuProbe& begin, const CpuProbe& end,
            double seconds) {
  out["loadgen_cpu_cores"] = Round3((end.own - begin.own) / seconds);
  out["server_cpu_cores"] =
      begin.server && end.server
          ? nlohmann::ordered_json(Round3((*end.server - *begin.server) / seconds))
          : nlohmann::ordered_json(nullptr);
}

int Run(const Flags& flags) {
  absl::StatusOr<client::ConnectionOptions> municipality = Options(flags.config);
  absl::StatusOr<client::ConnectionOptions> portal = Options(flags.portal_config);
  if (!municipality.ok() || !portal.ok()) {
    std::cerr << "utpost_bench_forms: "
              << (municipality.ok() ? portal.status() : municipality.status()).message() << "\n";
    return 2;
  }
  std::ifstream cert_file(municipality->cert);
  std::stringstream cert;
  cert << cert_file.rdbuf();
  absl::StatusOr<v1::OrganisationId> portal_org =
      client::OrganisationFromIdentifier(flags.portal_org);
  absl::StatusOr<v1::OrganisationId> municipality_org =
      client::OrganisationFromIdentifier(portal->municipality);
  if (!portal_org.ok() || !municipality_org.ok()) {
    std::cerr << "utpost_bench_forms: --portal-org, or the portal config's municipality, is not "
                 "an organisation number\n";
    return 2;
  }
  {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = WorkerChannel(*municipality, 0);
    if (!channel.ok()) {
      std::cerr << "utpost_bench_forms: " << channel.status().message() << "\n";
      return 1;
    }
    client::FormClient forms(*channel, *municipality);
    absl::StatusOr<v1::RegisterFormTypeResponse> registered =
        forms.RegisterFormType(BenchFormType(cert.str(), *portal_org, flags.document_bytes));
    if (!registered.ok()) {
      std::cerr << "utpost_bench_forms: RegisterFormType: " << registered.status() << "\n";
      return 1;
    }
  }

  std::random_device seed;
  std::mt19937_64 random((static_cast<uint64_t>(seed()) << 32) ^ seed());
  const std::string run_id = absl::StrCat(absl::Hex(random(), absl::kZeroPad16));

  // Phase 1: submit.
  std::vector<std::unique_ptr<client::FormClient>> portals;
  std::vector<v1::SubmitFormRequest> requests;
  for (int i = 0; i < flags.concurrency; ++i) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = WorkerChannel(*portal, i);
    if (!channel.ok()) {
      std::cerr << "utpost_bench_forms: " << channel.status().message() << "\n";
      return 1;
    }
    portals.push_back(std::make_unique<client::FormClient>(*channel, *portal, absl::Seconds(60)));
    requests.push_back(BenchSubmission(*municipality_org, flags.document_bytes, random));
  }
  const Window window =
      Window::After(std::chrono::steady_clock::now(), flags.warmup_s, flags.duration_s);
  std::cerr << "utpost_bench_forms: submit: " << flags.concurrency << " portal workers, "
            << flags.document_bytes << "-byte attachment, " << flags.warmup_s << " s warm-up + "
            << flags.duration_s << " s against " << portal->address << "\n";
  ErrorSampler sampler("utpost_bench_forms");
  std::vector<WorkerStats> stats(flags.concurrency);
  std::atomic<uint64_t> submitted{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < flags.concurrency; ++i) {
    workers.emplace_back([&, i] {
      v1::SubmitFormRequest& request = requests[i];
      for (uint64_t n = 0;; ++n) {
        const SteadyTime begin = std::chrono::steady_clock::now();
        if (begin >= window.end) return;
        request.set_idempotency_key(absl::StrCat("bench-", run_id, "-", i, "-", n));
        absl::StatusOr<v1::SubmitFormResponse> response = portals[i]->Submit(request);
        const SteadyTime end = std::chrono::steady_clock::now();
        if (response.ok()) submitted.fetch_add(1);
        if (!response.ok()) sampler.Note(response.status());
        if (window.Counts(end)) {
          if (response.ok()) {
            stats[i].latencies_ns.push_back(
                std::chrono::duration_cast<std::chrono::nanoseconds>(end - begin).count());
          } else {
            ++stats[i].errors[absl::StatusCodeToString(response.status().code())];
          }
        }
        if (!response.ok()) std::this_thread::sleep_for(kErrorPause);
      }
    });
  }
  std::this_thread::sleep_until(window.start);
  const CpuProbe submit_begin = CpuProbe::Now(flags.server_pid);
  std::this_thread::sleep_until(window.end);
  const CpuProbe submit_end = CpuProbe::Now(flags.server_pid);
  for (std::thread& w : workers) w.join();
  workers.clear();
  nlohmann::ordered_json submit =
      Summarise({"forms submit", flags.concurrency, flags.document_bytes, window}, stats);
  AddCpu(submit, submit_begin, submit_end, window.Seconds());
  std::cout << submit.dump() << std::endl;

  // Phase 2: fetch and acknowledge everything submitted.
  std::vector<std::unique_ptr<client::FormClient>> cases;
  for (int i = 0; i < flags.concurrency; ++i) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        WorkerChannel(*municipality, flags.concurrency + i);
    if (!channel.ok()) {
      std::cerr << "utpost_bench_forms: " << channel.status().message() << "\n";
      return 1;
    }
    cases.push_back(
        std::make_unique<client::FormClient>(*channel, *municipality, absl::Seconds(60)));
  }
  std::cerr << "utpost_bench_forms: fetch+ack: " << submitted.load() << " submissions, "
            << flags.concurrency << " case-system workers\n";
  std::vector<WorkerStats> ack_stats(flags.concurrency);
  std::atomic<uint64_t> acknowledged{0};
  const SteadyTime drain_begin = std::chrono::steady_clock::now();
  const CpuProbe drain_cpu_begin = CpuProbe::Now(flags.server_pid);
  const SteadyTime deadline = drain_begin + std::chrono::minutes(10);
  for (int i = 0; i < flags.concurrency; ++i) {
    workers.emplace_back([&, i] {
      while (std::chrono::steady_clock::now() < deadline) {
        v1::FetchSubmissionsRequest request;
        request.set_max_submissions(16);
        request.set_form_type_id(kFormType);
        int got = 0;
        absl::Status fetched = cases[i]->Fetch(request, [&](const v1::FetchSubmissionsResponse& r) {
          ++got;
          const SteadyTime begin = std::chrono::steady_clock::now();
          absl::StatusOr<v1::AcknowledgeSubmissionResponse> ack =
              cases[i]->Acknowledge(r.submission().submission_id());
          const SteadyTime end = std::chrono::steady_clock::now();
          if (ack.ok()) {
            acknowledged.fetch_add(1);
            ack_stats[i].latencies_ns.push_back(
                std::chrono::duration_cast<std::chrono::nanoseconds>(end - begin).count());
          } else {
            sampler.Note(ack.status());
            ++ack_stats[i].errors[absl::StatusCodeToString(ack.status().code())];
          }
          return true;
        });
        if (!fetched.ok()) {
          sampler.Note(fetched);
          ++ack_stats[i].errors[absl::StatusCodeToString(fetched.code())];
          std::this_thread::sleep_for(kErrorPause);
          continue;
        }
        // Nothing pending that is not leased by another worker: done.
        if (got == 0) return;
      }
    });
  }
  for (std::thread& w : workers) w.join();
  const SteadyTime drain_end = std::chrono::steady_clock::now();
  const CpuProbe drain_cpu_end = CpuProbe::Now(flags.server_pid);
  const Window drain{drain_begin, drain_end};
  nlohmann::ordered_json ack =
      Summarise({"forms fetch+ack", flags.concurrency, flags.document_bytes, drain}, ack_stats);
  ack["submitted"] = submitted.load();
  AddCpu(ack, drain_cpu_begin, drain_cpu_end, drain.Seconds());
  if (flags.server_pid) {
    if (std::optional<double> rss = PeakRssMib(*flags.server_pid)) {
      ack["server_peak_rss_mib"] = *rss;
    }
  }
  std::cout << ack.dump() << std::endl;
  return acknowledged.load() == submitted.load() ? 0 : 1;
}

}  // namespace
}  // namespace utpost::bench

int main(int argc, char** argv) {
  utpost::bench::Flags flags;
  CLI::App cli{"utpost_bench_forms: SubmitForm, then FetchSubmissions + AcknowledgeSubmission"};
  AddLoadFlags(cli, flags, "the municipality's utpostctl.yaml written by utpost");
  cli.add_option("--portal-config", flags.portal_config,
                 "the portal's client config (utpostctl-NO991825827.yaml)")
      ->required();
  cli.add_option("--portal-org", flags.portal_org, "the portal's organisation number");
  cli.add_option("--server-pid", flags.server_pid, "server process: report its CPU and RSS");
  CLI11_PARSE(cli, argc, argv);
  return utpost::bench::Run(flags);
}
