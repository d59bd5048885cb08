// End to end with a real Prometheus: the App with every component (the seeded dev registry,
// the mailbox and print simulator) serving /metrics on 127.0.0.1:0, and Debian's `prometheus`
// binary on loopback scraping it every second with the chart's rules loaded
// (helm/utpost/rules). Letters take every channel; the digital-share recording rule, queried
// over Prometheus's HTTP API, must give the share of the letters sent; every query of every
// dashboard (helm/utpost/dashboards) must parse and return data.
//
// Prometheus extrapolates rate() to the edges of its window, per series. The letters are sent
// in two rounds: a first one before Prometheus starts, so that every series exists (with a
// value of the same order) at its first scrape, and the measured one after. Then every series
// of the rule has the same samples' times and the same extrapolation, and the ratio of the
// rates is the ratio of the letters of the measured round exactly.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "clients/cpp/form_client.h"
#include "crypto/dev_pki.h"
#include "tests/e2e/processes.h"
#include "tests/testutil/http_get.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

namespace fs = std::filesystem;

constexpr char kReserved[] = "02028234530";
constexpr char kNoMailbox[] = "17059121030";
constexpr char kSubstantialOnly[] = "09116441796";
constexpr char kOrgInbox[] = "921837003";
// A valid national id the dev registry does not know: no mailbox, no address.
constexpr char kUnknown[] = "01019010046";

std::string UrlEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// A Prometheus server on loopback, killed with the test.
class Prometheus {
 public:
  Prometheus(const fs::path& dir, int utpost_metrics_port) : dir_(dir), port_(FreePort()) {
    std::ofstream(dir / "prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "rule_files:\n  - "
        << (fs::path(UTPOST_SOURCE_DIR) / "helm/utpost/rules/*.yaml").string()
        << "\nscrape_configs:\n  - job_name: utpost\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << utpost_metrics_port << "']\n";
  }
  ~Prometheus() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  void Start() {
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const int fd = open((dir_ / "prometheus.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      const std::string config = absl::StrCat("--config.file=", (dir_ / "prometheus.yml").string());
      const std::string storage = absl::StrCat("--storage.tsdb.path=", (dir_ / "tsdb").string());
      const std::string listen = absl::StrCat("--web.listen-address=127.0.0.1:", port_);
      execlp("prometheus", "prometheus", config.c_str(), storage.c_str(), listen.c_str(),
             "--log.level=warn", static_cast<char*>(nullptr));
      _exit(127);
    }
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (absl::Now() < give_up) {
      if (HttpGet(port_, "/-/ready").ok()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "prometheus did not get ready:\n" << ReadAll(dir_ / "prometheus.log");
  }

  // The result of an instant query (data.result), or an error naming the query.
  absl::StatusOr<nlohmann::json> Query(std::string_view expr) const {
    absl::StatusOr<std::string> body =
        HttpGet(port_, absl::StrCat("/api/v1/query?query=", UrlEncode(expr)));
    if (!body.ok()) {
      return absl::Status(body.status().code(),
                          absl::StrCat(std::string(expr), ": ", body.status().message()));
    }
    nlohmann::json answer = nlohmann::json::parse(*body, nullptr, false);
    if (answer.is_discarded() || answer.value("status", "") != "success") {
      return absl::InvalidArgumentError(absl::StrCat(std::string(expr), ": ", *body));
    }
    return answer["data"]["result"];
  }

  // The single value of an instant query's vector, if it has exactly one sample.
  std::optional<double> Value(std::string_view expr) const {
    absl::StatusOr<nlohmann::json> result = Query(expr);
    if (!result.ok() || !result->is_array() || result->size() != 1) return std::nullopt;
    return std::stod((*result)[0]["value"][1].get<std::string>());
  }

  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
  int port_;
  pid_t pid_ = -1;
};

v1::SendLetterRequest LetterTo(std::string_view identifier, int n,
                               v1::SecurityLevel level = v1::SECURITY_LEVEL_UNSPECIFIED,
                               bool with_address = true) {
  v1::SendLetterRequest request = ValidLetter(absl::StrCat("prometheus-", n));
  auto recipient = client::RecipientFromIdentifier(identifier);
  EXPECT_TRUE(recipient.ok()) << recipient.status();
  if (recipient.ok()) *request.mutable_recipient() = *recipient;
  request.mutable_options()->set_security_level(level);
  if (with_address) {
    auto* address = request.mutable_postal_address();
    address->set_name("Kari Nordmann");
    address->add_address_lines("Storgata 1");
    address->set_postal_code("0155");
    address->set_city("Oslo");
    address->set_country_code("NO");
  }
  return request;
}

bool IsFinal(v1::LetterStatus status) {
  return status == v1::LETTER_STATUS_READ || status == v1::LETTER_STATUS_PRINTED ||
         status == v1::LETTER_STATUS_FAILED;
}

// One round of letters: `digital_mailbox` to the citizen with a mailbox, one to an
// organisation inbox (Oslo only), the rest to paper for three reasons, and, for Oslo, one
// that fails (no channel). Waits until each has reached its final status.
void SendRound(TestStack& stack, int oslo_digital, int bergen_digital, int* counter) {
  struct Letter {
    const char* org;
    v1::SendLetterRequest request;
  };
  std::vector<Letter> letters;
  for (int i = 0; i < oslo_digital; ++i) letters.push_back({kOslo, LetterTo(kCitizen, ++*counter)});
  letters.push_back({kOslo, LetterTo(kOrgInbox, ++*counter)});
  letters.push_back({kOslo, LetterTo(kReserved, ++*counter)});
  letters.push_back({kOslo, LetterTo(kNoMailbox, ++*counter)});
  letters.push_back({kOslo, LetterTo(kSubstantialOnly, ++*counter, v1::SECURITY_LEVEL_HIGH)});
  letters.push_back({kOslo, LetterTo(kUnknown, ++*counter, v1::SECURITY_LEVEL_UNSPECIFIED,
                                     /*with_address=*/false)});
  for (int i = 0; i < bergen_digital; ++i) {
    letters.push_back({kBergen, LetterTo(kCitizen, ++*counter)});
  }
  letters.push_back({kBergen, LetterTo(kReserved, ++*counter)});

  std::vector<std::pair<const char*, std::string>> ids;
  for (Letter& letter : letters) {
    auto sent = stack.Client(letter.org).Send(letter.request);
    ASSERT_TRUE(sent.ok()) << sent.status();
    ids.emplace_back(letter.org, sent->letter_id());
  }
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  for (const auto& [org, id] : ids) {
    client::LetterClient client = stack.Client(org);
    v1::LetterStatus status = v1::LETTER_STATUS_UNSPECIFIED;
    while (absl::Now() < give_up) {
      auto got = client.Get(id);
      ASSERT_TRUE(got.ok()) << got.status();
      status = got->letter().status();
      // The organisation inbox may not send read receipts: delivered is its end.
      if (IsFinal(status) || (status == v1::LETTER_STATUS_DELIVERED_DIGITALLY &&
                              got->letter().channel() == v1::CHANNEL_ORGANISATION_INBOX)) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(IsFinal(status) || status == v1::LETTER_STATUS_DELIVERED_DIGITALLY)
        << id << " stayed " << v1::LetterStatus_Name(status);
  }
}

client::FormClient Forms(TestStack& stack, std::string_view org_key) {
  client::ConnectionOptions options = stack.Connection(org_key);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = client::Connect(options);
  EXPECT_TRUE(channel.ok()) << channel.status();
  return client::FormClient(*channel, options, absl::Seconds(30));
}

// Form submissions to Oslo, so that the forms dashboard's series exist: two submitted by the
// dev portal, both fetched, one acknowledged and one rejected. The rejection's notice letter
// is waited for until it is read, so that the letter counts are settled before Prometheus
// starts.
void SubmitForms(TestStack& stack) {
  constexpr char kPortal[] = "NO991825827";
  v1::FormType type;
  type.set_form_type_id("melding");
  type.set_title("Melding til kommunen");
  type.set_version(1);
  v1::FormField* field = type.add_fields();
  field->set_name("text");
  field->set_label("Melding");
  field->set_kind(v1::FIELD_KIND_TEXT);
  field->set_required(true);
  field->mutable_text()->set_max_length(200);
  type.add_allowed_portals()->set_norwegian_org_number(std::string(kPortal).substr(2));
  type.set_encryption_certificate_pem(
      ReadAll(crypto::DevClientDir(stack.data_dir() / "pki", kOslo) / "client.pem"));
  ASSERT_TRUE(Forms(stack, kOslo).RegisterFormType(type).ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    v1::SubmitFormRequest request;
    request.mutable_municipality()->set_norwegian_org_number(std::string(kOslo).substr(2));
    request.set_form_type_id("melding");
    request.mutable_citizen()->set_norwegian_national_id(kCitizen);
    v1::FieldValue* value = request.add_values();
    value->set_name("text");
    value->set_text(absl::StrCat("Melding ", i));
    auto submitted = Forms(stack, kPortal).Submit(request);
    ASSERT_TRUE(submitted.ok()) << submitted.status();
    ids.push_back(submitted->submission_id());
  }
  int fetched = 0;
  ASSERT_TRUE(Forms(stack, kOslo)
                  .Fetch(v1::FetchSubmissionsRequest(),
                         [&](const v1::FetchSubmissionsResponse&) { return ++fetched > 0; })
                  .ok());
  EXPECT_EQ(fetched, 2);
  ASSERT_TRUE(Forms(stack, kOslo).Acknowledge(ids[0]).ok());
  auto rejected = Forms(stack, kOslo).Reject(ids[1], "Ufullstendig");
  ASSERT_TRUE(rejected.ok()) << rejected.status();
  const std::string notice = rejected->submission().notice_letter_id();
  ASSERT_FALSE(notice.empty());
  client::LetterClient oslo = stack.Client(kOslo);
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  v1::LetterStatus status = v1::LETTER_STATUS_UNSPECIFIED;
  while (absl::Now() < give_up && !IsFinal(status)) {
    auto got = oslo.Get(notice);
    ASSERT_TRUE(got.ok()) << got.status();
    status = got->letter().status();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(IsFinal(status)) << "the notice letter stayed " << v1::LetterStatus_Name(status);
}

TEST(PrometheusTest, DigitalShareRuleAndEveryDashboardQueryAgainstARealPrometheus) {
  if (std::system("command -v prometheus >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "the prometheus binary is not installed (Debian package prometheus; "
                    "tools/install-deps.sh installs it): this end-to-end test needs it";
  }
  auto stack = TestStack::Start({}, [](app::Config& c) {
    QuickDelivery(c);
    c.metrics.listen = "127.0.0.1:0";
  });
  ASSERT_NE(stack, nullptr);
  ASSERT_NO_FATAL_FAILURE(SubmitForms(*stack));
  int counter = 0;
  // Round one: every series comes to exist. Oslo 1 digital mailbox + 1 inbox : 3 paper;
  // Bergen 1 : 1.
  ASSERT_NO_FATAL_FAILURE(SendRound(*stack, 1, 1, &counter));

  Prometheus prometheus(stack->data_dir(), stack->app().metrics_port());
  ASSERT_NO_FATAL_FAILURE(prometheus.Start());
  // A few scrapes of round one's values first.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up &&
         prometheus.Value("count_over_time(up{job=\"utpost\"}[1m]) >= 4") == std::nullopt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_EQ(prometheus.Value("up{job=\"utpost\"}"), 1)
      << ReadAll(prometheus.dir() / "prometheus.log");

  // Round two, the measured one: Oslo 2 digital mailbox + 1 inbox : 3 paper (and one failed,
  // which is no channel); Bergen 2 : 1.
  ASSERT_NO_FATAL_FAILURE(SendRound(*stack, 2, 2, &counter));
  const std::map<std::string, double> expected = {
      {absl::StrCat("municipality:utpost_letters_digital_share:ratio_rate1h{municipality=\"", kOslo,
                    "\"}"),
       3.0 / 6.0},
      {absl::StrCat("municipality:utpost_letters_digital_share:ratio_rate1h{municipality=\"",
                    kBergen, "\"}"),
       2.0 / 3.0},
      {"utpost_letters_digital_share:ratio_rate1h", 5.0 / 9.0},
  };
  for (const auto& [expr, share] : expected) {
    std::optional<double> value;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      value = prometheus.Value(expr);
      if (value && std::abs(*value - share) < 1e-9) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    ASSERT_TRUE(value.has_value()) << expr << " has no value";
    EXPECT_NEAR(*value, share, 1e-9) << expr;
  }

  // Every dashboard query parses and returns data.
  int queries = 0;
  for (const auto& entry :
       fs::directory_iterator(fs::path(UTPOST_SOURCE_DIR) / "helm/utpost/dashboards")) {
    if (entry.path().extension() != ".json") continue;
    const nlohmann::json dashboard = nlohmann::json::parse(ReadAll(entry.path()));
    for (const nlohmann::json& panel : dashboard["panels"]) {
      for (const nlohmann::json& target : panel["targets"]) {
        const std::string expr = target.value("expr", "");
        if (expr.empty()) continue;
        ++queries;
        absl::StatusOr<nlohmann::json> result = prometheus.Query(expr);
        ASSERT_TRUE(result.ok()) << entry.path().filename() << " / " << panel.value("title", "")
                                 << ": " << result.status();
        EXPECT_FALSE(result->empty())
            << entry.path().filename() << " / " << panel.value("title", "") << ": " << expr
            << " returns no data";
      }
    }
  }
  EXPECT_GT(queries, 10);
}

}  // namespace
}  // namespace utpost::testutil
