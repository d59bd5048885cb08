// utpost_registry_import: imports --rows registry rows through RegistryService.Import (one
// client stream over mutual TLS, messages of 1000 rows, as `utpostctl registry import`
// sends them) into a running `utpost --target=registry`, and prints the time it took.
//
// Rows: distinct valid Norwegian national ids; 60 % with a digital mailbox at the dev
// provider, 10 % reserved, 30 % without a mailbox; each with a postal address.
// One JSON object is printed on stdout: {"label", "rows", "seconds", "rows_per_s",
// "imported", "errors"}; progress goes to stderr.
//
// Usage: utpost_registry_import --config DATA/utpostctl.yaml [--rows 1000000] [--label TEXT]
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "clients/cpp/registry_client.h"

namespace utpost::bench {
namespace {

// Yields distinct valid national ids: birth dates from 1 Jan 1940 on, individual numbers
// 000..499 (born 1900..1999), check digits computed; combinations without valid check
// digits are skipped.
class NationalIds {
 public:
  std::string Next() {
    for (;;) {
      const absl::CivilDay day = absl::CivilDay(1940, 1, 1) + day_;
      const int individual = individual_;
      if (++individual_ == 500) {
        individual_ = 0;
        ++day_;
      }
      int d[11];
      const std::string base =
          absl::StrFormat("%02d%02d%02d%03d", day.day(), day.month(), day.year() % 100, individual);
      for (int i = 0; i < 9; ++i) d[i] = base[i] - '0';
      static constexpr int kW1[9] = {3, 7, 6, 1, 8, 9, 4, 5, 2};
      static constexpr int kW2[10] = {5, 4, 3, 2, 7, 6, 5, 4, 3, 2};
      int sum = 0;
      for (int i = 0; i < 9; ++i) sum += d[i] * kW1[i];
      int k1 = (11 - sum % 11) % 11;
      if (k1 == 10) continue;
      d[9] = k1;
      sum = 0;
      for (int i = 0; i < 10; ++i) sum += d[i] * kW2[i];
      int k2 = (11 - sum % 11) % 11;
      if (k2 == 10) continue;
      return absl::StrCat(base, k1, k2);
    }
  }

 private:
  int day_ = 0;
  int individual_ = 0;
};

v1::RegistryEntry Row(uint64_t n, const std::string& id) {
  v1::RegistryEntry e;
  v1::PersonEntry* p = e.mutable_person();
  p->mutable_id()->set_norwegian_national_id(id);
  if (n % 10 < 6) {
    p->mutable_mailbox()->set_provider_id("dev");
    p->mutable_mailbox()->set_address(absl::StrCat("person", n, "@dev"));
  } else if (n % 10 == 6) {
    p->set_reserved(true);
  }
  v1::PostalAddress* a = p->mutable_postal_address();
  a->set_name(absl::StrCat("Person ", n));
  a->add_address_lines(absl::StrCat("Gate ", n % 997 + 1));
  a->set_postal_code(absl::StrFormat("%04d", n % 9000 + 1000));
  a->set_city("Oslo");
  a->set_country_code("NO");
  return e;
}

int Run(int argc, char** argv) {
  CLI::App cli{"utpost_registry_import: time an import of registry rows"};
  std::string config;
  uint64_t rows = 1'000'000;
  std::string label = "registry import";
  cli.add_option("--config", config, "utpostctl.yaml the server wrote")->required();
  cli.add_option("--rows", rows, "rows to import");
  cli.add_option("--label", label, "label in the output");
  CLI11_PARSE(cli, argc, argv);

  client::ConnectionOverrides overrides;
  overrides.config = config;
  absl::StatusOr<client::ConnectionOptions> options = client::ResolveConnection(overrides);
  if (!options.ok()) {
    std::fprintf(stderr, "%s\n", options.status().ToString().c_str());
    return 1;
  }
  options->wait_for_ready = true;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = client::Connect(*options);
  if (!channel.ok()) {
    std::fprintf(stderr, "%s\n", channel.status().ToString().c_str());
    return 1;
  }
  client::RegistryClient registry(*channel, *options);

  NationalIds ids;
  const absl::Time start = absl::Now();
  absl::Time shown = start;
  auto stream = registry.StartImport();
  v1::ImportRequest batch;
  uint64_t sent = 0;
  for (uint64_t n = 0; n < rows; ++n) {
    v1::ImportRow* row = batch.add_rows();
    row->set_line(n + 1);
    *row->mutable_entry() = Row(n, ids.Next());
    if (batch.rows_size() == 1000 || n + 1 == rows) {
      if (!stream->Write(batch)) break;
      sent += batch.rows_size();
      batch.Clear();
      if (absl::Now() - shown > absl::Seconds(5)) {
        shown = absl::Now();
        std::fprintf(stderr, "%llu rows, %.0f rows/s\n", static_cast<unsigned long long>(sent),
                     static_cast<double>(sent) / absl::ToDoubleSeconds(shown - start));
      }
    }
  }
  absl::StatusOr<v1::ImportResponse> response = stream->Finish();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!response.ok()) {
    std::fprintf(stderr, "import failed: %s\n", response.status().ToString().c_str());
    return 1;
  }
  std::cout << absl::StrFormat(
      "{\"label\": \"%s\", \"rows\": %d, \"seconds\": %.2f, \"rows_per_s\": %.0f, "
      "\"imported\": %d, \"errors\": %d}\n",
      label, rows, seconds, static_cast<double>(response->imported()) / seconds,
      response->imported(), response->error_count());
  return response->imported() == rows ? 0 : 1;
}

}  // namespace
}  // namespace utpost::bench

int main(int argc, char** argv) { return utpost::bench::Run(argc, argv); }
