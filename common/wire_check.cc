#include "common/wire_check.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/field_violations.h"
#include "common/strings.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format.h"
#include "google/protobuf/wire_format_lite.h"

namespace utpost::common {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormat;
using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// UTF-8 validation that takes the text in pieces (a string may span buffers). Same rules as
// protobuf's: no overlong forms, no surrogates, nothing above U+10FFFF.
class Utf8Validator {
 public:
  bool Feed(std::string_view piece) {
    for (const char ch : piece) {
      const auto c = static_cast<unsigned char>(ch);
      if (need_ == 0) {
        if (c < 0x80) continue;
        if ((c & 0xE0) == 0xC0) {
          need_ = 1, cp_ = c & 0x1F, min_ = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
          need_ = 2, cp_ = c & 0x0F, min_ = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
          need_ = 3, cp_ = c & 0x07, min_ = 0x10000;
        } else {
          return false;
        }
        continue;
      }
      if ((c & 0xC0) != 0x80) return false;
      cp_ = (cp_ << 6) | (c & 0x3F);
      if (--need_ == 0 && (cp_ < min_ || cp_ > 0x10FFFF || (cp_ >= 0xD800 && cp_ <= 0xDFFF))) {
        return false;
      }
    }
    return true;
  }
  bool Finish() const { return need_ == 0; }

 private:
  int need_ = 0;
  char32_t cp_ = 0;
  char32_t min_ = 0;
};

// Why a walk stopped.
struct Problem {
  std::string field;  // empty when no field can be named
  std::string description;
};

class Walker {
 public:
  Walker(CodedInputStream& in, const WireLimits& limits) : in_(in), limits_(limits) {}

  // Walks fields until the current limit (or, for a group, its end tag).
  bool Walk(const Descriptor* descriptor, int depth, uint32_t end_group_field) {
    if (depth > limits_.max_depth) {
      return Fail(absl::StrCat("is nested more than ", limits_.max_depth, " levels deep"));
    }
    // Occurrences of each repeated field in this message, for field paths.
    absl::flat_hash_map<int, int64_t> occurrences;
    while (true) {
      // The end is where the limit is, not where a tag fails to read: a tag cut short at the
      // very end is consumed by the failed read and would look like a clean end.
      if (in_.BytesUntilLimit() == 0) {
        if (end_group_field != 0) return Fail("has a group that never ends");
        return true;
      }
      const uint32_t tag = ReadTag();
      if (tag == 0) return Fail("has an invalid or truncated tag");
      const uint32_t number = WireFormatLite::GetTagFieldNumber(tag);
      const WireFormatLite::WireType wire_type = WireFormatLite::GetTagWireType(tag);
      if (number == 0) return Fail("has a field numbered 0");
      if (wire_type == WireFormatLite::WIRETYPE_END_GROUP) {
        if (end_group_field == number) return true;
        return Fail("has a group end without its start");
      }
      const FieldDescriptor* field =
          descriptor == nullptr ? nullptr : descriptor->FindFieldByNumber(static_cast<int>(number));
      const bool packed = field != nullptr && field->is_packable() &&
                          wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
      if (field != nullptr && !packed && WireFormat::WireTypeForField(field) != wire_type &&
          !(field->is_packable() && WireFormat::WireTypeForFieldType(field->type()) == wire_type)) {
        field = nullptr;  // protobuf keeps a known number with the wrong wire type as unknown
      }
      if (field == nullptr) {
        if (++unknown_fields_ > limits_.max_unknown_fields) {
          return Fail(absl::StrCat("has more than ", limits_.max_unknown_fields,
                                   " fields this server does not know"));
        }
        if (!SkipValue(number, wire_type, depth)) return false;
        continue;
      }
      int64_t index = -1;
      if (field->is_repeated() && !packed) index = occurrences[static_cast<int>(number)]++;
      frames_.push_back({field, index});
      if (!WalkField(*field, wire_type, packed, depth)) return false;
      frames_.pop_back();
    }
  }

  const std::optional<Problem>& problem() const { return problem_; }

 private:
  struct Frame {
    const FieldDescriptor* field;
    int64_t index;  // -1: not an element of a repeated field
  };

  bool WalkField(const FieldDescriptor& field, WireFormatLite::WireType wire_type, bool packed,
                 int depth) {
    if (packed) {
      uint32_t length = 0;
      if (!ReadLength(length)) return false;
      const CodedInputStream::Limit limit = in_.PushLimit(static_cast<int>(length));
      int64_t elements = 0;
      switch (WireFormat::WireTypeForFieldType(field.type())) {
        case WireFormatLite::WIRETYPE_VARINT:
          for (uint64_t value; in_.BytesUntilLimit() > 0; ++elements) {
            if (!in_.ReadVarint64(&value)) return Fail("has a malformed packed value");
          }
          break;
        case WireFormatLite::WIRETYPE_FIXED32:
        case WireFormatLite::WIRETYPE_FIXED64: {
          const int size =
              WireFormat::WireTypeForFieldType(field.type()) == WireFormatLite::WIRETYPE_FIXED32
                  ? 4
                  : 8;
          if (length % size != 0) return Fail("has a malformed packed value");
          elements = length / size;
          if (!in_.Skip(static_cast<int>(length))) return Fail("is truncated");
          break;
        }
        default:
          return Fail("has a malformed packed value");
      }
      in_.PopLimit(limit);
      return Count(field, elements);
    }
    if (field.is_repeated() && !Count(field, 1)) return false;
    if (wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED &&
        field.type() == FieldDescriptor::TYPE_MESSAGE) {
      uint32_t length = 0;
      if (!ReadLength(length)) return false;
      const CodedInputStream::Limit limit = in_.PushLimit(static_cast<int>(length));
      if (!Walk(field.message_type(), depth + 1, 0)) return false;
      in_.PopLimit(limit);
      return true;
    }
    if (wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED &&
        field.type() == FieldDescriptor::TYPE_STRING &&
        field.file()->syntax() == google::protobuf::FileDescriptor::SYNTAX_PROTO3) {
      uint32_t length = 0;
      return ReadLength(length) && SkipUtf8(length);
    }
    if (wire_type == WireFormatLite::WIRETYPE_START_GROUP) {
      return Walk(field.message_type(), depth + 1, field.number());
    }
    return SkipValue(field.number(), wire_type, depth);
  }

  // Skips a value that is not walked field by field: a scalar, bytes, or an unknown group.
  bool SkipValue(uint32_t number, WireFormatLite::WireType wire_type, int depth) {
    switch (wire_type) {
      case WireFormatLite::WIRETYPE_VARINT: {
        uint64_t value;
        return in_.ReadVarint64(&value) || Fail("has a malformed value");
      }
      case WireFormatLite::WIRETYPE_FIXED32: {
        uint32_t value;
        return in_.ReadLittleEndian32(&value) || Fail("is truncated");
      }
      case WireFormatLite::WIRETYPE_FIXED64: {
        uint64_t value;
        return in_.ReadLittleEndian64(&value) || Fail("is truncated");
      }
      case WireFormatLite::WIRETYPE_LENGTH_DELIMITED: {
        uint32_t length = 0;
        if (!ReadLength(length)) return false;
        return in_.Skip(static_cast<int>(length)) || Fail("is truncated");
      }
      case WireFormatLite::WIRETYPE_START_GROUP:
        return Walk(nullptr, depth + 1, number);
      default:
        return Fail("has an invalid wire type");
    }
  }

  // Protobuf's parser takes a tag of at most 5 bytes and 32 bits, and a length of at most 5
  // bytes below 2 GiB; CodedInputStream would take up to 10 bytes and drop the high bits, so
  // both are read here by the parser's rules. false (or 0) if the bytes break them.
  bool ReadBoundedVarint(uint64_t max, uint64_t& value) {
    const int start = in_.CurrentPosition();
    return in_.ReadVarint64(&value) && in_.CurrentPosition() - start <= 5 && value <= max;
  }

  uint32_t ReadTag() {
    uint64_t tag = 0;
    return ReadBoundedVarint(std::numeric_limits<uint32_t>::max(), tag) ? static_cast<uint32_t>(tag)
                                                                        : 0;
  }

  bool ReadLength(uint32_t& length) {
    uint64_t value = 0;
    // The parser keeps a margin below INT_MAX for its own bookkeeping.
    if (!ReadBoundedVarint(std::numeric_limits<int>::max() - 16, value)) {
      return Fail("has a malformed length");
    }
    length = static_cast<uint32_t>(value);
    if (in_.BytesUntilLimit() >= 0 && length > static_cast<uint32_t>(in_.BytesUntilLimit())) {
      return Fail("is truncated: its length runs past the end of the request");
    }
    return true;
  }

  bool SkipUtf8(uint32_t length) {
    Utf8Validator utf8;
    while (length > 0) {
      const void* data = nullptr;
      int available = 0;
      if (!in_.GetDirectBufferPointer(&data, &available)) return Fail("is truncated");
      const int take = static_cast<int>(std::min<uint32_t>(length, available));
      if (!utf8.Feed(std::string_view(static_cast<const char*>(data), take))) {
        return Fail("must be valid UTF-8");
      }
      in_.Skip(take);
      length -= take;
    }
    return utf8.Finish() || Fail("must be valid UTF-8");
  }

  bool Count(const FieldDescriptor& field, int64_t elements) {
    int64_t& count = counts_[&field];
    count += elements;
    const auto it = limits_.repeated.find(&field);
    const int64_t max = it == limits_.repeated.end() ? limits_.max_repeated : it->second.max;
    if (count <= max) return true;
    const std::string_view noun = it == limits_.repeated.end() ? "elements" : it->second.noun;
    // The path of the field itself, not of its element.
    frames_.back().index = -1;
    return Fail(absl::StrCat("must have at most ", max, " ", Av(noun), " (has more)"));
  }

  // Records the problem at the current field path. Always false.
  bool Fail(std::string description) {
    std::string path;
    for (const Frame& frame : frames_) {
      if (!path.empty()) path.push_back('.');
      absl::StrAppend(&path, frame.field->name());
      if (frame.index >= 0) absl::StrAppend(&path, "[", frame.index, "]");
    }
    problem_ = Problem{std::move(path), std::move(description)};
    return false;
  }

  CodedInputStream& in_;
  const WireLimits& limits_;
  std::vector<Frame> frames_;
  absl::flat_hash_map<const FieldDescriptor*, int64_t> counts_;
  int64_t unknown_fields_ = 0;
  std::optional<Problem> problem_;
};

}  // namespace

absl::Status CheckWire(google::protobuf::io::ZeroCopyInputStream& input, int64_t size,
                       const Descriptor& descriptor, const WireLimits& limits) {
  if (size < 0 || size > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError("request is larger than 2 GiB");
  }
  CodedInputStream in(&input);
  in.SetTotalBytesLimit(std::numeric_limits<int>::max());
  in.PushLimit(static_cast<int>(size));
  Walker walker(in, limits);
  if (walker.Walk(&descriptor, 0, 0)) return absl::OkStatus();
  const Problem& problem = *walker.problem();
  if (problem.field.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request could not be parsed as ", descriptor.name(), ": it ", problem.description));
  }
  return FieldError(absl::StatusCode::kInvalidArgument, problem.field, problem.description);
}

absl::Status CheckWire(std::string_view bytes, const Descriptor& descriptor,
                       const WireLimits& limits) {
  google::protobuf::io::ArrayInputStream input(bytes.data(), static_cast<int>(bytes.size()));
  return CheckWire(input, static_cast<int64_t>(bytes.size()), descriptor, limits);
}

}  // namespace utpost::common
