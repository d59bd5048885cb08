// Two ledger shards in one process, each with its own data directory (sharing the dev PKI and
// the key-encryption key): Oslo on shard a, everyone else on shard b. A call about another
// shard's organisation (letters, statistics, a watch stream, a portal's submission for it) is
// answered FAILED_PRECONDITION with the google.rpc.ErrorInfo that names the shard to call,
// and stores nothing; the C++ clients follow it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "clients/cpp/form_client.h"
#include "clients/cpp/stats_client.h"
#include "common/grpc_status.h"
#include "common/letter_id.h"
#include "common/shards.h"
#include "tests/testutil/ports.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ShardRedirectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_a_ = FreePort();
    port_b_ = FreePort();
    a_ = TestStack::Start(dir_a_.path(), Sharded("shard-a", port_a_), kLedgerOnly);
    ASSERT_NE(a_, nullptr);
    for (const char* shared : {"pki", "pki-ca", "keys"}) {
      fs::copy(dir_a_.path() / shared, dir_b_.path() / shared, fs::copy_options::recursive);
    }
    b_ = TestStack::Start(dir_b_.path(), Sharded("shard-b", port_b_), kLedgerOnly);
    ASSERT_NE(b_, nullptr);
  }

  std::function<void(app::Config&)> Sharded(std::string self, int port) const {
    return [this, self, port](app::Config& c) {
      c.shards = {{"shard-a", absl::StrCat("127.0.0.1:", port_a_), {kOslo}, false},
                  {"shard-b", absl::StrCat("127.0.0.1:", port_b_), {}, true}};
      c.shard = self;
      c.listen = absl::StrCat("127.0.0.1:", port);
    };
  }

  int port_a_ = 0;
  int port_b_ = 0;
  TempDir dir_a_;
  TempDir dir_b_;
  std::unique_ptr<TestStack> a_;
  std::unique_ptr<TestStack> b_;
};

TEST_F(ShardRedirectTest, AnotherShardsOrganisationIsSentThereAndTheClientsFollow) {
  // Raw, without a client that follows: the ErrorInfo names shard b's address.
  client::ConnectionOptions bergen_at_a = a_->Connection(kBergen);
  auto channel = client::Connect(bergen_at_a);
  ASSERT_TRUE(channel.ok());
  auto stub = v1::LetterService::NewStub(*channel);
  grpc::ClientContext context;
  v1::ListLettersRequest list;
  v1::ListLettersResponse listed;
  const absl::Status raw = common::FromGrpcStatus(stub->ListLetters(&context, list, &listed));
  EXPECT_EQ(raw.code(), absl::StatusCode::kFailedPrecondition) << raw;
  EXPECT_THAT(std::string(raw.message()), HasSubstr("served by shard shard-b"));
  EXPECT_EQ(common::WrongShardAddress(raw), absl::StrCat("127.0.0.1:", port_b_));

  // A portal's submission is about the municipality it names.
  auto portal = client::Connect(a_->Connection("NO991825827"));
  ASSERT_TRUE(portal.ok());
  auto forms = v1::FormService::NewStub(*portal);
  v1::SubmitFormRequest submit;
  submit.mutable_municipality()->set_norwegian_org_number("964338531");
  submit.set_form_type_id("barnehage");
  v1::SubmitFormResponse submitted;
  grpc::ClientContext form_context;
  const absl::Status form =
      common::FromGrpcStatus(forms->SubmitForm(&form_context, submit, &submitted));
  EXPECT_EQ(common::WrongShardAddress(form), absl::StrCat("127.0.0.1:", port_b_)) << form;

  // The clients follow: Bergen's letter, sent to shard a, is stored on shard b alone.
  client::LetterClient bergen(*channel, bergen_at_a);
  auto sent = bergen.Send(ValidLetter("BERGEN"));
  ASSERT_TRUE(sent.ok()) << sent.status();
  auto id = common::DecodeLetterId(sent->letter_id());
  ASSERT_TRUE(id.ok());
  auto on_b = b_->ledger().store->GetLetter(*id);
  ASSERT_TRUE(on_b.ok() && on_b->has_value());
  auto on_a = a_->ledger().store->GetLetter(*id);
  ASSERT_TRUE(on_a.ok());
  EXPECT_FALSE(on_a->has_value());
  // ... and keep calling shard b.
  EXPECT_TRUE(bergen.Get(sent->letter_id()).ok());
  // A watch stream opened at shard a is opened again at shard b.
  bool seen = false;
  client::LetterClient watcher(*client::Connect(bergen_at_a), bergen_at_a);
  EXPECT_TRUE(watcher
                  .Watch(0,
                         [&](const v1::LetterEvent& e) {
                           seen = e.letter_id() == sent->letter_id();
                           return false;
                         })
                  .ok());
  EXPECT_TRUE(seen);
  client::StatsClient stats(*client::Connect(bergen_at_a), bergen_at_a);
  v1::GetChannelStatsRequest share;
  share.set_from("2026-01");
  auto table = stats.GetChannelStats(share);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->total().accepted(), 1u);

  // Fetching submissions too: the stream refused by shard a is opened at shard b.
  client::FormClient forms_client(*client::Connect(bergen_at_a), bergen_at_a);
  int fetched = 0;
  const absl::Status fetch =
      forms_client.Fetch(v1::FetchSubmissionsRequest(), [&](const v1::FetchSubmissionsResponse&) {
        ++fetched;
        return true;
      });
  EXPECT_TRUE(fetch.ok()) << fetch;
  EXPECT_EQ(fetched, 0);

  // Oslo is served on shard a.
  EXPECT_TRUE(a_->Client(kOslo).Send(ValidLetter("OSLO")).ok());
}

TEST(ShardConfigTest, ALedgerWithShardsMustKnowWhichItIs) {
  TempDir dir;
  app::Config config;
  config.data_dir = dir.path();
  config.listen = "127.0.0.1:0";
  config.shards = {{"shard-a", "127.0.0.1:1", {kOslo}, false},
                   {"shard-b", "127.0.0.1:2", {}, true}};
  ASSERT_TRUE(app::Finalize(config).ok());
  app::App app(config);
  const absl::Status s = app.Init(kLedgerOnly);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("--shard"));
}

}  // namespace
}  // namespace utpost::testutil
