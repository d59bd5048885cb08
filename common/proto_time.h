// absl::Time <-> google.protobuf.Timestamp, in one place.
#pragma once

#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/time_util.h>

#include "absl/time/time.h"

namespace utpost::common {

inline google::protobuf::Timestamp ToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

// Exact over the whole Timestamp range (years 1 to 9999); int64 nanoseconds would overflow
// outside 1678 to 2261.
inline absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// The range google.protobuf.Timestamp allows: years 1 to 9999, nanos 0 to 999,999,999.
inline bool IsValidTimestamp(const google::protobuf::Timestamp& t) {
  return t.seconds() >= -62135596800 && t.seconds() <= 253402300799 && t.nanos() >= 0 &&
         t.nanos() <= 999999999;
}

}  // namespace utpost::common
