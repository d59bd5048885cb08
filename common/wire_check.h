// A check of a protobuf message's wire form before it is parsed, for requests from callers
// the server does not trust.
//
// Parsing builds objects: a 50 MiB SendLetterRequest of 25 million empty documents, or of 25
// million unknown fields, would cost gigabytes before any validation ran; and when parsing
// fails (invalid UTF-8 in a string, a truncated length, groups nested too deep) protobuf says
// only "failed". CheckWire walks the bytes without building anything, following the
// message's descriptor, and answers INVALID_ARGUMENT with a google.rpc.BadRequest naming the
// field ("documents[2].filename") when the bytes would not parse or would amplify: a repeated
// field with more elements than its limit, too many unknown fields, nesting too deep.
//
// A message CheckWire accepts parses (the fuzz harness fuzz/wire_check_fuzzer.cc checks that
// property); it is stricter than protobuf only where the limits below say so.
// Pure and thread-safe; memory use is constant, whatever the input.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/zero_copy_stream.h"

namespace utpost::common {

struct WireLimits {
  // Nested messages and groups, counted from the top-level message (which is depth 0).
  int max_depth = 16;
  // Elements of any one repeated field, summed over the whole request, unless `repeated`
  // names the field.
  int64_t max_repeated = 1000;
  // Per-field limits that replace max_repeated, with the noun the error uses
  // ("must have at most 100 documents (has 250)").
  struct Repeated {
    int64_t max = 0;
    std::string_view noun = "elements";
  };
  absl::flat_hash_map<const google::protobuf::FieldDescriptor*, Repeated> repeated;
  // Fields the descriptor does not know, anywhere in the request. They are kept for forward
  // compatibility, and each costs an object when parsed.
  int64_t max_unknown_fields = 1000;
};

// Checks `size` bytes from `input` as the wire form of a `descriptor` message.
// OK, or INVALID_ARGUMENT naming the field where one can be named.
[[nodiscard]] absl::Status CheckWire(google::protobuf::io::ZeroCopyInputStream& input, int64_t size,
                                     const google::protobuf::Descriptor& descriptor,
                                     const WireLimits& limits);

// The same for bytes in memory.
[[nodiscard]] absl::Status CheckWire(std::string_view bytes,
                                     const google::protobuf::Descriptor& descriptor,
                                     const WireLimits& limits);

}  // namespace utpost::common
