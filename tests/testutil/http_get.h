// A plain HTTP/1.0 GET over loopback TCP and a reader of the Prometheus text format, for the
// tests that scrape /metrics and query Prometheus's HTTP API.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace utpost::testutil {

// GET http://127.0.0.1:<port><target>: the body of a 200 answer; UNAVAILABLE when nothing
// answers, FAILED_PRECONDITION (with the status line) for any other answer.
inline absl::StatusOr<std::string> HttpGet(int port, std::string_view target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::UnavailableError("socket");
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("nothing listens on 127.0.0.1:", port));
  }
  const std::string request = absl::StrCat("GET ", std::string(target),
                                           " HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                                           "Connection: close\r\n\r\n");
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return absl::UnavailableError("send");
  }
  std::string response;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  const size_t end_of_headers = response.find("\r\n\r\n");
  if (end_of_headers == std::string::npos) return absl::UnavailableError("no HTTP answer");
  const std::string status_line = response.substr(0, response.find("\r\n"));
  if (status_line.find(" 200 ") == std::string::npos) {
    return absl::FailedPreconditionError(absl::StrCat(status_line, "\n", response));
  }
  return response.substr(end_of_headers + 4);
}

// One sample of the Prometheus text format.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// The samples of a scrape (comments skipped). Label values are taken as written (the tests'
// values need no unescaping).
inline std::vector<Sample> ParseMetrics(std::string_view text) {
  std::vector<Sample> samples;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    Sample sample;
    const size_t brace = line.find('{');
    const size_t space = line.rfind(' ');
    if (space == std::string_view::npos) continue;
    std::string_view labels;
    if (brace != std::string_view::npos && brace < space) {
      sample.name = std::string(line.substr(0, brace));
      const size_t close = line.rfind('}');
      labels = line.substr(brace + 1, close - brace - 1);
    } else {
      sample.name = std::string(line.substr(0, space));
    }
    while (!labels.empty()) {
      const size_t eq = labels.find('=');
      if (eq == std::string_view::npos || eq + 1 >= labels.size()) break;
      const size_t quote_end = labels.find('"', eq + 2);
      if (quote_end == std::string_view::npos) break;
      sample.labels[std::string(labels.substr(0, eq))] =
          std::string(labels.substr(eq + 2, quote_end - eq - 2));
      labels.remove_prefix(std::min(labels.size(), quote_end + 2));  // past '",'
    }
    if (!absl::SimpleAtod(std::string(line.substr(space + 1)), &sample.value)) continue;
    samples.push_back(std::move(sample));
  }
  return samples;
}

// The sum of the samples named `name` whose labels include `labels`; nullopt if none.
inline std::optional<double> Find(const std::vector<Sample>& samples, std::string_view name,
                                  const std::map<std::string, std::string>& labels = {}) {
  std::optional<double> sum;
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      match = match && it != s.labels.end() && it->second == v;
    }
    if (match) sum = sum.value_or(0) + s.value;
  }
  return sum;
}

}  // namespace utpost::testutil
