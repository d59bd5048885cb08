// Structured logs: one logfmt line per event ("msg=... key=value"), so that Loki or any
// log pipeline can parse them. The logger is spdlog's default, configured once in main.
#pragma once

#include <spdlog/spdlog.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace utpost::service {

using LogFields = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// msg="..." followed by key=value pairs; values with spaces, quotes or '=' are quoted.
std::string FormatLogLine(std::string_view message, LogFields fields);

inline void Log(spdlog::level::level_enum level, std::string_view message, LogFields fields = {}) {
  if (!spdlog::should_log(level)) return;
  spdlog::log(level, "{}", FormatLogLine(message, fields));
}

// Configures the default logger: logfmt lines on stderr with an ISO 8601 UTC timestamp.
void SetUpLogging(std::string_view level);

}  // namespace utpost::service
