#include "tests/testutil/test_stack.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace utpost::testutil {

std::string MakePdf(std::string_view marker, size_t size) {
  // A real one-page A4 PDF (print checks it): the marker and the padding are comments in an
  // uncompressed content stream, so the marker's bytes appear in the file as they are. At
  // least `size` bytes, and no more than a few beyond.
  auto build = [&marker](size_t padding) {
    std::string content = absl::StrCat("% ", common::Av(marker), "\n");
    if (padding > 0) {
      std::mt19937_64 rng(padding);
      content += "% ";
      for (size_t i = 0; i < padding; ++i) content.push_back(static_cast<char>('a' + rng() % 26));
      content += "\n";
    }
    content += "BT /F1 12 Tf 72 770 Td (utpost test document) Tj ET\n";
    const std::string objects[] = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        absl::StrCat("<< /Length ", content.size(), " >>\nstream\n", content, "endstream"),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    };
    std::string pdf = "%PDF-1.4\n% utpost test document\n";
    std::vector<size_t> offsets;
    for (size_t i = 0; i < std::size(objects); ++i) {
      offsets.push_back(pdf.size());
      absl::StrAppend(&pdf, i + 1, " 0 obj\n", objects[i], "\nendobj\n");
    }
    const size_t xref = pdf.size();
    absl::StrAppend(&pdf, "xref\n0 ", std::size(objects) + 1, "\n0000000000 65535 f \n");
    for (size_t offset : offsets) {
      char line[24];
      std::snprintf(line, sizeof(line), "%010zu 00000 n \n", offset);
      pdf += line;
    }
    absl::StrAppend(&pdf, "trailer\n<< /Size ", std::size(objects) + 1,
                    " /Root 1 0 R >>\nstartxref\n", xref, "\n%%EOF\n");
    return pdf;
  };
  std::string pdf = build(0);
  size_t padding = 0;
  while (pdf.size() < size) {
    padding += size - pdf.size();
    pdf = build(padding);
  }
  return pdf;
}

v1::SendLetterRequest AddressedLetterTo(std::string_view identifier, std::string_view marker,
                                        v1::SecurityLevel level) {
  v1::SendLetterRequest request = ValidLetter(marker);
  auto recipient = client::RecipientFromIdentifier(identifier);
  if (recipient.ok()) *request.mutable_recipient() = *recipient;
  request.mutable_options()->set_security_level(level);
  auto* address = request.mutable_postal_address();
  address->set_name("Kari Nordmann");
  address->add_address_lines("Storgata 1");
  address->set_postal_code("0155");
  address->set_city("Oslo");
  address->set_country_code("NO");
  return request;
}

void QuickDelivery(app::Config& c) {
  c.router.poll_interval = absl::Milliseconds(20);
  c.courier.poll_interval = absl::Milliseconds(20);
  c.courier.receipt_poll_interval = absl::Milliseconds(50);
  c.print.poll_interval = absl::Milliseconds(20);
  c.print.batch_window = absl::Seconds(1);
  c.print.status_poll_interval = absl::Milliseconds(100);
  c.mailbox_sim.behaviour.read_share = 1;
  c.mailbox_sim.behaviour.read_delay = absl::ZeroDuration();
  c.mailbox_sim.behaviour.print_delay = absl::ZeroDuration();
}

v1::SendLetterRequest ValidLetter(std::string_view marker, size_t document_bytes) {
  v1::SendLetterRequest request;
  request.mutable_recipient()->mutable_person()->set_norwegian_national_id(kCitizen);
  request.set_title("Vedtak om barnehageplass");
  auto* document = request.add_documents();
  document->set_filename("vedtak.pdf");
  document->set_media_type("application/pdf");
  document->set_content(MakePdf(marker, document_bytes));
  request.set_external_reference("2026/1234");
  return request;
}

std::unique_ptr<TestStack> TestStack::Start(std::filesystem::path data_dir,
                                            const std::function<void(app::Config&)>& tweak,
                                            std::string_view targets) {
  auto stack = std::unique_ptr<TestStack>(new TestStack());
  if (data_dir.empty()) {
    stack->owned_dir_ = std::make_unique<TempDir>();
    data_dir = stack->owned_dir_->path();
  }
  stack->data_dir_ = data_dir;
  app::Config config;
  config.data_dir = data_dir;
  config.listen = "127.0.0.1:0";
  config.ledger.worker_threads = 16;
  if (tweak) tweak(config);
  if (absl::Status s = app::Finalize(config); !s.ok()) {
    ADD_FAILURE() << s;
    return nullptr;
  }
  stack->app_ = std::make_unique<app::App>(config);
  if (absl::Status s = stack->app_->Init(targets); !s.ok()) {
    ADD_FAILURE() << s;
    return nullptr;
  }
  if (absl::Status s = stack->app_->Start(); !s.ok()) {
    ADD_FAILURE() << s;
    return nullptr;
  }
  return stack;
}

TestStack::~TestStack() { Stop(); }

ledger::LedgerModule& TestStack::ledger() const {
  service::Module* module = app_->FindModule(ledger::kLedgerComponent);
  if (module == nullptr) std::abort();  // every test stack runs the ledger
  return static_cast<ledger::LedgerModule&>(*module);
}

void TestStack::Stop() {
  if (app_) app_->Stop();
}

client::ConnectionOptions TestStack::Connection(std::string_view org_key) const {
  client::ConnectionOverrides overrides;
  overrides.config = app_->ClientConfigPath(org_key).string();
  absl::StatusOr<client::ConnectionOptions> options = client::ResolveConnection(overrides);
  if (!options.ok()) {
    ADD_FAILURE() << options.status();
    return {};
  }
  // The tests assert on what the server answers, not on how fast a loaded machine connects.
  options->wait_for_ready = true;
  return *options;
}

client::LetterClient TestStack::Client(std::string_view org_key) const {
  client::ConnectionOptions options = Connection(org_key);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = client::Connect(options);
  if (!channel.ok()) ADD_FAILURE() << channel.status();
  return client::LetterClient(*channel, options, absl::Seconds(30));
}

}  // namespace utpost::testutil
