// utpostctl mailbox-sim as a developer runs it: the real binary against utpost
// --target=mailbox-sim.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "services/mailbox_sim/mailbox_sim_module.h"
#include "tests/testutil/shell.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {
namespace {

using ::testing::HasSubstr;

using Result = ShellResult;

class UtpostctlMailboxSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = TestStack::Start({}, {}, mailbox_sim::kMailboxSimComponent);
    ASSERT_NE(stack_, nullptr);
  }

  // `utpostctl <global> mailbox-sim <args>`.
  Result Run(const std::string& args, const std::string& global = "") {
    const std::string command =
        absl::StrCat(UTPOSTCTL_BINARY, " --config ", stack_->app().ClientConfigPath(kOslo).string(),
                     " ", global, " mailbox-sim ", args);
    return Shell(command);
  }

  mailbox_sim::SimBehaviour Behaviour(const std::string& provider) {
    auto* module = static_cast<mailbox_sim::MailboxSimModule*>(
        stack_->app().FindModule(mailbox_sim::kMailboxSimComponent));
    return module->sim->BehaviourOf(provider);
  }

  std::unique_ptr<TestStack> stack_;
};

TEST_F(UtpostctlMailboxSimTest, EachSubcommandChangesTheBehaviour) {
  Result r = Run("fail --share 0.5");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("default: fail 0.50"));
  EXPECT_EQ(Behaviour("dev").fail_share, 0.5);

  r = Run("slow --delay 2s");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Behaviour("dev").delay, absl::Seconds(2));

  r = Run("--provider dev reject --share 1 --kind invalid");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Behaviour("dev").reject_share, 1);
  EXPECT_EQ(Behaviour("dev").reject, mailbox_sim::RejectKind::kInvalid);
  EXPECT_EQ(Behaviour("dev-substantial").reject_share, 0);

  r = Run("down");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(Behaviour("dev-substantial").down);
  r = Run("up");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_FALSE(Behaviour("dev-substantial").down);
  EXPECT_EQ(Behaviour("dev-substantial").fail_share, 0);
  EXPECT_EQ(Behaviour("dev-substantial").delay, absl::ZeroDuration());

  r = Run("--provider dev reset");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Behaviour("dev").reject_share, 0);

  r = Run("status");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("provider   dev-print"));
  EXPECT_THAT(r.out, HasSubstr("letters    0 (duplicates 0"));
  r = Run("status", "-o json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\"provider_id\": \"dev-substantial\""));
}

TEST_F(UtpostctlMailboxSimTest, WrongArgumentsAreRefused) {
  Result r = Run("fail --share 1.5");
  EXPECT_NE(r.exit_code, 0) << r.out;
  r = Run("slow --delay soon");
  EXPECT_EQ(r.exit_code, 3) << r.out;
  r = Run("--provider nobody down");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("NOT_FOUND"));
  r = Run("reset");
  EXPECT_EQ(r.exit_code, 3) << r.out;
}

}  // namespace
}  // namespace utpost::testutil
