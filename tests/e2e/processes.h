// Helpers for tests that run utpost as several processes on one data directory: free
// ports, a forked `utpost` process with its log, and connecting as the dev PKI's Oslo.
// UTPOST_BINARY must name the utpost executable.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "crypto/dev_pki.h"
#include "tests/testutil/ports.h"
#include "tests/testutil/test_stack.h"

namespace utpost::testutil {

namespace e2e_fs = std::filesystem;

// One `utpost` process on a shared data directory.
class Process {
 public:
  Process(std::string name, std::vector<std::string> args, e2e_fs::path log)
      : name_(std::move(name)), args_(std::move(args)), log_(std::move(log)) {}
  ~Process() {
    if (pid_ > 0) Kill(SIGKILL);
  }

  void Start() {
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> argv = {const_cast<char*>(UTPOST_BINARY)};
      for (auto& arg : args_) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(UTPOST_BINARY, argv.data());
      _exit(127);
    }
  }

  int Kill(int signal) {
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  bool Running() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::vector<std::string> args_;
  e2e_fs::path log_;
  pid_t pid_ = -1;
};

inline std::string Log(const e2e_fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline client::ConnectionOptions OsloAt(const e2e_fs::path& data_dir, int port) {
  client::ConnectionOptions options;
  options.address = absl::StrCat("127.0.0.1:", port);
  const e2e_fs::path dir = crypto::DevClientDir(data_dir / "pki", kOslo);
  options.ca = dir / "ca.pem";
  options.cert = dir / "client.pem";
  options.key = dir / "client.key";
  options.wait_for_ready = true;
  return options;
}

// Waits until something serves TLS on `port` (at most ~30 s).
inline bool WaitServing(const e2e_fs::path& data_dir, int port) {
  for (int i = 0; i < 300; ++i) {
    if (e2e_fs::exists(crypto::DevClientDir(data_dir / "pki", kOslo) / "client.pem")) {
      auto channel = client::Connect(OsloAt(data_dir, port));
      if (channel.ok() && (*channel)->WaitForConnected(std::chrono::system_clock::now() +
                                                       std::chrono::milliseconds(100))) {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// Polls `letters` until every letter in `ids` satisfies `done`, or `limit` passes. Returns the
// letters that did, as last read; those that did not stay in `ids`. A failed Get is a test
// failure (and ends the wait).
inline std::map<std::string, v1::GetLetterResponse> AwaitLetters(
    client::LetterClient& letters, std::set<std::string>& ids,
    const std::function<bool(const v1::GetLetterResponse&)>& done, absl::Duration limit,
    absl::Duration poll = absl::Milliseconds(200)) {
  std::map<std::string, v1::GetLetterResponse> finished;
  const absl::Time deadline = absl::Now() + limit;
  while (!ids.empty() && absl::Now() < deadline) {
    for (auto it = ids.begin(); it != ids.end();) {
      auto got = letters.Get(*it);
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok()) return finished;
      if (done(*got)) {
        finished[*it] = *std::move(got);
        it = ids.erase(it);
      } else {
        ++it;
      }
    }
    if (!ids.empty()) std::this_thread::sleep_for(absl::ToChronoNanoseconds(poll));
  }
  return finished;
}

}  // namespace utpost::testutil
