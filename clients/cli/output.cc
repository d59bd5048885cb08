#include "clients/cli/output.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "common/field_violations.h"

namespace utpost::cli {

std::string ReasonName(v1::StatusReason reason) {
  std::string name = v1::StatusReason_Name(reason);
  if (name.rfind("STATUS_REASON_", 0) == 0) name = name.substr(14);
  return absl::AsciiStrToLower(name);
}

std::string Amount(const v1::Money& money) {
  const int64_t m = money.minor_units();
  return absl::StrFormat("%s%d.%02d", m < 0 ? "-" : "", std::abs(m) / 100, std::abs(m) % 100);
}

int Report(const absl::Status& status) {
  const std::string code = absl::StatusCodeToString(status.code());
  auto bad = common::GetBadRequest(status);
  if (bad && bad->field_violations_size() == 1) {
    const auto& v = bad->field_violations(0);
    std::fprintf(stderr, "utpostctl: %s: %s: %s\n", code.c_str(), v.field().c_str(),
                 v.description().c_str());
  } else if (bad) {
    std::fprintf(stderr, "utpostctl: %s: %d fields are wrong:\n", code.c_str(),
                 bad->field_violations_size());
    for (const auto& v : bad->field_violations()) {
      std::fprintf(stderr, "  %s: %s\n", v.field().c_str(), v.description().c_str());
    }
    // Violations beyond what fits in a response are counted at the end of the message.
    const std::string message(status.message());
    if (const size_t more = message.rfind("; and "); more != std::string::npos) {
      std::fprintf(stderr, "  %s\n", message.substr(more + 2).c_str());
    }
  } else {
    std::fprintf(stderr, "utpostctl: %s: %s\n", code.c_str(),
                 std::string(status.message()).c_str());
  }
  return bad ? 3 : 1;
}

std::string NewIdempotencyKey() {
  std::random_device rd;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string key = "utpostctl-";
  for (int i = 0; i < 32; ++i) key.push_back("0123456789abcdef"[hex(rd)]);
  return key;
}

void PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) json = "{}";
  std::cout << json;
  if (json.empty() || json.back() != '\n') std::cout << '\n';
}

}  // namespace utpost::cli
